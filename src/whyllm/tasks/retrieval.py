"""Multi-document question answering prompts, as in "Lost in the Middle" (Liu et al. 2023).

Built from NQ-open records with their gold passage (the "oracle" file of that paper's repository):
the gold passage of one question plus other records' gold passages as distractors, drawn with a
seeded generator, the gold one at a chosen position. Documents are separated by blank lines, so
``features="paragraphs"`` makes each document one feature; the question and the instruction sit in
the fixed template. The data file is not shipped with whyllm (CC BY-SA); pass its path.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whyllm.errors import InputError

INSTRUCTION = ("Write a high-quality answer for the given question using only the provided search results "
               "(some of which might be irrelevant).")


@dataclass(frozen=True)
class RetrievalPrompt:
    """The documents (the text to attribute), the template around them, the answer, the paragraph
    that holds the gold document and the number of documents."""

    text: str
    template: str
    answer: str
    gold_index: int
    n_documents: int


def load_nq_open(path: str | Path) -> list[dict]:
    """Records of ``nq-open-oracle.jsonl.gz``: question, answers, ctxs (one gold passage)."""
    path = Path(path)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except OSError as exc:
        raise InputError(f"cannot read NQ-open records from {path}: {exc}") from exc


def _document(i: int, ctx: dict) -> str:
    return f"Document [{i}](Title: {ctx['title']}) {ctx['text']}"


def retrieval_prompt(records: list[dict], index: int, n_documents: int | None = None,
                     gold_position: int = 0, seed: int = 0, min_tokens: int | None = None,
                     count_tokens: Callable[[str], int] | None = None, per_paragraph: int = 1
                     ) -> RetrievalPrompt:
    """The prompt for ``records[index]``: its gold passage at ``gold_position`` among distractors.

    Give ``n_documents``, or ``min_tokens`` with ``count_tokens`` to add distractors until the whole
    prompt is at least that long. ``per_paragraph`` documents share a paragraph (one per line), so
    that a long prompt has fewer, larger paragraph features."""
    if n_documents is None and (min_tokens is None or count_tokens is None):
        raise InputError("give n_documents, or min_tokens together with count_tokens")
    rec = records[index]
    gold = next(c for c in rec["ctxs"] if c.get("isgold", True))
    rng = np.random.default_rng(seed)
    others = [j for j in rng.permutation(len(records)) if j != index]
    template = INSTRUCTION + "\n\n{text}\n\nQuestion: " + rec["question"] + "\nAnswer:"
    chosen: list[dict] = []

    def build(docs: list[dict]) -> str:
        pos = min(gold_position, len(docs))
        ordered = [_document(i + 1, c) for i, c in enumerate([*docs[:pos], gold, *docs[pos:]])]
        return "\n\n".join("\n".join(ordered[i:i + per_paragraph])
                             for i in range(0, len(ordered), per_paragraph))

    for j in others:
        if n_documents is not None and len(chosen) >= n_documents - 1:
            break
        if n_documents is None and count_tokens(template.replace("{text}", build(chosen))) >= min_tokens:
            break
        chosen.append(records[j]["ctxs"][0])
    text = build(chosen)
    gold_paragraph = min(gold_position, len(chosen)) // per_paragraph
    return RetrievalPrompt(text, template, " " + rec["answers"][0], gold_paragraph, len(chosen) + 1)
