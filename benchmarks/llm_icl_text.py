"""``llm-icl`` on the language-model target: agreement with exact Shapley values, AOPC and cost, next
to LIME at the same 16 target calls (issue 18).

    .venv/bin/python benchmarks/llm_icl_text.py --threads 2 [-n 30] [--strategies perturbation,...]
    .venv/bin/python benchmarks/llm_icl_text.py --summarize

Inputs of at most 10 words, so that KernelSHAP enumerates every coalition and is exact (budget 2^n):
the first ``n`` SST-2 dev sentences of 4-10 words in the 4-shot sentiment template (contrast
" positive" vs " negative"), and the first ``n`` ROME known facts of at most 10 words (the
attribute as the target). Target: Gemma 3 270M, float32. For each input:

* ``exact``: KernelSHAP at 2^n (the reference; its AOPC is the ceiling here);
* ``lime-16``: LIME at 16 target calls;
* ``llm-<strategy>``: llm-icl at 16 target calls (14 samples, the empty and the full input), words
  named by their text, top 5, explainer SmolLM2-135M-Instruct (greedy, 2 retries); ``explanation``
  takes the exact explanations of the set's first 4 inputs as its examples and runs on the others.

Scores: FA@k and RA@k (k = 1..5, at most n) against the exact values' ranking by |value|; AOPC
comprehensiveness (ERASER, probability of the target); target calls, explainer calls and tokens,
seconds. Rows go to ``benchmarks/results/llm_icl_text.jsonl`` (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, SST_TARGET, _sst_rows, append_jsonl, four_shot_template, read_jsonl, served_smollm2

STORE = Path(__file__).resolve().parent / "results" / "llm_icl_text.jsonl"
STRATEGIES = ("perturbation", "prediction", "instruction", "explanation")


def cases(n: int) -> list[dict]:
    template = four_shot_template()
    sst = [s for s, _ in _sst_rows() if 4 <= len(s.split()) <= 10][:n]
    facts = [r for r in json.loads((DATA / "counterfact" / "known_1000.json").read_text(encoding="utf-8"))
             if len(r["prompt"].split()) <= 10][:n]
    return ([{"set": "sst2", "case": f"sst2-{i}", "text": s, "template": template, "target": SST_TARGET}
             for i, s in enumerate(sst)]
            + [{"set": "facts", "case": f"fact-{r['known_id']}", "text": r["prompt"], "template": None,
                "target": " " + r["attribute"]} for r in facts])


def agreement(ranking: np.ndarray, truth: np.ndarray, k: int) -> tuple[float, float]:
    return len(set(ranking[:k]) & set(truth[:k])) / k, float(np.mean(ranking[:k] == truth[:k]))


def run(args) -> None:
    import whyllm

    model = whyllm.load_model(dtype="float32", cache=False, threads=args.threads)  # cost counts every call
    if args.served:  # the same SmolLM2 GGUF through llama_cpp.server: rows llm-<strategy>-served
        explainer = served_smollm2(args.served)
    else:
        explainer = whyllm.load_model("smollm2-135m-instruct", dtype="float32", cache=False,
                                      threads=args.threads)
    suffix = "-served" if args.served else ""
    done = {(r["case"], r["method"]) for r in read_jsonl(STORE)} if STORE.exists() else set()
    exact: dict[str, whyllm.Explanation] = {}
    all_cases = cases(args.n)
    strategies = [s for s in args.strategies.split(",") if s]
    for c in all_cases:
        kw = {"model": model, "template": c["template"], "seed": 0}
        n = len(c["text"].split())
        t_ref = time.perf_counter()
        ref = whyllm.explain(c["text"], c["target"], method="kernelshap", budget=2**n, **kw)
        t_ref = time.perf_counter() - t_ref
        exact[c["case"]] = ref
        truth = np.argsort(-np.abs(ref.array), kind="stable")
        shots = [exact[o["case"]] for o in all_cases if o["set"] == c["set"] and o["case"] in exact][:4]
        for meth in ["exact", "lime-16", *[f"llm-{s}{suffix}" for s in strategies]]:
            if (c["case"], meth) in done:
                continue
            if meth.startswith("llm-explanation") and any(s is ref for s in shots):
                continue  # its own exact explanation is one of the examples
            t = time.perf_counter()
            rec: dict = {}
            try:
                if meth == "exact":
                    e = ref
                elif meth == "lime-16":
                    e = whyllm.explain(c["text"], c["target"], method="lime", budget=16, underdetermined=True,
                                       **kw)
                else:
                    strategy = meth[len("llm-"):len(meth) - len(suffix)]
                    e = whyllm.explain(c["text"], c["target"], method="llm-icl", budget=16,
                                       explainer_model=explainer, strategy=strategy, names="text", retries=2,
                                       examples=shots if strategy == "explanation" else (), **kw)
                    r = e.params["llm_icl"]
                    rec = {"malformed": r["malformed_replies"], "refusals": r["refusals"],
                           "explainer_calls": r["explainer_cost"]["calls"],
                           "explainer_tokens": r["explainer_cost"]["prompt_tokens"]
                           + r["explainer_cost"]["generated_tokens"], "ranked": len(r["ranking"]),
                           "ranking_text": r["ranking"]}
            except whyllm.WhyllmError as exc:
                write({"set": c["set"], "case": c["case"], "method": meth, "error": str(exc)[:300]})
                continue
            seconds = time.perf_counter() - t + (t_ref if meth == "exact" else 0.0)
            order = e.ranking() if meth.startswith("llm") else np.argsort(-np.abs(e.array), kind="stable")
            row = {"set": c["set"], "case": c["case"], "method": meth, "n": n,
                   "target_calls": e.cost.sequences, "seconds": round(seconds, 2), **rec,
                   "aopc": whyllm.evaluate(e, model).aopc_comprehensiveness}
            for k in range(1, min(5, n) + 1):
                row[f"fa{k}"], row[f"ra{k}"] = agreement(order, truth, k)
            write(row)


def write(row: dict) -> None:
    append_jsonl(STORE, row, hide=("ranking_text",))


def summarize() -> str:
    rows = read_jsonl(STORE) if STORE.exists() else []
    lines = ["| set | method | inputs | FA@1 | FA@3 | FA@5 | RA@1 | RA@3 | AOPC comp. | target calls "
             "| explainer calls | explainer tokens | malformed | failed | seconds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in ("sst2", "facts"):
        for meth in ["exact", "lime-16", *[f"llm-{x}{y}" for y in ("", "-served") for x in STRATEGIES]]:
            rs = [r for r in rows if r["set"] == s and r["method"] == meth and "error" not in r]
            bad = sum(1 for r in rows if r["set"] == s and r["method"] == meth and "error" in r)
            if not rs and not bad:
                continue

            def avg(key: str, rs=rs) -> str:
                vals = [r[key] for r in rs if key in r]
                return f"{np.mean(vals):.3f}" if vals else "–"
            lines.append(f"| {s} | {meth} | {len(rs)} | {avg('fa1')} | {avg('fa3')} | {avg('fa5')} "
                         f"| {avg('ra1')} | {avg('ra3')} | {avg('aopc')} | {avg('target_calls')} "
                         f"| {avg('explainer_calls')} "
                         f"| {avg('explainer_tokens')} | {avg('malformed')} | {bad} | {avg('seconds')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--served", metavar="URL", help="the explainer through an OpenAI-compatible server "
                    "(llama_cpp.server serving SmolLM2's GGUF as 'smollm2')")
    args = ap.parse_args()
    if not args.summarize:
        run(args)
    print(summarize())


if __name__ == "__main__":
    main()
