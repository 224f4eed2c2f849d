"""Focus on long documents, as Focus-LIME (arXiv 2602.04607) measures it (issue 16).

    .venv/bin/python benchmarks/focus_longdoc.py --threads 2 [-n 20] [--budget 32]
    .venv/bin/python benchmarks/focus_longdoc.py --summarize

Prompts: 20 NQ-open questions (``../shared/data/nq_open``, questions 200-219), each with its gold
Wikipedia passage among 20 distractors (other questions' gold passages, drawn with seed 2000 + i),
the gold one first, in the middle or last in turn: 21 passages, 2,000-2,600 words, in
``whyllm.cite``'s Lost-in-the-Middle QA prompt. The target is the gold answer (teacher-forced).
Features are the words of the context (every word, headers included).

Methods, at one fixed target budget (``--budget``, 32 target calls by default):

* ``lime``: plain word-level LIME, all its samples over every word;
* ``focus``: ``method="focus"`` with the documents as coarse units, ``keep=1``: a coarse LIME over
  the 21 documents on the target (3/8 of the budget: 12 calls), then word-level LIME inside the best
  document with the rest;
* ``focus-occ``: the same with ``coarse_method="occlusion"``: leave-one-out over the 21 documents
  (23 calls, sharing the unchanged heads), then LIME inside the best document with the other 9;
* ``focus-occ-sent``: focus-occ with a middle level (``coarse="documents,document-sentences"``):
  leave-one-out over the sentences of the best document, then LIME inside the best sentence with
  what is left (the level's full and empty inputs are remembered, so they cost the fine pass nothing);
* ``random``: a seeded random ranking of the words (what no explanation gets).

Scores, on the same model: the drop of the answer's probability (and of its log-probability) after
deleting the top 10, 50 and 100 words (``aopc10``, ``aopc50``, ``aopc100``: the AOPC points the
paper reports), and evidence recall@5: the share of the gold passage's answer words (words of the
gold passage that spell a word of a gold answer) among the 5 top-ranked words, with ``gold5``, the
share of the top 5 inside the gold passage. Rows go to ``benchmarks/results/focus_longdoc.jsonl``
(resumable).

``--confident``: the same run on 20 prompts where Gemma is confident of the gold answer, so that the
probability AOPC is not capped by a tiny p(answer) (on the 20 prompts above its mean is 0.019, and
AOPC@10 can never exceed it). The screen, two passes over a pool of questions (``--pool``, the
first 400 by default, questions 200-219 left out): p(answer | gold passage alone) for every
question, then, for the 60 best, p(answer | all 21 passages) with the gold one first, in the middle
or last in turn; the 7 best of each position (6 of the last) are kept. The screen is stored in
``focus_longdoc_confident.json`` and the rows in ``focus_longdoc_confident.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prompts import DATA, nq_documents, read_jsonl

import whyllm
from whyllm.cite import context_prompt, read_context
from whyllm.engine import objective_for
from whyllm.models.base import ScoreRequest
from whyllm.tasks.retrieval import load_nq_open

RESULTS = Path(__file__).resolve().parent / "results"
STORE = RESULTS / "focus_longdoc.jsonl"
SCREEN = RESULTS / "focus_longdoc_confident.json"
N_DOCS, FIRST = 21, 200
KS = (10, 50, 100)
KEEP = 1


POSITIONS = (0, N_DOCS // 2, N_DOCS - 1)


def case_for(records: list[dict], i: int, pos: int, n_docs: int = N_DOCS) -> dict:
    """Question ``i``'s prompt: its gold passage at ``pos`` among ``n_docs - 1`` distractors."""
    rec = records[i]
    gold = next(c for c in rec["ctxs"] if c.get("isgold", True))
    docs = nq_documents(records, i, n_docs, pos, seed=2000 + i) if n_docs > 1 else [
        {"title": gold["title"], "text": gold["text"]}]
    text, template, spans = context_prompt(read_context(docs), rec["question"])
    pos = min(pos, n_docs - 1)
    return {"case": f"nq-{i}", "text": text, "template": template, "answer": " " + rec["answers"][0],
            "answers": rec["answers"], "gold_span": (spans[pos]["start"], spans[pos]["end"]),
            "gold_pos": pos}


def cases(records: list[dict], n: int) -> list[dict]:
    return [case_for(records, FIRST + p, POSITIONS[p % 3]) for p in range(n)]


