"""Whole generated answers: the per-token matrix, its cost, and a screenshot of its HTML (issue 16).

    .venv/bin/python benchmarks/answers.py --threads 2 [-n 10] [--budget 64] [--screenshot]
    .venv/bin/python benchmarks/answers.py --summarize

Prompts: NQ-open questions from 300 on (``../shared/data/nq_open``), each with its gold passage
between two distractors (drawn with seed = the question's index), asked of SmolLM2-135M-Instruct
(the local chat model, inside its chat template) to answer "in two or three sentences, using the
documents above". Its greedy answer (up to 64 tokens, to the first line break) is explained by
``whyllm.cite`` with the sentences of the three documents as sources, LIME at ``--budget`` calls.
The first ``-n`` questions whose answer has at least two sentences are kept.

For each answer the row records the matrix's shape, the target calls of the explanation, and the
target calls of the *sequence-level* explanation: the same method and seed run on a one-column
objective (the answer's summed log-probability, what whyllm explained before matrices existed) on a
fresh meter. The two must be equal, and the matrix's row sums must equal the sequence-level values.
``--screenshot`` writes each explanation's HTML to ``benchmarks/results/answers/`` and the first
one's page, rendered by headless Chromium (Debian's ``chromium``), to ``docs/answer-matrix.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import screenshot
from prompts import DATA, read_jsonl

import whyllm
from whyllm.cost import CostMeter
from whyllm.engine import make_method, objective_for
from whyllm.report.matrix import answer_sentences
from whyllm.tasks.retrieval import load_nq_open

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "benchmarks" / "results" / "answers.jsonl"
PAGES = ROOT / "benchmarks" / "results" / "answers"
SHOT = ROOT / "docs" / "answer-matrix.png"
TEMPLATE = ("{context}\n\nQuestion: {query}\nAnswer the question in two or three sentences, using the "
            "documents above.")
FIRST = 300


class SequenceLevel:
    """The objective reduced to one column: the summed log-probability of the whole answer."""

    def __init__(self, objective) -> None:
        self.objective = objective
        self.progress = False

    @property
    def n_features(self) -> int:
        return self.objective.n_features

    @property
    def evaluations(self) -> int:
        return self.objective.evaluations

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        return self.objective.value(masks)[:, None]

    def value(self, masks: np.ndarray) -> np.ndarray:
        return self.objective.value(masks)

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        return np.asarray(cols).sum(axis=1)


def documents(records: list[dict], i: int) -> list[dict]:
    rng = np.random.default_rng(i)
    others = [records[j]["ctxs"][0] for j in rng.choice(len(records), 2, replace=False) if j != i]
    gold = records[i]["ctxs"][0]
    return [{"title": d["title"], "text": d["text"]} for d in (others[0], gold, others[-1])]


def shoot(html: Path, png: Path) -> None:
    screenshot(html.resolve().as_uri(), png)


def run(args: argparse.Namespace) -> None:
    model = whyllm.load_model("smollm2-135m-instruct", threads=args.threads, cache=False)
    records = load_nq_open(DATA / "nq_open" / "nq-open-oracle.jsonl.gz")
    # a second copy scores the sequence-level run, so that nothing it needs is cached already
    seq_model = whyllm.load_model("smollm2-135m-instruct", threads=args.threads, cache=False)
    done = {r["question_index"]: r for r in load()}
    i = max([FIRST - 1, *done]) + 1
    kept = sum(r["kept"] for r in done.values())
    while kept < args.n:
        rec = records[i]
        t = time.perf_counter()
        exp = whyllm.cite(documents(records, i), rec["question"], model=model, sources="sentences",
                          method="lime", budget=args.budget, template=TEMPLATE, chat=True, max_new_tokens=64)
        seconds = time.perf_counter() - t
        answer = "".join(exp.target.texts)
        sentences = answer_sentences(exp)
        row = {"question_index": i, "question": rec["question"], "answer": answer,
               "kept": len(sentences) >= 2, "sentences": len(sentences), "seconds": seconds}
        if row["kept"]:
            meter = CostMeter()
            sequence = make_method("lime", {}).attribute(SequenceLevel(objective_for(exp, seq_model, meter)),
                                                         args.budget, np.random.default_rng(exp.seed))
            m = exp.matrix_array
            row.update({"features": m.shape[0], "answer_tokens": m.shape[1], "calls": exp.cost.sequences,
                        "tokens": exp.cost.tokens, "sequence_level_calls": meter.sequences,
                        "row_sum_error": float(np.max(np.abs(m.sum(axis=1) - sequence.values))),
                        "value_error": float(np.max(np.abs(np.asarray(exp.values) - sequence.values)))})
            PAGES.mkdir(parents=True, exist_ok=True)
            page = PAGES / f"q{i}.html"
            exp.to_html(str(page))
            if args.screenshot and kept == 0:
                shoot(page, SHOT)
            kept += 1
        with STORE.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        print(i, {k: v for k, v in row.items() if k not in ("question", "answer")}, flush=True)
        i += 1


def load() -> list[dict]:
    return read_jsonl(STORE)


def summarize() -> str:
    rows = [r for r in load() if r["kept"]]
    if not rows:
        return "no results yet"
    lines = ["| question | answer sentences | features × answer tokens | target calls | sequence-level calls "
             "| max row-sum error | seconds |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['question'][:48]} | {r['sentences']} | {r['features']} × {r['answer_tokens']} "
                     f"| {r['calls']} | {r['sequence_level_calls']} | {r['row_sum_error']:.1e} "
                     f"| {r['seconds']:.1f} |")
    same = sum(r["calls"] == r["sequence_level_calls"] for r in rows)
    calls, seconds = np.mean([r["calls"] for r in rows]), np.mean([r["seconds"] for r in rows])
    lines.append(f"\n{len(rows)} answers; the matrix cost the same target calls as the sequence-level "
                 f"explanation on {same} of {len(rows)}; mean {calls:.1f} calls, {seconds:.1f} s")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--screenshot", action="store_true")
    ap.add_argument("--shot-only", action="store_true", help="only redo the screenshot of the first page")
    ap.add_argument("--summarize", action="store_true")
    args = ap.parse_args()
    if args.shot_only:
        first = next(r for r in load() if r["kept"])
        shoot(PAGES / f"q{first['question_index']}.html", SHOT)
    elif not args.summarize:
        run(args)
    print(summarize())
    return 0


if __name__ == "__main__":
    sys.exit(main())
