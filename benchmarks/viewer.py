"""The run viewer on a store of 10,000 explanations: start-up time and page latency (issue 19).

    .venv/bin/python benchmarks/viewer.py [--rows 10000]

Builds (once) ``benchmarks/results/viewer-10k.db``: 10,000 synthetic reviews of 8-20 words drawn
with seed 0, each explained by KernelSHAP (budget 32) on an exact additive toy model through
``whyllm.runs.run_dataset`` (the store's rows are real Explanations, faithfulness included). Then
it starts ``whyllm serve``'s server on it and times, over 20 requests each after one warm-up: the
list, a filtered list (label, method, AOPC range and a text search), an example page and the
summary page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.run_models import WEIGHTS, additive
from whyllm.runs import Store, build_config, read_dataset, run_dataset
from whyllm.runs.viewer import make_server

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "benchmarks" / "results" / "viewer-10k.db"
WORDS = [*WEIGHTS, "the", "movie", "plot", "cast", "score", "ending", "story", "was", "and", "a"]


def build(rows: int) -> None:
    rng = np.random.default_rng(0)
    data = STORE.with_suffix(".jsonl")
    with data.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            words = rng.choice(WORDS, size=int(rng.integers(8, 21)))
            row = {"id": f"r{i}", "text": " ".join(words), "label": ["neg", "pos"][i % 2]}
            fh.write(json.dumps(row) + "\n")
    config = build_config(None, target="yes", id_column="id", label_column="label", method="kernelshap",
                          budget=32, evaluate=True)
    store = Store(STORE)
    t = time.perf_counter()
    s = run_dataset(read_dataset(data, config.columns), config, store, progress=True, model=additive())
    store.close()
    data.unlink()
    print(f"built {s.computed} rows in {time.perf_counter() - t:.1f} s")


def timed(url: str, n: int = 20) -> tuple[float, float, float]:
    t = time.perf_counter()
    urllib.request.urlopen(url, timeout=60).read()  # the first request (the summary is computed then)
    first = (time.perf_counter() - t) * 1000
    ms = []
    for _ in range(n):
        t = time.perf_counter()
        urllib.request.urlopen(url, timeout=60).read()
        ms.append((time.perf_counter() - t) * 1000)
    return first, statistics.median(ms), max(ms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10000)
    args = ap.parse_args()
    if not STORE.exists():
        build(args.rows)
    t = time.perf_counter()
    server = make_server(STORE, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    urllib.request.urlopen(base + "/", timeout=60).read()
    start = time.perf_counter() - t
    print(f"store: {STORE.name}, {STORE.stat().st_size / 1e6:.1f} MB; server up and first page served in "
          f"{start:.2f} s\n")
    print("| page | first request ms | median ms | max ms |\n|---|---:|---:|---:|")
    filtered = "/?label=pos&method=kernelshap&aopc_min=0.1&aopc_max=1&q=great"
    for name, path in (("list", "/"), ("filtered list", filtered), ("example", "/example/r4321"),
                       ("summary", "/summary")):
        first, med, worst = timed(base + path)
        print(f"| {name} | {first:.1f} | {med:.1f} | {worst:.1f} |")
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