def p_answer(model, batch: list[dict]) -> list[float]:
    """p(gold answer | prompt) of each case, teacher-forced: one forward each."""
    reqs = [ScoreRequest(model.encode(c["template"].replace("{text}", c["text"])).ids,
                         model.encode_continuation(c["answer"])) for c in batch]
    return [float(np.exp(v.sum())) for v in model.score(reqs, progress=True)]


def screen(records: list[dict], model, pool: int, n: int) -> list[dict]:
    """The ``n`` questions of the pool on which Gemma is most confident of the gold answer with all
    21 passages, balanced over the three gold positions (see the module docstring)."""
    if SCREEN.exists():
        return json.loads(SCREEN.read_text(encoding="utf-8"))
    ids = [i for i in range(pool) if not FIRST <= i < FIRST + 20]
    alone = p_answer(model, [case_for(records, i, 0, n_docs=1) for i in ids])
    best = [ids[j] for j in np.argsort(-np.asarray(alone), kind="stable")[:60]]
    full_cases = [case_for(records, i, POSITIONS[r % 3]) for r, i in enumerate(best)]
    full = p_answer(model, full_cases)
    picked = []
    for k, pos in enumerate(POSITIONS):  # rank r of position k runs r-th (positions interleaved)
        at = sorted((j for j, c in enumerate(full_cases) if c["gold_pos"] == pos), key=lambda j: -full[j])
        picked += [{"question": best[j], "gold_pos": pos, "p_alone": alone[ids.index(best[j])],
                    "p_full": full[j], "order": (r, k)} for r, j in enumerate(at[:n // 3 + (k < n % 3)])]
    picked.sort(key=lambda s: s.pop("order"))
    SCREEN.write_text(json.dumps(picked, indent=1) + "\n", encoding="utf-8")
    return picked


def _norm(word: str) -> str:
    return re.sub(r"\W+", "", word.lower())


def evidence(case: dict, words) -> tuple[list[int], list[int]]:
    """Indices of the gold passage's words, and of those that spell a word of a gold answer."""
    s, e = case["gold_span"]
    inside = [j for j, w in enumerate(words) if s <= w.start and w.end <= e]
    answer_words = {_norm(w) for a in case["answers"] for w in a.split()} - {""}
    return inside, [j for j in inside if _norm(words[j].text) in answer_words]


def scores(case: dict, exp: whyllm.Explanation, order: np.ndarray, scorer) -> dict:
    value = objective_for(exp, scorer).value
    n = len(exp.features)
    masks = np.ones((len(KS) + 1, n), dtype=bool)
    for i, k in enumerate(KS, start=1):
        masks[i, order[:k]] = False
    logp = np.asarray(value(masks), dtype=np.float64)
    prob = np.exp(logp)
    inside, ev = evidence(case, exp.features)
    top5 = set(int(j) for j in order[:5])
    row = {"n_words": n, "n_evidence": len(ev), "p_full": float(prob[0]),
           "top10": [exp.features[int(j)].text for j in order[:10]],
           "recall5": (len(top5 & set(ev)) / len(ev)) if ev else float("nan"),
           "gold5": len(top5 & set(inside)) / 5}
    for i, k in enumerate(KS, start=1):
        row[f"aopc{k}"] = float(prob[0] - prob[i])
        row[f"logdrop{k}"] = float(logp[0] - logp[i])
    return row


def run_case(case: dict, method: str, model, scorer, budget: int, with_random: bool) -> list[dict]:
    kw = {"template": case["template"], "seed": 0, "features": "words", "budget": budget,
          "underdetermined": True}  # fewer samples than words, as the paper's plain LIME
    t = time.perf_counter()
    if method == "lime":
        exp = whyllm.explain(case["text"], case["answer"], model=model, method="lime", **kw)
    elif method == "focus":
        exp = whyllm.explain(case["text"], case["answer"], model=model, method="focus", inner="lime",
                             coarse="documents", keep=KEEP, coarse_budget=budget * 3 // 8, **kw)
    elif method == "focus-occ":  # leave-one-out over the documents (23 calls), LIME inside the best
        exp = whyllm.explain(case["text"], case["answer"], model=model, method="focus", inner="lime",
                             coarse="documents", coarse_method="occlusion", keep=KEEP, **kw)
    else:  # focus-occ-sent: the same, with a middle level: leave-one-out over the best one's sentences
        exp = whyllm.explain(case["text"], case["answer"], model=model, method="focus", inner="lime",
                             coarse="documents,document-sentences", coarse_method="occlusion", keep=KEEP,
                             **kw)
    seconds = time.perf_counter() - t
    order = np.argsort(-np.asarray(exp.values), kind="stable")
    row = {"case": case["case"], "method": method, "calls": exp.cost.sequences, "seconds": seconds,
           "gold_pos": case["gold_pos"], **scores(case, exp, order, scorer)}
    if method.startswith("focus"):
        s0, e0 = case["gold_span"]
        row["focus_has_gold"] = any(s0 <= s < e0 for s, e in exp.fit.focus_spans)
        row["levels"] = [{k: v for k, v in lv.items() if k != "features"} for lv in exp.fit.levels]
    if with_random:  # the random ranking, once per prompt, over the same words
        rng = np.random.default_rng(7)
        rand = {"case": case["case"], "method": "random", "calls": 0, "seconds": 0.0,
                "gold_pos": case["gold_pos"],
                **scores(case, exp, rng.permutation(len(exp.features)), scorer)}
        return [row, rand]
    return [row]


def summarize(store: Path = STORE) -> str:
    rows = read_jsonl(store)
    methods = [m for m in ("lime", "focus", "focus-occ", "focus-occ-sent", "random")
               if any(r["method"] == m for r in rows)]
    per_method = [{r["case"] for r in rows if r["method"] == m} for m in methods]
    done = set.intersection(*per_method) if rows else set()
    if not done:
        return "no results yet"
    words = np.mean([r["n_words"] for r in rows if r["case"] in done and r["method"] == "lime"])
    lines = [f"\n{len(done)} prompts of {N_DOCS} passages ({words:.0f} words on average)\n",
             "| method | target calls | seconds | AOPC@10 ↑ | AOPC@50 ↑ | AOPC@100 ↑ | log-prob drop@10 ↑ "
             "| evidence recall@5 ↑ | top 5 in gold passage |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by = {}
    for m in methods:
        rs = [r for r in rows if r["method"] == m and r["case"] in done]
        by[m] = {r["case"]: r for r in rs}

        def avg(key: str, rs=rs) -> float:
            return float(np.nanmean([r[key] for r in rs]))

        lines.append(f"| {m} | {avg('calls'):.1f} | {avg('seconds'):.1f} | {avg('aopc10'):.4f} "
                     f"| {avg('aopc50'):.4f} | {avg('aopc100'):.4f} | {avg('logdrop10'):.3f} "
                     f"| {avg('recall5'):.3f} | {avg('gold5'):.2f} |")
    p_full = np.mean([by["lime"][c]["p_full"] for c in done])
    lines.append(f"\nmean p(answer | full prompt) {p_full:.4f}")
    for m in (m for m in methods if m.startswith("focus")):
        ratios = []
        for key in ("aopc10", "logdrop10"):
            f10, l10 = (np.mean([by[x][c][key] for c in done]) for x in (m, "lime"))
            ratios.append(f"{f10 / l10 if l10 else float('inf'):.2f}x")
        hits = sum(bool(by[m][c].get("focus_has_gold")) for c in done)
        lines.append(f"{m} / lime: AOPC@10 {ratios[0]}, log-prob drop@10 {ratios[1]}; kept the gold "
                     f"passage on {hits} of {len(done)} prompts")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--methods", default="lime,focus,focus-occ")
    ap.add_argument("--confident", action="store_true", help="the screened prompts (module docstring)")
    ap.add_argument("--pool", type=int, default=400, help="questions screened with --confident")
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    store = SCREEN.with_suffix(".jsonl") if args.confident else STORE
    if not args.summarize:
        done = {(r["case"], r["method"]) for r in read_jsonl(store)}
        model = whyllm.load_model(dtype=args.dtype, cache=False, threads=args.threads)
        scorer = whyllm.load_model(dtype=args.dtype, cache=store.with_suffix(".scores.sqlite"),
                                   threads=args.threads)
        records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
        if args.confident:
            todo = [case_for(records, s["question"], s["gold_pos"])
                    for s in screen(records, model, args.pool, args.n)]
        else:
            todo = cases(records, args.n)
        for case in todo:
            for method in args.methods.split(","):
                if (case["case"], method) in done:
                    continue
                rand = method.startswith("focus") and (case["case"], "random") not in done
                for row in run_case(case, method, model, scorer, args.budget, rand):
                    done.add((row["case"], row["method"]))
                    with store.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(row["case"], row["method"], {k: round(v, 4) for k, v in row.items()
                                                       if isinstance(v, float)}, flush=True)
    print(summarize(store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
