"""Faithfulness: does removing what the explanation ranks highest change the output?

* Comprehensiveness and sufficiency (DeYoung et al. 2020, "ERASER: A Benchmark to Evaluate
  Rationalized NLP Models"): p(full) - p(top-k% removed), and p(full) - p(only top-k% kept), at
  k = 1, 5, 10, 20, 50 %; their means over the bins are the AOPC scores (Samek et al. 2017).
  Higher comprehensiveness and lower sufficiency are better.
* Deletion and insertion AUC (Petsiuk, Das & Saenko 2018, "RISE"): the probability curve while
  features are removed (resp. inserted into an empty input) in ranked order, integrated over the
  fraction of features with the trapezoid rule. Lower deletion and higher insertion are better.

Every function takes ``prob(masks) -> probabilities`` (True = kept), so it is testable on any
hand-written function; ``k`` features for a bin is ceil(k% * n), at least 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

ProbFn = Callable[[np.ndarray], np.ndarray]
BINS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)


def bin_sizes(n: int, bins: Sequence[float] = BINS) -> list[int]:
    return [min(n, max(1, math.ceil(b * n - 1e-9))) for b in bins]


def comprehensiveness(prob: ProbFn, order: np.ndarray, bins: Sequence[float] = BINS) -> np.ndarray:
    n = len(order)
    masks = np.ones((len(bins) + 1, n), dtype=bool)
    for i, k in enumerate(bin_sizes(n, bins), start=1):
        masks[i, order[:k]] = False
    p = prob(masks)
    return p[0] - p[1:]


def sufficiency(prob: ProbFn, order: np.ndarray, bins: Sequence[float] = BINS) -> np.ndarray:
    n = len(order)
    masks = np.zeros((len(bins) + 1, n), dtype=bool)
    masks[0] = True
    for i, k in enumerate(bin_sizes(n, bins), start=1):
        masks[i, order[:k]] = True
    p = prob(masks)
    return p[0] - p[1:]


def order_curve(prob: ProbFn, order: np.ndarray, insert: bool) -> np.ndarray:
    """The target's probability as the features in ``order`` are deleted one by one from the full
    input, or (``insert``) inserted one by one into the empty one (Petsiuk et al. 2018, RISE)."""
    n = len(order)
    masks = np.full((n + 1, n), not insert, dtype=bool)
    for k in range(1, n + 1):
        masks[k, order[:k]] = insert
    return prob(masks)


def deletion_curve(prob: ProbFn, order: np.ndarray) -> np.ndarray:
    return order_curve(prob, order, insert=False)


def insertion_curve(prob: ProbFn, order: np.ndarray) -> np.ndarray:
    return order_curve(prob, order, insert=True)


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at fractions 0, 1/n, ..., 1 (trapezoid rule)."""
    curve = np.asarray(curve, dtype=np.float64)
    if len(curve) < 2:
        return float(curve[0]) if len(curve) else 0.0
    return float(np.sum((curve[1:] + curve[:-1]) / 2.0) / (len(curve) - 1))


@dataclass(frozen=True)
class Faithfulness:
    """All faithfulness scores of one explanation (in probability units)."""

    comprehensiveness: dict[str, float]
    sufficiency: dict[str, float]
    aopc_comprehensiveness: float
    aopc_sufficiency: float
    deletion_auc: float
    insertion_auc: float

    def to_dict(self) -> dict:
        return asdict(self)


def faithfulness(prob: ProbFn, order: np.ndarray, bins: Sequence[float] = BINS) -> Faithfulness:
    order = np.asarray(order)
    comp = comprehensiveness(prob, order, bins)
    suff = sufficiency(prob, order, bins)
    names = [f"{round(b * 100)}%" for b in bins]
    return Faithfulness(
        comprehensiveness=dict(zip(names, map(float, comp))),
        sufficiency=dict(zip(names, map(float, suff))),
        aopc_comprehensiveness=float(np.mean(comp)),
        aopc_sufficiency=float(np.mean(suff)),
        deletion_auc=auc(deletion_curve(prob, order)),
        insertion_auc=auc(insertion_curve(prob, order)),
    )
