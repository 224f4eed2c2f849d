"""Concepts against words (ConLUX / UnCLE, arXiv 2410.12439), with the cost and compliance the paper
does not report (issue 17).

    .venv/bin/python benchmarks/concepts.py --threads 2 [-n 50] [--llm 10] [--rewrite 5] [--cose 50]
    .venv/bin/python benchmarks/concepts.py --summarize

Sets (Gemma 3 270M, float32): ``sst2``: the first ``-n`` SST-2 dev sentences of 6-25 words in the
4-shot sentiment template, contrast target " positive" vs " negative"; ``esnli``: the first ``-n``
e-SNLI dev pairs, the hypothesis as the slot and the premise fixed, contrast " yes" vs " no" after
"does the premise entail the hypothesis?".

Systems on each input, at one target budget ``B = max(32, words + 3)``:

* ``words``: LIME and KernelSHAP (budget B) and Anchors over words;
* ``clusters``: the same three over concepts from the target's own hidden states (``extractor=
  "clusters"``, its default k);
* ``llm`` (the first ``--llm`` inputs): LIME over concepts named by SmolLM2-135M-Instruct, falling
  back to clusters when its JSON stays malformed (the fallback rate is reported);
* ``rewrite`` (the first ``--rewrite`` SST-2 inputs): LIME (budget 16) over clusters concepts
  realised by SmolLM2 rewrites and checked by SmolLM2 (compliance reported).

Scores: AOPC comprehensiveness at equal tokens removed (the top 1, 2, 3 concepts' tokens deleted vs
the top-ranked words holding at most as many tokens, probability of the contrast's first side, mean
over the 3 steps); LIME's weighted R^2; Anchors' precision, coverage and length; target calls and
the extractor's and generator's calls. Plausibility on CoS-E (``--cose``, questions whose human span
lies inside the question): token F1 of the top concept's pieces (KernelSHAP over clusters, exact)
with the human span, against the top words holding as many tokens. Rows go to
``benchmarks/results/concepts.jsonl`` (resumable).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, read_jsonl, served_smollm2, sst2_four_shot

import whyllm
from whyllm.engine import objective_for

STORE = Path(__file__).resolve().parent / "results" / "concepts.jsonl"
ESNLI = ("Premise: {premise}\nHypothesis: {text}\nQuestion: does the premise entail the hypothesis? "
         "Answer (yes or no):")


def esnli(n: int) -> list[dict]:
    with open(DATA / "esnli_freetext" / "esnli_dev_freetext_explanations.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:n]
    return [{"case": f"esnli-{r['row_idx']}", "set": "esnli", "text": r["hypothesis"],
             "template": ESNLI.replace("{premise}", r["premise"].replace("{", "(").replace("}", ")")),
             "target": (" yes", " no")} for r in rows]


def sst2(n: int) -> list[dict]:
    return [{"case": c.name, "set": "sst2", "text": c.text, "template": c.template, "target": c.target}
            for c in sst2_four_shot(n)]


def token_sets(exp: whyllm.Explanation, inp) -> list[set[int]]:
    """Each feature's token positions in the full prompt, in the explanation's rank order."""
    return [set(inp.groups[int(i)]) for i in exp.ranking()]


def prob_without(objective, exp: whyllm.Explanation, removed: set[int]) -> float:
    ids = tuple(t for i, t in enumerate(objective.input.ids) if i not in removed)
    return float(exp.target.probability(float(objective.score_ids([ids])[0])))


def aopc_equal_tokens(concept_exp, word_exp, scorer, steps: int = 3) -> tuple[float, float, list[int]]:
    """Mean probability drop after deleting the top k concepts' tokens (k = 1..steps), and after
    deleting the top words that hold at most as many tokens."""
    c_obj, w_obj = objective_for(concept_exp, scorer), objective_for(word_exp, scorer)
    p_full = prob_without(c_obj, concept_exp, set())
    c_sets, w_sets = token_sets(concept_exp, c_obj.input), token_sets(word_exp, w_obj.input)
    c_drops, w_drops, sizes = [], [], []
    for k in range(1, min(steps, len(c_sets)) + 1):
        gone = set().union(*c_sets[:k])
        words: set[int] = set()
        for s in w_sets:
            if len(words | s) <= len(gone):
                words |= s
        sizes.append(len(gone))
        c_drops.append(p_full - prob_without(c_obj, concept_exp, gone))
        w_drops.append(p_full - prob_without(w_obj, word_exp, words))
    return float(np.mean(c_drops)), float(np.mean(w_drops)), sizes


def summary_row(exp: whyllm.Explanation, seconds: float) -> dict:
    fit = exp.fit
    concepts = exp.params.get("concepts", {})
    rw = exp.params.get("rewrite", {})
    return {"n_features": len(exp.features), "calls": exp.cost.sequences, "seconds": seconds,
            "extractor_calls": concepts.get("extractor_cost", {}).get("calls", 0),
            "fell_back": concepts.get("fell_back"), "generator_calls": rw.get("generator_calls", 0),
            "verifier_calls": rw.get("verifier_calls", 0), "compliance": rw.get("compliance"),
            "r2": fit.r2, "precision": fit.precision, "coverage": fit.coverage,
            "anchor_length": len(fit.anchor) if fit.anchor is not None else None,
            "features": [f.text for f in exp.features][:12]}


def run_case(case: dict, model, scorer, do_llm: bool, do_rewrite: bool, done: set, served=None) -> None:
    n_words = len(case["text"].split())
    budget = max(32, n_words + 3)
    base = {"text": case["text"], "template": case["template"], "target": case["target"], "seed": 0,
            "model": model}
    kinds = {"words": {"features": "words"}, "clusters": {"features": "concepts", "extractor": "clusters"}}
    plan = [(k, m) for k in kinds for m in ("lime", "kernelshap", "anchors")]
    if do_llm:
        kinds["llm"] = {"features": "concepts", "extractor": "llm", "on_malformed": "fallback"}
        plan.append(("llm", "lime"))
    if do_llm and served is not None:
        kinds["llm-served"] = {**kinds["llm"], "extractor_model": served}
        plan.append(("llm-served", "lime"))
    if do_rewrite:
        kinds["rewrite"] = {"features": "concepts", "extractor": "clusters", "perturbation": "rewrite"}
        plan.append(("rewrite", "lime"))
    # AOPC at equal tokens: each concept kind's (pair kind, concept kind, method) against words
    pairs = [("pair", "clusters", m) for m in ("lime", "kernelshap")]
    pairs += [(f"pair-{k}", k, "lime") for k in ("llm", "llm-served") if k in kinds]
    wanted = [(case["case"], k, m) for k, m in plan] + [(case["case"], p, m) for p, _, m in pairs]
    if all(w in done for w in wanted):
        return  # every row of this input is stored: nothing to recompute
    missing = [(p, k, m) for p, k, m in pairs if (case["case"], p, m) not in done]
    needed = {(k, m) for _, k, m in missing} | {("words", m) for _, _, m in missing}
    exps = {}
    for kind, method in plan:
        if (case["case"], kind, method) in done and (kind, method) not in needed:
            continue  # stored, and no pair row still needs it
        t = time.perf_counter()
        kw = {**base, **kinds[kind], "method": method}
        if method != "anchors":
            kw["budget"] = 16 if kind == "rewrite" else budget
        exps[kind, method] = exp = whyllm.explain(**kw)
        if (case["case"], kind, method) not in done:
            write({"case": case["case"], "set": case["set"], "kind": kind, "method": method,
                   **summary_row(exp, time.perf_counter() - t)})
    for pair, kind, method in missing:
        c, w, sizes = aopc_equal_tokens(exps[kind, method], exps["words", method], scorer)
        write({"case": case["case"], "set": case["set"], "kind": pair, "method": method,
               "aopc_concepts": c, "aopc_words": w, "tokens_removed": sizes})


def token_f1(pred: set[int], gold: set[int]) -> float:
    if not pred or not gold:
        return 0.0
    tp = len(pred & gold)
    return 0.0 if tp == 0 else 2 * tp / (len(pred) + len(gold))


def cose_case(rec: dict, model) -> dict:
    """Plausibility: the top concept's tokens vs the human span, and as many tokens of top words."""
    span = rec["selected_span"]
    q = rec["question"]
    choices = " ".join(f"{k}) {v}" for k, v in rec["choices"].items())
    template = "Question: {text}\nChoices: " + choices.replace("{", "(").replace("}", ")") + "\nAnswer:"
    kw = {"model": model, "template": template, "method": "kernelshap", "seed": 0}
    cexp = whyllm.explain(q, " " + rec["answer_text"], features="concepts", extractor="clusters",
                          budget=None, **kw)
    wexp = whyllm.explain(q, " " + rec["answer_text"], features="words", budget=max(32, len(q.split()) + 3),
                          **kw)
    c_inp, w_inp = objective_for(cexp, model).input, objective_for(wexp, model).input
    lo = len(template.split("{text}")[0])
    s = q.find(span)
    gold = {i for i, (a, b) in enumerate(model.encode(c_inp.prompt).offsets)
            if b > a and lo + s <= a < lo + s + len(span)}
    top = token_sets(cexp, c_inp)[0]
    words: set[int] = set()
    for ws in token_sets(wexp, w_inp):
        if len(words | ws) <= len(top):
            words |= ws
    return {"case": f"cose-{rec['id'][:8]}", "set": "cose", "kind": "plausibility", "method": "kernelshap",
            "f1_concept": token_f1(top, gold), "f1_words": token_f1(words, gold), "tokens": len(top),
            "top_concept": cexp.features[int(cexp.ranking()[0])].text, "span": span}


