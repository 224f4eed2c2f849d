"""Checked narration on real explanations: how many sentences small local narrators get right
(issue 18).

    .venv/bin/python benchmarks/narration.py --threads 2 [-n 30]
    .venv/bin/python benchmarks/narration.py --summarize

Explanations: KernelSHAP (budget 64, seed 0, float32 Gemma 3 270M) of the first ``n`` SST-2 dev
sentences in the 4-shot sentiment template (contrast " positive" vs " negative"), with their
faithfulness (so a narrator can cite AOPC). Narrators: SmolLM2-135M-Instruct (its chat template)
and Gemma 3 270M itself (a base model: the instruction, then "Answer:"), greedy, 160 new tokens.
Every sentence of each narration is checked against the numbers (``whyllm.report.narration``):
checked (all its claims hold), contradicted (one fails) or uncheckable (no claim found); claims are
counted by kind. Rows go to ``benchmarks/results/narration.jsonl`` (resumable).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import append_jsonl, read_jsonl, sst2_four_shot

STORE = Path(__file__).resolve().parent / "results" / "narration.jsonl"
NARRATORS = ("smollm2-135m-instruct", "gemma-3-270m")


def explanation(whyllm, case, model):
    exp = whyllm.explain(case.text, case.target, model=model, template=case.template, method="kernelshap",
                         budget=64, seed=0)
    return exp.with_metrics(whyllm.evaluate(exp, model).to_dict())


def row_of(case, name: str, nar, seconds: float) -> dict:
    kinds = Counter((c.kind, c.status) for c in nar.claims())
    return {"case": case.name, "narrator": name, **nar.counts(), "sentences": len(nar.sentences),
            "claims": {f"{k}:{s}": v for (k, s), v in sorted(kinds.items())}, "seconds": round(seconds, 2),
            "text": nar.text}


def recheck(args) -> None:
    """Check the stored narrations again with the current checker, keeping each narration's text and
    seconds; the explanations are recomputed without a score cache, as the run made them, so that
    their cost (which the narrators were told) is the same."""
    import whyllm
    from whyllm.report.narration import check_narration

    model = whyllm.load_model(dtype="float32", cache=False, threads=args.threads)
    rows = read_jsonl(STORE)
    cases = {c.name: c for c in sst2_four_shot(args.n)}
    exps = {name: explanation(whyllm, cases[name], model) for name in {r["case"] for r in rows}}
    STORE.unlink()
    for r in rows:
        nar = check_narration(exps[r["case"]], r["text"], r["narrator"])
        write(row_of(cases[r["case"]], r["narrator"], nar, r["seconds"]))


def run(args) -> None:
    import whyllm

    model = whyllm.load_model(dtype="float32", cache=False, threads=args.threads)
    done = {(r["case"], r["narrator"]) for r in read_jsonl(STORE)} if STORE.exists() else set()
    narrators = {name: (model if name == "gemma-3-270m" else
                        whyllm.load_model(name, dtype="float32", cache=False, threads=args.threads))
                 for name in NARRATORS}
    for case in sst2_four_shot(args.n):
        if all((case.name, n) in done for n in NARRATORS):
            continue
        exp = explanation(whyllm, case, model)
        for name, narrator in narrators.items():
            if (case.name, name) in done:
                continue
            t = time.perf_counter()
            nar = exp.narrate(narrator)
            write(row_of(case, name, nar, time.perf_counter() - t))


def write(row: dict) -> None:
    append_jsonl(STORE, row, hide=("text",))


def summarize() -> str:
    rows = read_jsonl(STORE) if STORE.exists() else []
    lines = ["| narrator | narrations | sentences | checked | contradicted | uncheckable | claims supported "
             "| claims contradicted | seconds per narration |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in NARRATORS:
        rs = [r for r in rows if r["narrator"] == name]
        if not rs:
            continue
        total = sum(r["sentences"] for r in rs)
        share = {k: sum(r[k] for r in rs) / max(total, 1) for k in ("checked", "contradicted", "uncheckable")}
        sup = sum(v for r in rs for k, v in r["claims"].items() if k.endswith(":supported"))
        con = sum(v for r in rs for k, v in r["claims"].items() if k.endswith(":contradicted"))
        lines.append(f"| {name} | {len(rs)} | {total} | {share['checked']:.1%} | {share['contradicted']:.1%} "
                     f"| {share['uncheckable']:.1%} | {sup} | {con} "
                     f"| {np.mean([r['seconds'] for r in rs]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--recheck", action="store_true", help="check the stored narrations again")
    args = ap.parse_args()
    if args.recheck:
        recheck(args)
    elif not args.summarize:
        run(args)
    print(summarize())


if __name__ == "__main__":
    main()
