"""Cell-type annotation on the GPTCelltype benchmark (Hou & Ji, Nature Methods 2024).

    .venv/bin/python benchmarks/celltype.py --validate            # scorer vs the file's own scores
    .venv/bin/python benchmarks/celltype.py -n 300 --threads 1    # default model, with explanations
    .venv/bin/python benchmarks/celltype.py -n 300 --summarize    # tables from the stored results

Data: ../shared/data/gptcelltype/compiled__all.csv (1,130 clusters, top-10 marker genes, manual
annotation, and the annotations of GPT-4, GPT-3.5, CellMarker2.0, SingleR and ScType). The sample
is stratified by dataset (proportional allocation, seed 0). Agreement uses whyllm's scorer with
GPTCelltype's curated name map and broad-type relations (``--validate`` shows how often it gives the
file's own score). Plausibility: precision@3 of the three genes with the largest KernelSHAP values
for the model's own annotation, against PanglaoDB markers of the predicted type, next to the
expected precision@3 of a random order and of the input (differential-expression) order. Results are
appended to benchmarks/results/celltype.jsonl; a rerun skips finished clusters.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TABLE = DATA / "gptcelltype" / "compiled__all.csv"
STORE = Path(__file__).resolve().parent / "results" / "celltype.jsonl"
METHODS = ("gpt4mar23", "gpt4aug3", "gpt3.5aug3", "CellMarker2.0", "SingleR", "ScType")


def resources():
    from whyllm.tasks.celltype import CelltypeResources

    return CelltypeResources.load(annotation_map=DATA / "gptcelltype" / "cl__compiled.csv",
                                  relation=DATA / "gptcelltype" / "cl__relation.csv")


def load_rows() -> list[dict]:
    with open(TABLE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for i, r in enumerate(rows):
        r["case"] = f"gptcelltype-{i}"
    return rows


def stratified(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """Proportional allocation per dataset (largest remainders), then a seeded draw in each."""
    by = defaultdict(list)
    for r in rows:
        by[r["dataset"]].append(r)
    quota = {d: n * len(v) / len(rows) for d, v in by.items()}
    take = {d: int(q) for d, q in quota.items()}
    for d in sorted(quota, key=lambda d: take[d] - quota[d])[: n - sum(take.values())]:
        take[d] += 1
    rng = np.random.default_rng(seed)
    out = []
    for d in sorted(by):
        idx = rng.choice(len(by[d]), size=take[d], replace=False)
        out += [by[d][i] for i in sorted(idx)]
    return out


def validate(rows: list[dict], res) -> list[tuple]:
    """Per method: rows scored, share where whyllm's score equals the file's, both means."""
    table = []
    for m in METHODS:
        pairs = [(res.scorer.score(r["manual_annotation"], r[f"{m}_annotation"]).score,
                  float(r[f"{m}_agreement"])) for r in rows
                 if r[f"{m}_annotation"] != "NA" and r[f"{m}_agreement"] != "NA"]
        ours, theirs = np.array(pairs).T
        table.append((m, len(pairs), float(np.mean(ours == theirs)), float(ours.mean()),
                      float(theirs.mean())))
    return table


def run(sample: list[dict], res, args) -> None:
    from whyllm import load_model
    from whyllm.tasks.celltype import Cluster, annotate_cluster
    from whyllm.tasks.celltype.inputs import clean_genes

    done = set()
    if STORE.exists():
        done = {json.loads(line)["case"] for line in STORE.read_text().splitlines() if line.strip()}
    todo = [r for r in sample if r["case"] not in done]
    print(f"{len(sample) - len(todo)} clusters already stored, {len(todo)} to go", flush=True)
    if not todo:
        return
    model = load_model(threads=args.threads, cache=False)
    for r in todo:
        genes, warnings = clean_genes(r["marker"].split(","))
        cluster = Cluster(r["case"], genes, r["tissue"], r["manual_annotation"], tuple(warnings))
        t0 = time.perf_counter()
        out = annotate_cluster(cluster, model, res, budget=args.budget, seed=0, k=3)
        rec = {"case": r["case"], "dataset": r["dataset"], "tissue": r["tissue"],
               "truth": r["manual_annotation"],
               "annotation": out.annotation, "raw": out.raw_answer, "agreement": out.agreement,
               "reason": out.agreement_reason, "precision_at_3": out.precision_at_k,
               "random_precision_at_3": out.random_precision_at_k,
               "input_order_precision_at_3": out.input_order_precision_at_k,
               "known_markers": list(out.known_markers), "contributions": out.contributions,
               "calls": out.explanation.cost.sequences if out.explanation else 0,
               "seconds": round(time.perf_counter() - t0, 2), "error": out.error, "budget": args.budget}
        with STORE.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        print(f"{r['case']}: {out.annotation!r} vs {r['manual_annotation']!r} -> {out.agreement} "
              f"P@3 {out.precision_at_k} rand {out.random_precision_at_k}", flush=True)


def summarize(sample: list[dict]) -> None:
    recs = {}
    if STORE.exists():
        for line in STORE.read_text().splitlines():
            rec = json.loads(line)
            recs[rec["case"]] = rec
    got = [recs[r["case"]] for r in sample if r["case"] in recs]
    rows = {r["case"]: r for r in sample}
    print(f"\n{len(got)} of {len(sample)} sampled clusters done "
          f"({', '.join(f'{d} {c}' for d, c in sorted(Counter(r['dataset'] for r in sample).items()))})")
    print("\n| annotator | clusters scored | mean agreement | full | partial | mismatch |")
    print("|---|---:|---:|---:|---:|---:|")
    res = resources()
    # rescored with the current scorer, so that every row of the table uses the same rules
    a = np.array([res.scorer.score(g["truth"], g["annotation"]).score for g in got if g["annotation"]])
    print(f"| Gemma 3 270M (whyllm, few-shot) | {len(a)} | {a.mean():.3f} | {np.mean(a == 1):.3f} | "
          f"{np.mean(a == 0.5):.3f} | {np.mean(a == 0):.3f} |")
    for m in METHODS:
        vals = np.array([res.scorer.score(rows[g["case"]]["manual_annotation"],
                                          rows[g["case"]][f"{m}_annotation"]).score
                         for g in got if rows[g["case"]][f"{m}_annotation"] != "NA"])
        if len(vals):
            print(f"| {m} (published annotations, whyllm's scorer) | {len(vals)} | {vals.mean():.3f} | "
                  f"{np.mean(vals == 1):.3f} | {np.mean(vals == 0.5):.3f} | {np.mean(vals == 0):.3f} |")
    plaus = [g for g in got if g["precision_at_3"] is not None]
    print(f"\nPlausibility on the {len(plaus)} clusters whose predicted type has PanglaoDB markers "
          f"(of {len(got)}):")
    print("\n| gene order | mean precision@3 vs PanglaoDB |")
    print("|---|---:|")
    p = np.array([g["precision_at_3"] for g in plaus])
    q = np.array([g["random_precision_at_3"] for g in plaus])
    o = np.array([g["input_order_precision_at_3"] for g in plaus])
    d = p - q
    print(f"| KernelSHAP ranking of the model's annotation | {p.mean():.3f} |")
    print(f"| random order (exact expectation) | {q.mean():.3f} |")
    print(f"| input order (differential expression rank) | {o.mean():.3f} |")
    print(f"\nexplanation - random: {d.mean():+.3f} (paired SE {d.std(ddof=1) / np.sqrt(len(d)):.3f}); "
          f"higher on {int(np.sum(d > 0))}, equal on {int(np.sum(d == 0))}, lower on {int(np.sum(d < 0))}")
    calls = np.array([g["calls"] for g in got])
    secs = np.array([g["seconds"] for g in got])
    print(f"cost per cluster: {calls.mean():.0f} model calls, {secs.mean():.1f} s "
          f"(generation + explanation); errors: {sum(g['error'] is not None for g in got)}")
    top = Counter(g["annotation"] for g in got).most_common(8)
    print("most frequent annotations:", ", ".join(f"{a} ({c})" for a, c in top))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="stratified sample size (default 300)")
    ap.add_argument("--budget", type=int, default=64, help="KernelSHAP evaluations per cluster")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--validate", action="store_true", help="only check the scorer against the file")
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    rows = load_rows()
    if args.validate:
        res = resources()
        print("| column | rows | whyllm score = file's score | mean (whyllm) | mean (file) |")
        print("|---|---:|---:|---:|---:|")
        for m, n, match, ours, theirs in validate(rows, res):
            print(f"| {m} | {n} | {match:.3f} | {ours:.3f} | {theirs:.3f} |")
        return
    sample = stratified(rows, args.n)
    if not args.summarize:
        run(sample, resources(), args)
    summarize(sample)


if __name__ == "__main__":
    sys.exit(main())
