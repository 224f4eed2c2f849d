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

Uncertainty: the samples (all but the full input) are i.i.d., so the ridge's covariance is the
sandwich of their scores (S-LIME's central limit theorem: Zhou, Hooker & Wang 2021, "S-LIME:
Stabilized-LIME for Model Explanation", KDD; :mod:`whyllm.methods.sandwich`). The estimand is the
surrogate LIME would fit from infinitely many samples.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from whyllm import uncertainty
from whyllm.fits import LimeFit
from whyllm.methods.base import METHODS, Attribution, Method, Session, sample_weights
from whyllm.methods.sandwich import leverages, sandwich, sandwich_columns
from whyllm.objective import Objective

ESTIMAND = "LIME's surrogate in the limit of infinitely many samples"


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


def lime_rows(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` of LIME's samples: each removes a uniform number (1..n) of uniformly chosen
    features. Row i uses n + 1 uniforms, so every prefix is the same whatever the chunk sizes."""
    u = rng.random((count, n + 1))
    removed = np.minimum((u[:, 0] * n).astype(int) + 1, n)
    ranks = np.argsort(np.argsort(u[:, 1:], axis=1), axis=1)
    return ranks >= removed[:, None]


class LimeSession(Session):
    """One explanation's stream of LIME samples; :meth:`estimate` at a budget uses its first ones."""

    def __init__(self, method: Lime, objective: Objective, rng: np.random.Generator) -> None:
        self.method, self.objective, self.rng = method, objective, rng
        n = objective.n_features
        self.drawn = np.zeros((0, n), dtype=bool)
        self.base_cols = objective(np.zeros((1, n), dtype=bool))[0]
        self.base = float(objective.reduce(self.base_cols[None])[0])

    def estimate(self, budget: int) -> Attribution:
        objective, n = self.objective, self.objective.n_features
        rows = budget - 1  # one evaluation is kept for the empty input (the base value)
        if len(self.drawn) < rows - 1:
            self.drawn = np.vstack([self.drawn, lime_rows(n, rows - 1 - len(self.drawn), self.rng)])
        masks = np.vstack([np.ones((1, n), dtype=bool), self.drawn[: rows - 1]])
        cols = objective(masks)
        y = objective.reduce(cols)
        dist = cosine_distance_to_full(masks) * 100.0
        kw = self.method.kernel_width
        w = np.sqrt(np.exp(-(dist**2) / kw**2)) * sample_weights(objective, masks)
        x = masks.astype(np.float64)
        coef, intercept, r2 = weighted_ridge(x, y, w, self.method.alpha)
        matrix = weighted_ridge_columns(x, cols, w, self.method.alpha)
        fit = LimeFit(r2=r2, intercept=intercept, samples=int(rows),
                      distinct_samples=len(np.unique(masks, axis=0)))
        unc = ridge_uncertainty(x, y, cols, w, coef, matrix, self.method.alpha, self.rng)
        return Attribution(coef, self.base, float(y[0]), fit, matrix=matrix, base_columns=self.base_cols,
                           full_columns=cols[0], uncertainty=unc)


def ridge_uncertainty(x, y, cols, w, coef, matrix, alpha, rng) -> uncertainty.Uncertainty:
    """The sandwich of the weighted least squares over the i.i.d. samples (row 0, the full input,
    is fixed), HC3 residuals and t with m - p - 1 degrees of freedom. The interval is for the
    estimand, LIME's surrogate from infinitely many samples, where the penalty has vanished: it is
    built around the unpenalised fit (at small budgets the ridge's shrinkage is a bias, not noise)
    and stretched to hold the reported ridge value as well (the smallest interval holding both)."""
    m, p = len(x) - 1, x.shape[1]
    if m < 3:
        return uncertainty.unknown(coef, "sandwich", ESTIMAND, {"samples": int(m)})
    sw = w / w.sum()
    xc = x - sw @ x
    h_inv = np.linalg.pinv(xc.T @ (xc * w[:, None]))
    centre = coef + alpha * h_inv @ coef  # (H + alpha I) coef = g, so H^-1 g = coef + alpha H^-1 coef
    centre_m = matrix + alpha * h_inv @ matrix
    lev = leverages(xc, w, h_inv)[1:, None]
    e = (y - sw @ y - xc @ centre)[1:, None] / (1.0 - lev)
    cov = sandwich(h_inv, m * w[1:, None] * xc[1:] * e)
    ec = (cols - sw @ cols - xc @ centre_m)[1:] / (1.0 - lev)
    col_scores = m * (w[1:, None] * xc[1:])[:, :, None] * ec[:, None, :]
    mstd = np.sqrt(np.clip(sandwich_columns(h_inv, col_scores), 0, None))
    unc = uncertainty.from_covariance(centre, cov, "sandwich", ESTIMAND, rng, df=max(m - p - 1, 1),
                                      matrix_stderr=mstd, record={"samples": int(m)}, shown=coef)
    # the interval holds the reported (shrunk) value too
    return replace(unc, low=np.minimum(unc.low, coef), high=np.maximum(unc.high, coef))


@METHODS.register("lime")
class Lime(Method):
    name = "lime"
    multi_output = True
    sampled = True

    def __init__(self, kernel_width: float = 25.0, alpha: float = 1.0, underdetermined: bool = False) -> None:
        self.kernel_width = kernel_width
        self.alpha = alpha
        self.underdetermined = bool(underdetermined)

    def min_budget(self, n_features: int) -> int:
        floor = 3 if self.underdetermined else n_features + 3
        return min(floor, 2**n_features + 1)

    def session(self, objective: Objective, rng: np.random.Generator) -> LimeSession:
        return LimeSession(self, objective, rng)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        self.check_budget(objective.n_features, budget)
        return self.session(objective, rng).estimate(budget)
