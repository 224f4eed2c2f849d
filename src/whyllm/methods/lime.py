"""LIME for text: a locally weighted linear surrogate fitted on random feature removals.

Ribeiro, Singh & Guestrin 2016, "Why Should I Trust You?: Explaining the Predictions of Any
Classifier". As in the reference ``LimeTextExplainer``: each sample removes a uniformly drawn number
(1..n) of uniformly drawn features; the kernel is ``sqrt(exp(-d^2 / w^2))`` on the cosine distance
(x100) of the mask to the full input, width 25; the surrogate is ridge regression (alpha 1, with
intercept); its weighted R^2 is reported so a poor fit is visible.

By default the budget covers at least one sample per feature (n + 3 evaluations), so the surrogate
is determined by its data. ``underdetermined=True`` lifts that floor to 3, as the reference
implementation allows: the ridge penalty keeps the fit defined with fewer samples than features.
That is plain LIME on long documents at a small budget, the setting in which Focus-LIME (arXiv
2602.04607) shows its attributions dilute.
"""

from __future__ import annotations

import numpy as np

from whyllm.fits import LimeFit
from whyllm.methods.base import METHODS, Attribution, Method, sample_weights
from whyllm.objective import Objective


def cosine_distance_to_full(masks: np.ndarray) -> np.ndarray:
    """Cosine distance of each 0/1 mask to the all-ones mask: 1 - sqrt(kept / n); 1 when empty."""
    kept = masks.sum(axis=1)
    return 1.0 - np.sqrt(kept / masks.shape[1])


def weighted_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float
                   ) -> tuple[np.ndarray, float, float]:
    """Ridge with intercept under sample weights; returns coefficients, intercept, weighted R^2."""
    sw = w / w.sum()
    xm, ym = sw @ x, sw @ y
    xc, yc = x - xm, y - ym
    a = xc.T @ (xc * w[:, None]) + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(a, xc.T @ (w * yc))
    intercept = float(ym - xm @ coef)
    resid = y - (x @ coef + intercept)
    ss_tot = float(w @ (y - ym) ** 2)
    r2 = 1.0 - float(w @ resid**2) / ss_tot if ss_tot > 0 else 1.0
    return coef, intercept, r2


def weighted_ridge_columns(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """The same ridge for every column of ``y`` (samples, outputs) at once: (features, outputs).
    Ridge is linear in ``y``, so the columns' coefficients sum to those of the row sums."""
    sw = w / w.sum()
    xc, yc = x - sw @ x, y - sw @ y
    a = xc.T @ (xc * w[:, None]) + alpha * np.eye(x.shape[1])
    return np.linalg.solve(a, xc.T @ (w[:, None] * yc))


@METHODS.register("lime")
class Lime(Method):
    name = "lime"
    multi_output = True

    def __init__(self, kernel_width: float = 25.0, alpha: float = 1.0, underdetermined: bool = False) -> None:
        self.kernel_width = kernel_width
        self.alpha = alpha
        self.underdetermined = bool(underdetermined)

    def min_budget(self, n_features: int) -> int:
        floor = 3 if self.underdetermined else n_features + 3
        return min(floor, 2**n_features + 1)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        n = objective.n_features
        self.check_budget(n, budget)
        rows = budget - 1  # one evaluation is kept for the empty input (the base value)
        masks = np.ones((rows, n), dtype=bool)
        n_removed = rng.integers(1, n + 1, size=rows - 1)
        for i, k in enumerate(n_removed, start=1):
            masks[i, rng.choice(n, size=k, replace=False)] = False
        cols = objective(masks)
        y = objective.reduce(cols)
        base_cols = objective(np.zeros((1, n), dtype=bool))[0]
        base = float(objective.reduce(base_cols[None])[0])
        dist = cosine_distance_to_full(masks) * 100.0
        w = np.sqrt(np.exp(-(dist**2) / self.kernel_width**2)) * sample_weights(objective, masks)
        coef, intercept, r2 = weighted_ridge(masks.astype(np.float64), y, w, self.alpha)
        matrix = weighted_ridge_columns(masks.astype(np.float64), cols, w, self.alpha)
        fit = LimeFit(r2=r2, intercept=intercept, samples=int(rows),
                      distinct_samples=len(np.unique(masks, axis=0)))
        return Attribution(coef, base, float(y[0]), fit, matrix=matrix, base_columns=base_cols,
                           full_columns=cols[0])
