"""MkDocs hook: the command-line reference is generated from ``whyllm <command> --help`` at build
time, so it cannot drift from the parser."""

from __future__ import annotations

import contextlib
import io

MARKER = "<!-- whyllm-cli-help -->"


def help_text(argv: list[str]) -> str:
    from whyllm.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*argv, "--help"])
    return out.getvalue().rstrip()


def cli_reference() -> str:
    from whyllm.cli import COMMANDS

    parts = ["## whyllm\n", "```text\n" + help_text([]) + "\n```\n"]
    for command in COMMANDS:
        parts += [f"## whyllm {command}\n", "```text\n" + help_text([command]) + "\n```\n"]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
