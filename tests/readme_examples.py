"""Read the examples of README.md and the documentation's guides so that tests can run them: Python
blocks written as doctests (``>>>`` lines and the output they print) and command-line blocks
(``$ whyllm ...`` lines and the output after each), with an output check that compares numbers
within a stated tolerance.

Tolerance: an integer must match exactly; a decimal number shown with d decimals matches when
``|got - shown| <= 0.002 + 0.001 * |shown|`` (the README rounds; float32 on another CPU moves the
fifth digit). A number followed by `` s`` is a duration and is not compared. ``...`` matches
anything, as in doctest's ELLIPSIS.
"""

from __future__ import annotations

import codecs
import doctest
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
ABS_TOL, REL_TOL = 0.002, 0.001


@dataclass(frozen=True)
class Block:
    lang: str  # "python" or "console"
    text: str
    line: int  # 1-based line of the first line of the block's text
    path: Path = README

    @property
    def where(self) -> str:
        """``file:line`` of the block, the file relative to the project root."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path = README) -> list[Block]:
    out, lines, i = [], path.read_text(encoding="utf-8").splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if m:
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out.append(Block(m.group(1) or "console", "\n".join(lines[i + 1:j]) + "\n", i + 2, path))
            i = j
        i += 1
    return out


def _pattern(want: str) -> tuple[re.Pattern, list[str]]:
    """A regex for ``want`` (numbers captured, ``...`` a wildcard, whitespace runs flexible)."""
    parts, numbers = [], []
    for tok in re.split(rf"(\.\.\.|{NUMBER}(?:\s+s\b)?|\s+)", want.strip()):
        if not tok:
            continue
        if tok == "...":
            parts.append(r".*?")
        elif tok.isspace():
            parts.append(r"\s+")
        elif re.fullmatch(rf"{NUMBER}\s+s\b", tok):  # a duration: any number
            parts.append(rf"{NUMBER}\s+s\b")
        elif re.fullmatch(NUMBER, tok):
            parts.append(f"({NUMBER})")
            numbers.append(tok)
        else:
            parts.append(re.escape(tok))
    return re.compile("".join(parts), re.DOTALL), numbers


def close(shown: str, got: str) -> bool:
    if re.fullmatch(r"[-+]?\d+", shown):
        return re.fullmatch(r"[-+]?\d+", got) is not None and int(shown) == int(got)
    a, b = float(shown), float(got)
    return abs(a - b) <= ABS_TOL + REL_TOL * abs(a)


def matches(want: str, got: str) -> bool:
    """Whether ``got`` shows what ``want`` shows, numbers within the tolerance."""
    pattern, numbers = _pattern(want)
    m = pattern.fullmatch(got.strip())
    return m is not None and all(close(s, g) for s, g in zip(numbers, m.groups()))


class TolerantChecker(doctest.OutputChecker):
    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        return matches(want, got) if want.strip() else not got.strip()


class RecordingRunner(doctest.DocTestRunner):
    """A doctest runner that also hands each example's output to ``record(path, line, source, got)``."""

    def __init__(self, record, block: Block, **kw) -> None:
        super().__init__(**kw)
        self.record, self.block = record, block

    def report_success(self, out, test, example, got):
        self.record(self.block.path, self.block.line + example.lineno, example.source, got)
        super().report_success(out, test, example, got)

    def report_failure(self, out, test, example, got):
        self.record(self.block.path, self.block.line + example.lineno, example.source, got)
        super().report_failure(out, test, example, got)


def run_python(block: Block, globs: dict, record=None) -> tuple[int, str]:
    """Run one Python block as a doctest in ``globs``: (failures, report)."""
    test = doctest.DocTestParser().get_doctest(block.text, globs, block.where, str(block.path),
                                               block.line - 1)
    if not test.examples:
        raise AssertionError(f"{block.where}: a Python block without >>> examples is not tested")
    report: list[str] = []
    kw = {"checker": TolerantChecker(), "optionflags": doctest.ELLIPSIS}
    runner = RecordingRunner(record, block, **kw) if record else doctest.DocTestRunner(**kw)
    runner.run(test, out=report.append, clear_globs=False)
    globs.update(test.globs)  # a DocTest runs in a copy: later blocks see what this one defined
    return runner.failures, "".join(report)


@dataclass(frozen=True)
class Command:
    argv: list[str]
    want: str
    line: int


def _ansi_c(arg: str) -> str:
    """bash's $'...' quoting (\\n, \\t, ...), as the examples' shell lines use it."""
    def unquote(m: re.Match) -> str:
        return shlex.quote(codecs.decode(m.group(1), "unicode_escape"))

    return re.sub(r"\$'((?:[^'\\]|\\.)*)'", unquote, arg)


def commands(block: Block) -> list[Command]:
    """The ``$ whyllm ...`` lines of a console block (``\\`` continues a line), with the output
    shown after each; a ``# comment`` after the command is dropped."""
    out: list[Command] = []
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        start, cmd = i, lines[i][2:]
        while cmd.rstrip().endswith("\\"):
            i += 1
            cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
        i += 1
        want = []
        while i < len(lines) and not lines[i].startswith("$ "):
            want.append(lines[i])
            i += 1
        argv = shlex.split(_ansi_c(cmd), comments=True)
        if argv[:1] != ["whyllm"]:
            raise AssertionError(f"{block.path.relative_to(ROOT)}:{block.line + start}: only whyllm commands "
                                 f"are run: {cmd}")
        out.append(Command(argv[1:], "\n".join(want).strip(), block.line + start))
    return out