def write(row: dict) -> None:
    with STORE.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "features"},
          flush=True)


def load() -> list[dict]:
    return read_jsonl(STORE)


def mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def cell(rows: list[dict], key: str, digits: int = 3) -> str:
    m = mean(rows, key)
    return "–" if np.isnan(m) else f"{m:.{digits}f}"


def empty_anchors(rows: list[dict]) -> str:
    """How many anchors are empty: the prediction held on the whole neighbourhood."""
    lens = [r["anchor_length"] for r in rows if r.get("anchor_length") is not None]
    return f"{sum(n == 0 for n in lens)} of {len(lens)}" if lens else "–"


def wins(rows: list[dict], a: str, b: str) -> str:
    d = np.array([r[a] - r[b] for r in rows])
    return f"{int((d > 1e-9).sum())} / {int((d < -1e-9).sum())} / {int((np.abs(d) <= 1e-9).sum())}"


def summarize() -> str:
    rows = load()
    lines = []
    for set_name in ("sst2", "esnli"):
        mine = [r for r in rows if r["set"] == set_name]
        if not mine:
            continue
        lines += [f"\n### {set_name}: {len({r['case'] for r in mine})} inputs\n",
                  "| features | method | inputs | features per input | target calls | extractor calls "
                  "| generator calls | LIME R² | Anchors precision | coverage | length | empty anchors "
                  "| compliance |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for kind in ("words", "clusters", "llm", "llm-served", "rewrite"):
            for method in ("lime", "kernelshap", "anchors"):
                rs = [r for r in mine if r["kind"] == kind and r["method"] == method]
                if not rs:
                    continue
                fb = sum(bool(r.get("fell_back")) for r in rs)
                name = kind + (f" ({fb} of {len(rs)} fell back)" if kind.startswith("llm") else "")
                lines.append(
                    f"| {name} | {method} | {len(rs)} | {mean(rs, 'n_features'):.1f} "
                    f"| {mean(rs, 'calls'):.1f} "
                    f"| {mean(rs, 'extractor_calls'):.1f} | {mean(rs, 'generator_calls'):.1f} "
                    f"| {cell(rs, 'r2')} | {cell(rs, 'precision')} | {cell(rs, 'coverage')} "
                    f"| {cell(rs, 'anchor_length', 2)} | {empty_anchors(rs)} | {cell(rs, 'compliance')} |")
        lines += ["", "| method | AOPC, concepts' tokens deleted | AOPC, as many tokens of top words "
                  "| inputs where concepts are higher / lower / tied |", "|---|---:|---:|---:|"]
        for pair, method in [("pair", "lime"), ("pair", "kernelshap"), ("pair-llm", "lime"),
                             ("pair-llm-served", "lime")]:
            rs = [r for r in mine if r["kind"] == pair and r["method"] == method]
            if rs:
                name = f"{method}, {pair[5:] or 'clusters'} concepts ({len(rs)} inputs)"
                lines.append(f"| {name} | {mean(rs, 'aopc_concepts'):.4f} | {mean(rs, 'aopc_words'):.4f} "
                             f"| {wins(rs, 'aopc_concepts', 'aopc_words')} |")
    cose = [r for r in rows if r["set"] == "cose"]
    if cose:
        lines += [f"\n### CoS-E plausibility: {len(cose)} questions\n",
                  "| ranking | token F1 with the human span |", "|---|---:|",
                  f"| top concept (clusters, KernelSHAP) | {mean(cose, 'f1_concept'):.3f} |",
                  f"| top words, as many tokens | {mean(cose, 'f1_words'):.3f} |",
                  f"\nQuestions where the concept's F1 is higher / lower / tied: "
                  f"{wins(cose, 'f1_concept', 'f1_words')}."]
    return "\n".join(lines) if lines else "no results yet"


def main() -> int:
    global STORE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--llm", type=int, default=10)
    ap.add_argument("--rewrite", type=int, default=5)
    ap.add_argument("--cose", type=int, default=50)
    ap.add_argument("--sets", default="sst2,esnli")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--store", type=Path, default=STORE, help="the results file")
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--served", metavar="URL", help="also the llm extractor through an OpenAI-compatible "
                    "server (llama_cpp.server serving SmolLM2's GGUF as 'smollm2'): rows llm-served")
    args = ap.parse_args()
    STORE = args.store
    if not args.summarize:
        rows = load()
        done = {(r["case"], r["kind"], r["method"]) for r in rows}
        model = whyllm.load_model(dtype="float32", cache=False, threads=args.threads)
        scorer = whyllm.load_model(dtype="float32", cache=STORE.with_suffix(".scores.sqlite"),
                                   threads=args.threads)
        served = served_smollm2(args.served) if args.served else None
        for set_name in args.sets.split(","):
            for i, case in enumerate(sst2(args.n) if set_name == "sst2" else esnli(args.n)):
                do_llm, do_rw = i < args.llm, set_name == "sst2" and i < args.rewrite
                run_case(case, model, scorer, do_llm, do_rw, done, served)
        with open(DATA / "cose" / "cose_v1.0_dev_joined.jsonl", encoding="utf-8") as fh:
            recs = [json.loads(x) for x in fh]
        recs = [r for r in recs if r["selected_span_is_substring_of_question"]
                and re.search(r"\w", r["selected_span"])][:args.cose]
        seen = {r["case"] for r in rows if r["set"] == "cose"}
        for rec in recs:
            if f"cose-{rec['id'][:8]}" not in seen:
                write(cose_case(rec, model))
    print(summarize())
    return 0


if __name__ == "__main__":
    sys.exit(main())
