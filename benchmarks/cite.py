"""Context attribution against ContextCite, on NQ-open multi-document prompts (issue 16).

    .venv/bin/python benchmarks/cite.py --threads 1 [--sets 10docs,30docs] [--systems ...] [-n N] [--start K]
    .venv/bin/python benchmarks/cite.py --summarize

Prompts: each NQ-open question (``../shared/data/nq_open``) with its gold passage among seeded
distractors (other questions' gold passages), the gold one first, in the middle or last; the
Lost-in-the-Middle QA prompt of ``whyllm.cite``; the gold answer as the response; documents as
sources. ``10docs``: 30 prompts of 10 documents; ``30docs``: 10 prompts of 30.

Systems (same Gemma model, float32): whyllm ``lime``, ``contextcite`` (LASSO) and ``kernelshap``
at 32 and 64 ablations (LIME underdetermined where 32 ablations are fewer than 30 documents + 3),
``occlusion`` (leave-one-out), the white-box baselines (integrated gradients
at 16 steps, its values without the per-token matrix), and ContextCite
0.0.4 itself (``.venv-contextcite``, ``benchmarks/contextcite_runner.py``, its default batch of 1)
at 32 and 64 ablations. Every attribution vector is scored by whyllm's code on the same target:
top-k log-prob drop (k = 1, 3, 5), LDS on 64 held-out random ablations (seed 314159), gold
recall@1 and @3, target calls and wall seconds (of the explanation alone; the scoring runs on a
second copy of the model whose score cache shares the held-out ablations). Runs are lines of
``benchmarks/results/cite.jsonl`` (resumable: a killed run recomputes only what is missing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, nq_documents, read_jsonl

import whyllm
from whyllm.cite import context_prompt, read_context
from whyllm.engine import objective_for
from whyllm.metrics.attribution_scores import lds, logprob_drop
from whyllm.tasks.retrieval import load_nq_open

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "benchmarks" / "results" / "cite.jsonl"
SETS = {"10docs": (30, 10), "30docs": (10, 30)}
DTYPE_TAGS = {"bfloat16": "bf16"}  # a system run in another precision than float32 ends with its tag
WHYLLM = [("lime", 32), ("contextcite", 32), ("kernelshap", 32), ("lime", 64), ("contextcite", 64),
          ("lime", "auto"),
          ("occlusion", None), ("saliency", None), ("input_x_gradient", None),
          ("integrated_gradients", None), ("attention", None)]
#: method options: IG's values without its per-token matrix (the same values, one backward per chunk)
PARAMS = {"integrated_gradients": {"matrix": False}}


def params(method: str, budget: int | None, n_docs: int) -> dict:
    """A method's options on a set: LIME below one sample per source (32 ablations of 30 documents)
    runs underdetermined, its ridge penalty keeping the fit defined, as ContextCite's LASSO does."""
    out = dict(PARAMS.get(method, {}))
    if method == "lime" and isinstance(budget, int) and budget < n_docs + 3:
        out["underdetermined"] = True
    return out


