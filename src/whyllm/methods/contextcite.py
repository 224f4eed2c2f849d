"""ContextCite's surrogate: random ablations and a LASSO fit (Cohen-Wang, Shah, Georgiev & Madry
2024, "ContextCite: Attributing Model Generation to Context").

Each ablation keeps every source independently with probability 1/2; a LASSO (L1 penalty
``alpha``, as ContextCite's default 0.01, with intercept) regresses the explained value on the
keep-masks, and its coefficients are the attributions. ContextCite's default is 64 ablations (its
paper also reports 32). The full input and the empty one are scored besides, for the base and full
values. The fit reports the surrogate's R^2 on its ablations.

The L1 penalty is what lets ContextCite ablate fewer times than there are sources (its paper
attributes to hundreds of sentences with 32-256 ablations, the effect being sparse), so the budget's
floor is 3 evaluations (full, empty, one ablation), not one sample per source as for LIME.

Uncertainty: the LASSO has no simple sampling theory (its selection is not smooth), so its
standard errors come from refitting it on ``replicates`` bootstrap resamples of the ablations
(Efron & Tibshirani 1993); no model call.
"""

from __future__ import annotations

import numpy as np

from whyllm import uncertainty
from whyllm.fits import LassoFit
from whyllm.methods.base import METHODS, Attribution, Method, Session
from whyllm.objective import Objective

ESTIMAND = "the LASSO surrogate's coefficients in the limit of infinitely many ablations"


def ablations(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` ablation masks, each source kept with probability 1/2 (row-wise, so prefixes agree)."""
    return rng.random((count, n)) >= 0.5


def lasso_fit(x: np.ndarray, y: np.ndarray, alpha: float):
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=True, max_iter=10000).fit(x, y)


class ContextCiteSession(Session):
    """One explanation's stream of ablations."""

    def __init__(self, method: ContextCite, objective: Objective, rng: np.random.Generator) -> None:
        self.method, self.objective, self.rng = method, objective, rng
        n = objective.n_features
        self.masks = np.zeros((0, n), dtype=bool)
        ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
        self.full, self.base = (float(v) for v in objective.value(ends))

    def estimate(self, budget: int) -> Attribution:
        n = self.objective.n_features
        if len(self.masks) < budget - 2:
            self.masks = np.vstack([self.masks, ablations(n, budget - 2 - len(self.masks), self.rng)])
        masks = self.masks[: budget - 2]
        y = self.objective.value(masks)
        x = masks.astype(np.float64)
        lasso = lasso_fit(x, y, self.method.alpha)
        resid = y - lasso.predict(x)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
        fit = LassoFit(r2=r2, intercept=float(lasso.intercept_), samples=len(masks),
                       distinct_samples=len(np.unique(masks, axis=0)))
        coef = np.asarray(lasso.coef_, dtype=np.float64)
        return Attribution(coef, self.base, self.full, fit, uncertainty=self.bootstrap(x, y, coef))

    def bootstrap(self, x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> uncertainty.Uncertainty:
        """The LASSO refit on ``replicates`` resamples of the ablations (no model call)."""
        m = len(x)
        if m < 3:
            return uncertainty.unknown(coef, "bootstrap", ESTIMAND, {"samples": int(m)})
        reps = []
        for _ in range(self.method.replicates):
            idx = self.rng.integers(0, m, size=m)
            reps.append(lasso_fit(x[idx], y[idx], self.method.alpha).coef_)
        return uncertainty.from_replicates(coef, np.array(reps), ESTIMAND, record={"samples": int(m)})


@METHODS.register("contextcite")
class ContextCite(Method):
    name = "contextcite"
    sampled = True

    def __init__(self, alpha: float = 0.01, replicates: int = 200) -> None:
        self.alpha = alpha
        self.replicates = int(replicates)

    def min_budget(self, n_features: int) -> int:
        return 3

    def default_budget(self, n_features: int) -> int:
        return max(self.min_budget(n_features), 64 + 2)

    def session(self, objective: Objective, rng: np.random.Generator) -> ContextCiteSession:
        return ContextCiteSession(self, objective, rng)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        self.check_budget(objective.n_features, budget)
        return self.session(objective, rng).estimate(budget)
