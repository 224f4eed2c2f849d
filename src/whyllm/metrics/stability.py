"""Stability: do repeated runs (other seeds) give the same explanation?

Kendall's tau-b between the value vectors, and the Jaccard overlap of the top-k features
(k = ceil(20% of n), at least 1, unless given), averaged over all pairs of runs. Cf. Alvarez-Melis &
Jaakkola 2018, "On the Robustness of Interpretability Methods".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy.stats import kendalltau


def top_k(values: np.ndarray, k: int) -> set[int]:
    return set(np.argsort(-np.asarray(values), kind="stable")[:k].tolist())


def jaccard(a: set[int], b: set[int]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2:
        return 1.0
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(kendalltau(a, b).statistic)


def stability(runs: Sequence, k: int | None = None) -> dict[str, float]:
    """Mean pairwise Kendall tau and top-k Jaccard of value vectors (or explanations) over the
    same features; for explanations with standard errors, also ``interval_agreement``."""
    originals = list(runs)
    runs = [np.asarray(getattr(r, "values", r), dtype=float) for r in runs]
    if len(runs) < 2:
        raise ValueError("stability needs at least two runs")
    n = len(runs[0])
    if any(len(r) != n for r in runs):
        raise ValueError("all runs must attribute the same features")
    k = k if k is not None else max(1, math.ceil(0.2 * n))
    pairs = list(combinations(range(len(runs)), 2))
    taus = [kendall(runs[i], runs[j]) for i, j in pairs]
    jac = [jaccard(top_k(runs[i], k), top_k(runs[j], k)) for i, j in pairs]
    out = {"kendall_tau": float(np.mean(taus)), "top_k_jaccard": float(np.mean(jac)), "k": k}
    if all(getattr(r, "stderr", None) is not None for r in originals):
        out["interval_agreement"] = interval_agreement(originals)
    return out


def interval_agreement(explanations: Sequence) -> float:
    """The check of the stated errors against seeds: the share of (feature, pair of runs) whose two
    values differ by at most 1.96 x sqrt(se_a^2 + se_b^2). About 0.95 when the standard errors are
    honest (independent runs of one estimator); much lower means they are too small."""
    from whyllm.uncertainty import seed_agreement

    return seed_agreement([(np.asarray(e.values, dtype=float), np.asarray(e.stderr, dtype=float))
                           for e in explanations])
