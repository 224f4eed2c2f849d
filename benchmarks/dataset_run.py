"""``whyllm run`` over SST-2 dev: 1 and 2 local workers, Ray with 2 workers, and resuming a kill (issue 19).

    .venv/bin/python benchmarks/dataset_run.py [-n 300] [--budget 64] [--systems w1,w2,ray2,resume]

Writes the first ``n`` SST-2 dev sentences (the 4-shot template of ``prompts.four_shot_template``;
its shots come from the end of the file) to a CSV and explains each with KernelSHAP at ``budget``
through the CLI, exactly as a user would type it, once per way of running it:

- ``w1``: ``--workers 1 --threads 1`` (one process, one torch thread);
- ``w2``: ``--workers 2 --threads 2`` (two processes, each with its own model and one thread);
- ``ray2``: ``--ray --workers 2 --threads 2`` (a local Ray cluster started for the run, two actors);
- ``resume``: ``w2`` killed with SIGKILL (the whole process group) at half of ``w2``'s wall time,
  then run again.

One thread per process in every way, so that each computes the same floats (a different thread count
changes the order of a GEMM's sums, and bfloat16 rounding makes that visible). Each system's result
is kept in ``--work`` (``<system>.json``), so a later call with ``--systems`` adds the missing ones
and compares them all: ``taskset -c 0 ... --systems w1`` can run while the other core is busy.

Every run has its own empty store and its own empty score cache (``WHYLLM_SCORE_CACHE``), so no run
reads another's scores. It prints examples per second (wall time of the whole command, model loading
included, and the rate of the explaining loop alone), the scaling ratio against ``w1``, whether every
run's values equal ``w1``'s, what the resumed run recomputed, and the summary's top features by
label; then it serves the ``w1`` store with ``whyllm serve`` and saves screenshots of the list and
one example page (headless Chromium) to ``docs/viewer-list.png`` and ``docs/viewer-example.png``.
Results go to ``benchmarks/results/dataset_run.jsonl``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import screenshot
from prompts import _sst_rows, four_shot_template

ROOT = Path(__file__).resolve().parents[1]
WHYLLM = [str(ROOT / ".venv" / "bin" / "whyllm")]
OUT = ROOT / "benchmarks" / "results" / "dataset_run.jsonl"
# one torch thread per worker process everywhere, so that every way computes the same floats
SYSTEMS = {"w1": ["--workers", "1", "--threads", "1"], "w2": ["--workers", "2", "--threads", "2"],
           "ray2": ["--ray", "--workers", "2", "--threads", "2"]}


def write_dataset(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text", "label"])
        for i, (s, y) in enumerate(_sst_rows()[:n]):
            w.writerow([f"sst2-{i}", s, "positive" if y else "negative"])


def command(data: Path, store: Path, args, extra: list[str]) -> list[str]:
    return [*WHYLLM, "run", str(data), "--store", str(store), "--template", four_shot_template(),
            "--target", " positive", "--against", " negative", "--label-column", "label",
            "--id-column", "id", "--method", "kernelshap", "--budget", str(args.budget), "--seed", "0",
            "--dtype", args.dtype, "--quiet", *extra]


def run(cmd: list[str], cache: Path, kill_after: float | None = None) -> tuple[float, str, bool]:
    """Wall seconds, stdout and whether it was killed."""
    env = {**os.environ, "WHYLLM_SCORE_CACHE": str(cache)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and any worker it started
        proc.communicate()
        return time.perf_counter() - t, "", True
    if proc.returncode not in (0, 1):  # 1: some examples failed (recorded in the store)
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}): {err.strip()[-400:]}")
    return time.perf_counter() - t, (out.strip() or err.strip()), False


def loop_rate(line: str) -> float | None:
    """The CLI's own rate: '300 computed ...; 0.52 per second' (the explaining loop, no model load)."""
    m = re.search(r"([\d.]+) per second", line)
    return float(m.group(1)) if m else None


def values(store: Path) -> dict[str, list[float]]:
    import sqlite3

    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT example, explanation FROM results WHERE status = 'ok'").fetchall()
    return {ex: json.loads(e)["values"] for ex, e in rows}


def top3(v: list[float]) -> set[int]:
    return set(sorted(range(len(v)), key=lambda i: -abs(v[i]))[:3])


def count(store: Path) -> tuple[int, int]:
    """(rows, distinct keys): equal when the store holds no duplicate."""
    import sqlite3

    if not store.exists():
        return 0, 0
    with sqlite3.connect(store) as db:
        sql = "SELECT COUNT(*), COUNT(DISTINCT example || method || config) FROM results"
        return db.execute(sql).fetchone()