def cases(set_name: str, records: list[dict]) -> list[dict]:
    """The set's prompts: question i, gold at the first, middle and last position in turn."""
    n_prompts, n_docs = SETS[set_name]
    offset = 0 if set_name == "10docs" else 100
    out = []
    for p in range(n_prompts):
        i = offset + p
        rec = records[i]
        pos = (0, n_docs // 2, n_docs - 1)[p % 3]
        out.append({"case": f"{set_name}-{p}", "query": rec["question"], "answer": " " + rec["answers"][0],
                    "docs": nq_documents(records, i, n_docs, pos, seed=1000 + i), "gold": pos})
    return out


def scores(case: dict, exp: whyllm.Explanation, values, model) -> dict:
    value = objective_for(exp, model).value
    order = np.argsort(-np.asarray(values), kind="stable")
    drop = logprob_drop(value, order, len(values))
    return {"drop1": drop[1], "drop3": drop[3], "drop5": drop[5],
            "lds": lds(value, values, exp.base_value, count=64),
            "recall1": float(case["gold"] in order[:1]), "recall3": float(case["gold"] in order[:3])}


def run_contextcite(case: dict, model_dir: Path, ablations: int, threads: int, dtype: str) -> dict:
    text, template, _ = context_prompt(read_context(case["docs"]), case["query"])
    job = {"model_dir": str(model_dir), "text": text, "template": template, "answer": case["answer"],
           "num_ablations": ablations, "threads": threads, "sources": "paragraph", "dtype": dtype}
    py = ROOT / ".venv-contextcite" / "bin" / "python"
    out = subprocess.run([str(py), str(ROOT / "benchmarks" / "contextcite_runner.py")], input=json.dumps(job),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="10docs,30docs")
    ap.add_argument("--systems", default="whyllm,contextcite")
    ap.add_argument("-n", type=int, default=None, help="first N prompts of each set")
    ap.add_argument("--start", type=int, default=0,
                    help="leave out the first K of those (to split a method's prompts between processes)")
    ap.add_argument("--skip", default="", help="comma-separated whyllm methods to leave out")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="the explaining models' precision (both systems); rows other than float32 "
                         "are named with it and summarised in a table of their own, with speed-ups "
                         "against ContextCite in the same precision")
    ap.add_argument("--methods", default="", help="comma-separated whyllm systems to run (default all), "
                    "e.g. 'contextcite 32,lime 64'")
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if args.summarize:
        print(summarize())
        return 0
    done = {(r["case"], r["system"]) for r in load()}
    model = whyllm.load_model(dtype=args.dtype, cache=False, threads=args.threads)  # explains, timed
    suffix = "" if args.dtype == "float32" else f" {DTYPE_TAGS[args.dtype]}"
    # scores every system's ranking; its cache shares the held-out ablations between systems
    scorer = whyllm.load_model(dtype="float32", cache=STORE.with_suffix(".scores.sqlite"),
                               threads=args.threads)
    from whyllm.models import local_model_dir

    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    systems = args.systems.split(",")
    for set_name in args.sets.split(","):
        for case in cases(set_name, records)[args.start:args.n]:
            todo = []
            if "whyllm" in systems:
                skip = set(args.skip.split(","))
                wanted = set(filter(None, args.methods.split(",")))
                todo += [(f"whyllm {m}" + (f" {b}" if b else "") + suffix, m, b) for m, b in WHYLLM
                         if m not in skip and (not wanted or f"{m} {b}" in wanted or m in wanted)]
            if "contextcite" in systems:
                todo += [(f"ContextCite {b}{suffix}", "contextcite-peer", b) for b in (32, 64)
                         if set_name == "10docs" or b == 32]
            peer_exp = None
            for system, method, budget in todo:
                if (case["case"], system) in done or (set_name == "30docs" and budget in (64, "auto")):
                    continue
                t = time.perf_counter()
                if method == "contextcite-peer":
                    if peer_exp is None:  # features and target for scoring only, once per prompt
                        peer_exp = whyllm.cite(case["docs"], case["query"], case["answer"], model=model,
                                               method="occlusion")
                    exp = peer_exp
                    peer = run_contextcite(case, local_model_dir(None), budget, args.threads, args.dtype)
                    values, calls, seconds = peer["attributions"], budget, peer["seconds"]
                else:
                    exp = whyllm.cite(case["docs"], case["query"], case["answer"], model=model, method=method,
                                      budget=budget, **params(method, budget, len(case["docs"])))
                    values, calls, seconds = list(exp.values), exp.cost.sequences, time.perf_counter() - t
                row = {"case": case["case"], "set": set_name, "system": system, "calls": calls,
                       "seconds": seconds, "n_sources": len(values), **scores(case, exp, values, scorer)}
                with open(STORE, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(system, case["case"], {k: round(v, 3) for k, v in row.items()
                                             if isinstance(v, float)}, flush=True)
    print(summarize())
    return 0


def load() -> list[dict]:
    return read_jsonl(STORE)


def precision(system: str) -> str:
    """The precision a stored system ran in (float32 unless its name ends with a tag)."""
    return next((d for d, tag in DTYPE_TAGS.items() if system.endswith(f" {tag}")), "float32")


def summarize() -> str:
    rows = load()
    auto = [r for r in rows if r["system"].endswith(" auto")]
    rows = [r for r in rows if not r["system"].endswith(" auto")]  # a table of their own, below
    lines = []
    for set_name in SETS:
        for dtype in ("float32", *DTYPE_TAGS):
            mine = [r for r in rows if r["set"] == set_name and precision(r["system"]) == dtype]
            if mine:
                lines += table(set_name, dtype, mine)
    return "\n".join(lines + auto_table(rows, auto))


def auto_table(rows: list[dict], auto: list[dict]) -> list[str]:
    """``budget="auto"`` (issue 41) against the fixed budgets, on the prompts it has run."""
    if not auto:
        return []
    done = {r["case"] for r in auto}
    fixed = [r for r in rows if r["case"] in done and r["system"] in
             ("whyllm lime 32", "whyllm lime 64", "whyllm contextcite 32", "whyllm kernelshap 32")]
    title = "10docs, lime with budget auto (until the first source is certain): "
    return [line.replace("10docs: ", title, 1) if "### " in line else line
            for line in table("10docs", "float32", fixed + auto)]


def table(set_name: str, dtype: str, mine: list[dict]) -> list[str]:
    """One set's systems of one precision, over the prompts every one of them finished."""
    systems = list(dict.fromkeys(r["system"] for r in mine))
    # only prompts every system finished, so that every row averages over the same prompts
    cases_all = set.intersection(*({r["case"] for r in mine if r["system"] == s} for s in systems))
    title = set_name if dtype == "float32" else f"{set_name}, {dtype}"
    lines = [f"\n### {title}: {len(cases_all)} prompts\n",
             "| system | calls | seconds | drop@1 ↑ | drop@3 ↑ | drop@5 ↑ | LDS ↑ | recall@1 "
             "| recall@3 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in systems:
        rs = [r for r in mine if r["system"] == s and r["case"] in cases_all]
        m = {k: float(np.nanmean([r[k] for r in rs])) for k in
             ("calls", "seconds", "drop1", "drop3", "drop5", "lds", "recall1", "recall3")}
        lines.append(f"| {s} | {m['calls']:.0f} | {m['seconds']:.2f} | {m['drop1']:.3f} "
                     f"| {m['drop3']:.3f} | {m['drop5']:.3f} | {m['lds']:.3f} | {m['recall1']:.2f} "
                     f"| {m['recall3']:.2f} |")
    # same precision only: rows of another precision may come from another session or machine
    ratios = speedups(mine, cases_all, "" if dtype == "float32" else f" {DTYPE_TAGS[dtype]}")
    return lines + (["", *ratios] if ratios else [])


def speedups(rows: list[dict], cases_all: set[str], tag: str) -> list[str]:
    """ContextCite's seconds over each whyllm system's at the same ablation count, per prompt, then
    the median and range over prompts (the two ran side by side, so each prompt's ratio is one run).
    ``tag`` picks the precision of both ("" for float32)."""
    seconds = {(r["system"], r["case"]): r["seconds"] for r in rows if r["case"] in cases_all}
    out = []
    for budget in (32, 64):
        peer = f"ContextCite {budget}{tag}"
        ends = f" {budget}{tag}"
        mine = sorted({s for s, _ in seconds if s.startswith("whyllm") and s.endswith(ends)})
        for s in mine:
            r = [seconds[peer, c] / seconds[s, c] for c in sorted(cases_all) if (peer, c) in seconds]
            if r:
                out.append(f"- {peer} / {s}: median {np.median(r):.2f}x (range {min(r):.2f}-{max(r):.2f}x, "
                           f"{len(r)} prompts)")
    return out


if __name__ == "__main__":
    sys.exit(main())
