"""BENCHMARKS.md states what the stored results support: ``benchmarks/peers.py --summarize``,
run on the stored result files, prints exactly the tables BENCHMARKS.md shows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
RUNS = [
    (["--set", "sst2", "--set", "counterfact", "-n", "20"], RESULTS),
    (["--set", "sst2-4shot", "-n", "5", "--methods",
      "whyllm lime,whyllm kernelshap,captum Lime,captum KernelShap"], RESULTS),
    (["--set", "sst2-4shot", "-n", "5", "--methods",
      "whyllm kernelshap,whyllm-noprefix kernelshap,whyllm lime,whyllm-noprefix lime"],
     RESULTS / "prefix-ablation"),
]


@pytest.mark.skipif(not (SHARED_DATA / "sst2").exists(), reason="needs ../shared/data (SST-2, ROME facts)")
@pytest.mark.parametrize(("args", "stored"), RUNS, ids=["sst2+facts", "4shot", "prefix-ablation"])
def test_summarize_reproduces_the_tables_in_benchmarks_md(args, stored, tmp_path):
    for f in stored.glob("*.jsonl"):  # --summarize rewrites <set>.json next to the runs: use a copy
        shutil.copy(f, tmp_path / f.name)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peers.py"), *args, "--summarize",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ") and "(" in ln]
    assert len(rows) >= 4
    for line in rows + [ln for ln in out.stdout.splitlines() if ln.startswith("### ")]:
        assert line in doc, f"BENCHMARKS.md does not show: {line}"


@pytest.mark.parametrize(("script", "args"), [("focus_longdoc.py", []), ("focus_longdoc.py", ["--confident"]),
                                             ("attribot.py", []), ("cite.py", []), ("cite_knockout.py", [])],
                         ids=["focus-first-set", "focus-confident", "attribot", "cite", "cite-knockout"])
def test_focus_attribot_and_cite_tables_in_benchmarks_md_come_from_the_stored_rows(script, args):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--summarize"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    doc = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8").replace("**", "")
    lines = out.stdout.splitlines()
    headers = ("| method", "| path", "| system", "| variant", "| prompt")
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith(headers)]
    assert len(rows) >= 3
    for line in rows + [ln for ln in lines if ln.startswith(("### ", "- ContextCite "))]:
        assert line in doc, f"BENCHMARKS.md does not show: {line}"


DOC = ROOT / "BENCHMARKS.md"
SUMMARIZED = [("anchors.py", []), ("anchors.py", ["--four-shot"]), ("answers.py", []), ("celltype.py", []),
              ("concepts.py", []), ("llm_icl_tabular.py", []), ("llm_icl_text.py", []),
              ("longcontext.py", []), ("narration.py", []), ("neurons.py", []),
              ("neurons.py", ["--set", "sst2-4shot"]), ("proxy.py", []), ("throughput.py", [])]


def table_rows(text: str) -> list[str]:
    """The data rows of the markdown tables in ``text``, bold marks dropped: no header separators, no
    continuation rows (an empty first cell)."""
    rows = [ln.replace("**", "") for ln in text.splitlines() if ln.startswith("| ")]
    return [r for r in rows if not re.match(r"^\|[\s:|-]*$", r) and not re.match(r"^\|\s+\|", r)]


@pytest.mark.parametrize(("script", "args"), SUMMARIZED, ids=[" ".join([s, *a]) for s, a in SUMMARIZED])
def test_every_summarized_table_row_is_in_benchmarks_md(script, args):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--summarize"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = table_rows(out.stdout)
    assert len(rows) >= 2
    doc = DOC.read_text(encoding="utf-8").replace("**", "")
    missing = [r for r in rows if r not in doc]
    assert missing == [], f"BENCHMARKS.md does not show {len(missing)} rows, first: {missing[:1]}"


@pytest.mark.parametrize("stored", ["estimators-coverage.md", "estimators-error.md", "estimators-auto.md",
                                    "longcontext-summary.md", "proxy-summary.md"])
def test_stored_result_tables_are_in_benchmarks_md(stored):
    rows = table_rows((RESULTS / stored).read_text(encoding="utf-8"))
    assert len(rows) >= 2
    doc = DOC.read_text(encoding="utf-8").replace("**", "")
    assert [r for r in rows if r not in doc] == []


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def sections(doc: str) -> dict[str, str]:
    """Anchor -> text of every ``###`` section of BENCHMARKS.md."""
    out, current = {}, None
    for line in doc.splitlines():
        if line.startswith("### "):
            current = slug(line[4:])
            out[current] = ""
        elif line.startswith("## "):
            current = None
        elif current is not None:
            out[current] += line + "\n"
    return out


def number(cell: str) -> float:
    return float(re.search(r"[-+]?\d+(?:\.\d+)?", cell).group(0))


def summary_rows(doc: str) -> list[list[str]]:
    block = doc.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in table_rows(block) if not r.startswith("| question ")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows]


def check_summary(doc: str) -> list[str]:
    """What is wrong with the summary table: a number not in its section, a ratio that does not
    follow from its row, a link to no section."""
    found = sections(doc.replace("**", ""))
    problems = []
    rows = summary_rows(doc)
    for question, _against, peer, ours, ratio, link in rows:
        anchor = re.search(r"\(#([^)]+)\)", link).group(1)
        if anchor not in found:
            problems.append(f"{question}: no section #{anchor}")
            continue
        for cell in (peer, ours):
            shown = cell.removesuffix(" s")
            if shown not in ("–", "") and shown not in found[anchor]:
                problems.append(f"{question}: {cell!r} is not in #{anchor}")
        m = re.match(r"^([\d.]+) \((peer|whyllm) ÷ (peer|whyllm)\)$", ratio)
        if m:
            a, b = (number(peer if m.group(k) == "peer" else ours) for k in (2, 3))
            decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
            if abs(a / b - float(m.group(1))) > 0.5 * 10 ** -decimals + 0.02 * a / b:
                problems.append(f"{question}: ratio {ratio} but {a} / {b} = {a / b:.3f}")
    return problems if len(rows) >= 15 else [f"only {len(rows)} summary rows"]


def test_the_summary_table_comes_from_the_sections():
    assert check_summary(DOC.read_text(encoding="utf-8")) == []


def test_the_summary_check_catches_a_wrong_number_and_a_wrong_ratio():
    doc = DOC.read_text(encoding="utf-8")
    assert check_summary(doc.replace("| Captum KernelShap | 80.2 s | 11.6 s | 6.9 (peer ÷ whyllm) |",
                                     "| Captum KernelShap | 81.2 s | 11.6 s | 6.9 (peer ÷ whyllm) |"))
    assert check_summary(doc.replace("| 0.779 | 0.851 | 1.09 (whyllm ÷ peer) |",
                                     "| 0.779 | 0.851 | 1.19 (whyllm ÷ peer) |"))


def test_benchmarks_md_opens_with_the_summary_and_has_no_shell_transcripts():
    doc = DOC.read_text(encoding="utf-8")
    assert doc.index("## Summary") < doc.index("\n## How fast")
    assert len(doc[:doc.index("\n## How fast")].splitlines()) <= 60  # about one screen
    assert "```" not in doc
    assert "(issue " not in doc  # ordered by question, not by issue