def top_by_label(store: Path, work: Path, k: int = 10, min_count: int = 4) -> dict[str, list]:
    """Per label, the words (lower-cased) that push most toward that label's side of the contrast:
    mean value over the label's examples, at least ``min_count`` of them; also writes the
    ``whyllm summary`` JSON and HTML report of the store next to it."""
    import sqlite3
    from collections import defaultdict

    subprocess.run([*WHYLLM, "summary", str(store), "--json", str(work / "summary.json"), "--html",
                    str(work / "summary.html"), "--quiet"], check=True, capture_output=True)
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    with sqlite3.connect(store) as db:
        for label, e in db.execute("SELECT label, explanation FROM results WHERE status = 'ok'"):
            e = json.loads(e)
            for f, v in zip(e["features"], e["values"]):
                values[label, f["text"].lower()].append(v)
    out = {}
    for label, sign in (("positive", 1), ("negative", -1)):
        rows = [(w, sum(v) / len(v), len(v)) for (lab, w), v in values.items()
                if lab == label and len(v) >= min_count]
        rows.sort(key=lambda r: -sign * r[1])
        out[label] = [(w, round(m, 3), c) for w, m, c in rows[:k]]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shoot_viewer(store: Path, example: str) -> None:
    port = free_port()
    server = subprocess.Popen([*WHYLLM, "serve", str(store), "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        screenshot(f"{base}/?label=negative", ROOT / "docs" / "viewer-list.png", size=(1300, 900))
        screenshot(f"{base}/example/{example}", ROOT / "docs" / "viewer-example.png", size=(1300, 1100))
        screenshot(f"{base}/summary", ROOT / "docs" / "viewer-summary.png", size=(1300, 1400))
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--dtype", default="auto", help="auto (bfloat16 where the CPU has it), float32, ...")
    ap.add_argument("--systems", default="w1,w2,ray2,resume")
    ap.add_argument("--work", type=Path, default=None, help="keep stores here (default: a temporary folder)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="whyllm-run-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"sst2-{args.n}.csv"
    write_dataset(data, args.n)
    results: dict[str, dict] = {}
    wanted = args.systems.split(",")
    for name in ["w1", "w2", "ray2", "resume"]:
        if (work / f"{name}.json").exists():
            results[name] = json.loads((work / f"{name}.json").read_text())
    for name in [s for s in wanted if s in SYSTEMS and s not in results]:
        store, cache = work / f"{name}.db", work / f"{name}.scores.sqlite"
        wall, line, _ = run(command(data, store, args, SYSTEMS[name]), cache)
        rows, keys = count(store)
        results[name] = {"system": name, "wall_s": round(wall, 1), "examples_per_s": round(args.n / wall, 3),
                         "loop_examples_per_s": loop_rate(line), "rows": rows, "distinct": keys, "line": line}
        (work / f"{name}.json").write_text(json.dumps(results[name]))
        print(json.dumps(results[name]), flush=True)
    reference = values(work / "w1.db") if "w1" in results else None
    if "resume" in wanted and "resume" not in results and "w2" in results:
        store, cache = work / "resume.db", work / "resume.scores.sqlite"
        cmd = command(data, store, args, SYSTEMS["w2"])
        killed_at, _, killed = run(cmd, cache, kill_after=results["w2"]["wall_s"] / 2)
        before, _ = count(store)
        wall, line, _ = run(cmd, cache)
        rows, keys = count(store)
        results["resume"] = {"system": "resume", "killed": killed, "killed_at_s": round(killed_at, 1),
                             "rows_at_kill": before, "rerun_wall_s": round(wall, 1), "rows": rows,
                             "distinct": keys, "line": line,
                             "rerun_share_of_full": round(wall / results["w2"]["wall_s"], 3),
                             "missing_share": round(1 - before / args.n, 3)}
        (work / "resume.json").write_text(json.dumps(results["resume"]))
        print(json.dumps(results["resume"]), flush=True)
    for name, r in results.items():
        if reference is not None and name != "w1":
            got = values(work / f"{name}.db")
            r["identical_to_w1"] = got == reference
            r["top3_same_share"] = round(sum(top3(reference[k]) == top3(got.get(k, [])) for k in reference)
                                         / max(len(reference), 1), 3)
            diffs = [abs(a - b) for k in reference for a, b in zip(reference[k], got.get(k, []))]
            r["max_abs_diff"] = max(diffs, default=None)
    if "w1" in results and "w2" in results and "ray2" in results:
        results["w1"]["top_by_label"] = top_by_label(work / "w1.db", work)
        shoot_viewer(work / "w1.db", "sst2-1")
    for name, r in results.items():
        if name in ("w2", "ray2") and "w1" in results:
            r["scaling_vs_w1"] = round(results["w1"]["wall_s"] / r["wall_s"], 2)
            loop = results["w1"]["loop_examples_per_s"]
            r["loop_scaling_vs_w1"] = round(r["loop_examples_per_s"] / loop, 2)
    if all(k in results for k in ("w1", "w2", "ray2", "resume")):
        with OUT.open("a", encoding="utf-8") as fh:
            for r in results.values():
                fh.write(json.dumps({"n": args.n, "budget": args.budget, **r}) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
