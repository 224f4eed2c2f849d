"""Command line: one module per command (``explain``, ``evaluate``, ``neurons``, ``steer``,
``screen``, ``celltype``), the options they share in :mod:`whyllm.cli.common`.

User errors print one line to stderr and exit with status 2 (no traceback); scores computed before
an error or an interrupt stay in the score cache, so running the command again resumes.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from whyllm.cli.common import parse_options, quiet_libraries, read_text_file
from whyllm.errors import WhyllmError

EXIT_USAGE = 2
#: command name -> module under whyllm.cli with ``add_parser(sub)`` and ``run(args)``
COMMANDS = {"explain": "explain", "evaluate": "evaluate", "neurons": "neurons", "steer": "steer",
            "screen": "screen", "celltype": "celltype", "cite": "cite", "run": "run", "export": "export",
            "summary": "summary", "serve": "serve", "narrate": "narrate"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whyllm", description="Why did the language model say that?")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        importlib.import_module(f"whyllm.cli.{module}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quiet:
        quiet_libraries()
    try:
        return importlib.import_module(f"whyllm.cli.{COMMANDS[args.command]}").run(args)
    except WhyllmError as exc:
        print(f"whyllm: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("whyllm: interrupted; scores computed so far are kept in the cache", file=sys.stderr)
        return 130


__all__ = ["EXIT_USAGE", "build_parser", "main", "parse_options", "read_text_file"]
