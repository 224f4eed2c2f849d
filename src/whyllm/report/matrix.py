"""The features x answer-tokens matrix, read for people: the answer split into sentences, each with
the columns of its tokens and its top sources (the features whose summed values over those columns
are largest)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from whyllm.features.segmenters import SEGMENTERS

if TYPE_CHECKING:
    from whyllm.explanation import Explanation


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    start: int
    end: int
    columns: tuple[int, ...]  # the matrix columns of its tokens
    values: tuple[float, ...]  # per feature: the sum of its values over those columns


def has_answer_matrix(exp: Explanation) -> bool:
    """A one-part target (continuation, greedy answer, span) with several answer tokens."""
    return (exp.matrix is not None and len(exp.outputs) > 1
            and all(o.part == 0 for o in exp.outputs))


def answer_sentences(exp: Explanation) -> list[AnswerSentence]:
    """The answer's sentences that hold at least one output column, in order."""
    if not has_answer_matrix(exp):
        return []
    answer = exp.target.texts[0]
    matrix = exp.matrix_array
    spans = SEGMENTERS.get("sentences")(answer) or [(0, len(answer))]
    out = []
    for s, e in spans:
        cols = tuple(j for j, o in enumerate(exp.outputs) if o.start < e and o.end > s and o.end > o.start)
        if cols:
            values = matrix[:, list(cols)].sum(axis=1)
            out.append(AnswerSentence(answer[s:e], s, e, cols, tuple(float(v) for v in values)))
    return out


def top_sources(sentence: AnswerSentence, exp: Explanation, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` features that most support the sentence (stable order on ties)."""
    order = np.argsort(-np.asarray(sentence.values), kind="stable")[:k]
    return [(exp.features[i].text, sentence.values[i]) for i in order]
