"""Cheap leave-one-out context attribution against exact LOO, as AttriBoT (Liu et al., ICLR 2025)
measures it (issue 16).

    .venv/bin/python benchmarks/attribot.py --threads 2 [-n 10] [--sources documents,sentences]
    .venv/bin/python benchmarks/attribot.py --summarize

Prompts: the 10 prompts of 30 NQ-open passages of ``benchmarks/cite.py`` (gold first, in the middle
or last), the gold answer as the response, Gemma 3 270M in float32, documents or sentences as the
sources. Exact LOO is computed **naively**, one plain forward of the whole sequence per removed
source (``HFModel.plain_logprobs``: no batching, no cache; only the answer's positions go through
the 262k-word output layer, as ``logits_to_keep`` does: an earlier run that took all ~4,300 rows of
logits spent over 50 CPU-minutes in the first prompt's 31 forwards). With sentences, ~200 plain forwards of
~4,300 tokens per prompt do not fit this machine's time: the naive path is timed on 12 removed
sentences drawn with seed 0 (plus the full prompt) and its time per forward scaled to all of them,
and the exact values are those of the key/value-reuse path, checked against the 12 naive ones
(``naive_gap``: the largest difference, in nats).

Cheap paths, each timed on a fresh model with no score cache:

* ``reuse``: ``whyllm.cite(method="occlusion")``, LOO sharing the key/value state of the unchanged
  head (the prefix tree);
* ``hierarchical`` (sentences only): ``method="hierarchical", inner="occlusion", keep=3``: LOO over
  the documents, then over the sentences of the 3 best documents;
* ``proxy``: LOO on SmolLM2-135M-Instruct (``proxy=``, ``force_proxy=True``), the target's answer
  text scored by the proxy;
* ``combined`` (sentences only): hierarchical with the proxy running the document pass. With
  documents as sources the ``proxy`` path is already the combination (the proxy's LOO shares its
  own unchanged heads; there is no level above the documents).

The proxy paths skip the instance screen (``force_proxy=True``), as AttriBoT's proxy does; each row
keeps the path's values (``values``), and the reuse row the exact ones (``exact``), so a killed run
resumes without recomputing the naive pass.

Agreement with exact LOO: Spearman's rho over all sources, and the average precision of the exact
top 5 in the path's ranking (AP@5), and on how many prompts the path's top source is the exact one
(top-1 kept). Rows go to ``benchmarks/results/attribot.jsonl`` (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cite import cases
from prompts import DATA, read_jsonl

import whyllm
from whyllm.engine import objective_for
from whyllm.tasks.retrieval import load_nq_open

STORE = Path(__file__).resolve().parent / "results" / "attribot.jsonl"
SAMPLED = 12
PATHS = {"documents": ("reuse", "proxy"),
         "sentences": ("reuse", "hierarchical", "proxy", "combined")}


def average_precision(exact: np.ndarray, approx: np.ndarray, k: int = 5) -> float:
    """AP of the exact top ``k`` sources in the ranking by ``approx``."""
    relevant = set(np.argsort(-exact, kind="stable")[:k].tolist())
    hits, total = 0, 0.0
    for rank, i in enumerate(np.argsort(-approx, kind="stable"), start=1):
        if i in relevant:
            hits += 1
            total += hits / rank
            if hits == len(relevant):
                break
    return total / len(relevant)


def naive_loo(exp: whyllm.Explanation, model, which: list[int]) -> tuple[np.ndarray, float]:
    """Exact LOO values of sources ``which``, one plain forward each (plus the full prompt), and the
    seconds it took."""
    objective = objective_for(exp, model)
    answer = [t for part in exp.target.ids for t in part]
    n = len(exp.features)
    t = time.perf_counter()
    full = float(model.plain_logprobs(objective.input.ids_for(np.ones(n, dtype=bool)), answer).sum())
    values = []
    for j in which:
        keep = np.ones(n, dtype=bool)
        keep[j] = False
        values.append(full - float(model.plain_logprobs(objective.input.ids_for(keep), answer).sum()))
    return np.array(values), time.perf_counter() - t


def cheap(case: dict, sources: str, path: str, model, proxy) -> tuple[whyllm.Explanation, float]:
    kw: dict = {"model": model, "sources": sources}
    if path == "reuse":
        kw["method"] = "occlusion"
    elif path == "hierarchical":
        kw.update(method="hierarchical", inner="occlusion", keep=3)
    elif path == "proxy":
        kw.update(method="occlusion", proxy=proxy, force_proxy=True)
    else:  # combined, sentences
        kw.update(method="hierarchical", inner="occlusion", keep=3, proxy=proxy, force_proxy=True)
    t = time.perf_counter()
    exp = whyllm.cite(case["docs"], case["query"], case["answer"], **kw)
    return exp, time.perf_counter() - t


def exact_loo(case: dict, sources: str, fresh) -> tuple[dict, dict]:
    """The reuse path's row fields and the exact LOO (``base``, with the values), from the store
    when a killed run left them there."""
    stored = [r for r in load() if r["case"] == case["case"] and r["sources"] == sources
              and r["path"] == "reuse" and "exact" in r]
    if stored:
        r = stored[-1]
        keys = ("case", "sources", "n_sources", "naive_seconds", "naive_measured", "naive_gap", "exact")
        return {k: r[k] for k in keys}, r
    reuse_exp, reuse_s = cheap(case, sources, "reuse", fresh(), None)
    exact = np.asarray(reuse_exp.values)
    n = len(exact)
    if sources == "documents":
        which = list(range(n))
    else:
        which = sorted(np.random.default_rng(0).choice(n, size=min(SAMPLED, n), replace=False).tolist())
    naive_vals, naive_s = naive_loo(reuse_exp, fresh(), which)
    gap = float(np.max(np.abs(naive_vals - exact[which])))
    if sources == "documents":
        exact = naive_vals
    naive_seconds = naive_s * (n + 1) / (len(which) + 1)
    base = {"case": case["case"], "sources": sources, "n_sources": n, "naive_seconds": naive_seconds,
            "naive_measured": len(which), "naive_gap": gap, "exact": exact.tolist()}
    return base, {"exp": reuse_exp, "seconds": reuse_s}


def run_case(case: dict, sources: str, paths: list[str], threads: int, done: set) -> None:
    fresh = lambda name=None: whyllm.load_model(name, dtype="float32", cache=False, threads=threads)  # noqa: E731
    base, reuse = exact_loo(case, sources, fresh)
    exact = np.asarray(base["exact"])
    for path in paths:
        if (case["case"], sources, path) in done:
            continue
        if path == "reuse":
            exp, seconds = reuse["exp"], reuse["seconds"]
        else:
            exp, seconds = cheap(case, sources, path, fresh(), fresh("smollm2-135m-instruct"))
        approx = np.asarray(exp.values)
        row = {**base, "path": path, "seconds": seconds, "speedup": base["naive_seconds"] / seconds,
               "target_calls": exp.cost.sequences, "target_tokens": exp.cost.tokens,
               "spearman": float(spearmanr(exact, approx).statistic), "ap5": average_precision(exact, approx),
               "values": list(exp.values), "screen": exp.fit.screen}
        with STORE.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(case["case"], sources, path, {k: round(v, 3) for k, v in row.items() if isinstance(v, float)},
              flush=True)


def load() -> list[dict]:
    return read_jsonl(STORE)


def summarize() -> str:
    rows = load()
    lines = []
    for sources, paths in PATHS.items():
        mine = [r for r in rows if r["sources"] == sources]
        sel = [r for r in mine if r["path"] == "reuse"]
        if not sel:
            continue
        naive = np.mean([r["naive_seconds"] for r in sel])
        lines += [f"\n### {sources}: {len(sel)} prompts, {np.mean([r['n_sources'] for r in sel]):.0f} "
                  f"sources, naive LOO {naive:.0f} s per prompt (largest naive-vs-reuse gap "
                  f"{max(r['naive_gap'] for r in sel):.1e} nats)\n",
                  "| path | prompts | target calls | seconds | speed-up vs naive LOO | Spearman ρ | AP@5 "
                  "| top-1 kept |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for p in paths:
            rs = [r for r in mine if r["path"] == p]
            if not rs:
                continue
            m = {k: float(np.mean([r[k] for r in rs]))
                 for k in ("target_calls", "seconds", "naive_seconds", "spearman", "ap5")}
            speedup = m["naive_seconds"] / m["seconds"]  # ratio of the means over the same prompts
            kept = sum(int(np.argmax(r["values"])) == int(np.argmax(r["exact"])) for r in rs)
            lines.append(f"| {p} | {len(rs)} | {m['target_calls']:.0f} | {m['seconds']:.1f} | {speedup:.1f}× "
                         f"| {m['spearman']:.3f} | {m['ap5']:.3f} | {kept} of {len(rs)} |")
    return "\n".join(lines) if lines else "no results yet"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--sources", default="documents,sentences")
    ap.add_argument("--paths", default=None,
                    help="comma-separated cheap paths to run (default: all of each source kind's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if not args.summarize:
        done = {(r["case"], r["sources"], r["path"]) for r in load()}
        records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
        for case in cases("30docs", records)[:args.n]:
            for sources in args.sources.split(","):
                wanted = [p for p in PATHS[sources]  # reuse always: its row stores the exact LOO
                          if args.paths is None or p == "reuse" or p in args.paths.split(",")]
                if all((case["case"], sources, p) in done for p in wanted):
                    continue
                run_case(case, sources, wanted, args.threads, done)
    print(summarize())
    return 0


if __name__ == "__main__":
    sys.exit(main())
