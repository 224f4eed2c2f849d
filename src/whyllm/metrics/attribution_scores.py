"""The two scores ContextCite reports for context attributions (Cohen-Wang et al. 2024, section 4):

* **top-k log-probability drop**: the explained value on the full input minus its value with the
  ``k`` highest-ranked sources removed (higher is better: the sources that matter were found);
* **linear datamodeling score (LDS)** (Park et al. 2023, "TRAK"): the Spearman correlation, over
  random ablations (each source kept with probability 1/2, a private seeded generator), between
  the value the attributions predict (base value plus the values of the kept sources) and the value
  the model gives. 1 means the attributions rank every ablation as the model does.

Both take ``value(masks) -> values`` (True = kept), so they are testable on any function; for an
explanation, :func:`whyllm.engine.objective_for` gives it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

ValueFn = Callable[[np.ndarray], np.ndarray]


def logprob_drop(value: ValueFn, order: Sequence[int], n: int, ks: Sequence[int] = (1, 3, 5)
                 ) -> dict[int, float]:
    """{k: value(full) - value(top k removed)} for each k (k capped at ``n``)."""
    masks = np.ones((len(ks) + 1, n), dtype=bool)
    for i, k in enumerate(ks, start=1):
        masks[i, list(order[:min(k, n)])] = False
    v = value(masks)
    return {int(k): float(v[0] - v[i]) for i, k in enumerate(ks, start=1)}


def ablation_masks(n: int, count: int, seed: int) -> np.ndarray:
    """``count`` random keep-masks, each source kept with probability 1/2 (held out: own seed)."""
    return np.random.default_rng(seed).random((count, n)) >= 0.5


def lds(value: ValueFn, values: Sequence[float], base: float, count: int = 64, seed: int = 314159) -> float:
    """Spearman correlation of predicted and actual values on ``count`` random ablations."""
    vals = np.asarray(values, dtype=np.float64)
    masks = ablation_masks(len(vals), count, seed)
    predicted = base + masks.astype(np.float64) @ vals
    actual = np.asarray(value(masks), dtype=np.float64)
    if np.ptp(predicted) == 0 or np.ptp(actual) == 0:
        return float("nan")
    return float(stats.spearmanr(predicted, actual).statistic)
