"""BENCHMARKS.md states what the stored results support: ``benchmarks/peers.py --summarize``,
run on the stored result files, prints exactly the tables BENCHMARKS.md shows."""

from __future__ import annotations

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
