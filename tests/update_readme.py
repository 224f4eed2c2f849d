"""Bring the example outputs of README.md and the guides up to date with what they print now.

    WHYLLM_README_RECORD=/tmp/readme.jsonl .venv/bin/python -m pytest tests/docs/test_examples.py
    .venv/bin/python -m tests.update_readme /tmp/readme.jsonl

Each shown output that no longer matches is rewritten: where only numbers moved, each number is
replaced by the new one with the decimals the README shows (``...`` and durations are kept);
where the text itself changed, the whole output is replaced and listed, to be read by a person.
A developer's tool: the test suite does not run it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tests.readme_examples import NUMBER, ROOT, _pattern, matches


def loose(want: str) -> re.Pattern:
    """``want``'s pattern with every number a wildcard (the shown values are not compared)."""
    pattern, _ = _pattern(want)
    return pattern


def renumber(want: str, got: str) -> str | None:
    """``want`` with its numbers replaced by ``got``'s, or None if the text around them changed."""
    m = loose(want).fullmatch(got.strip())
    if m is None:
        return None
    new = iter(m.groups())
    out, at = [], 0
    for tok in re.finditer(rf"\.\.\.|{NUMBER}(?:\s+s\b)?", want):
        text = tok.group(0)
        out.append(want[at:tok.start()])
        at = tok.end()
        if text == "..." or not re.fullmatch(NUMBER, text):  # a wildcard, or a duration (not compared)
            out.append(text)
            continue
        value = next(new)
        decimals = len(text.split(".")[1]) if "." in text and "e" not in text.lower() else None
        if decimals is None:
            out.append(value)
        else:
            sign = "+" if text.startswith("+") else ""
            out.append(f"{float(value):{sign}.{decimals}f}")
    out.append(want[at:])
    return "".join(out)


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        records = [json.loads(x) for x in f]
    changed = 0
    for name in sorted({r["file"] for r in records}):
        changed += update(ROOT / name, [r for r in records if r["file"] == name])
    print(f"{changed} outputs rewritten")
    return 0


def update(doc: Path, records: list[dict]) -> int:
    """Rewrite the outputs of ``doc`` that its ``records`` say moved; how many were rewritten."""
    lines = doc.read_text(encoding="utf-8").split("\n")
    changed = 0
    for r in sorted(records, key=lambda r: -r["line"]):
        # the shown output starts after the source lines (``>>>``/``...`` or ``$`` continuation)
        i = r["line"] - 1
        if lines[i].startswith(">>> "):  # a doctest: its source's lines, then its output
            i += r["source"].rstrip("\n").count("\n") + 1
        else:  # a shell command, continued while a line ends with a backslash
            while lines[i].rstrip().endswith("\\"):
                i += 1
            i += 1
        j = i
        while j < len(lines) and lines[j] and not lines[j].startswith((">>> ", "$ ", "```")):
            j += 1
        want = "\n".join(lines[i:j])
        got = r["got"].rstrip("\n")
        if not want.strip() or matches(want, got):
            continue
        new = renumber(want, got)
        if new is None:
            print(f"{doc.relative_to(ROOT)}:{i + 1}: text changed, replaced whole:\n{got}\n")
            new = got
        lines[i:j] = new.split("\n")
        changed += 1
    doc.write_text("\n".join(lines), encoding="utf-8")
    return changed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
