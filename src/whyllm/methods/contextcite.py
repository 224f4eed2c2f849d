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
"""

from __future__ import annotations

import numpy as np

from whyllm.fits import LassoFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.objective import Objective


@METHODS.register("contextcite")
class ContextCite(Method):
    name = "contextcite"

    def __init__(self, alpha: float = 0.01) -> None:
        self.alpha = alpha

    def min_budget(self, n_features: int) -> int:
        return 3

    def default_budget(self, n_features: int) -> int:
        return max(self.min_budget(n_features), 64 + 2)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        from sklearn.linear_model import Lasso

        n = objective.n_features
        self.check_budget(n, budget)
        masks = rng.random((budget - 2, n)) >= 0.5
        ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
        full, base = (float(v) for v in objective.value(ends))
        y = objective.value(masks)
        x = masks.astype(np.float64)
        lasso = Lasso(alpha=self.alpha, fit_intercept=True, max_iter=10000).fit(x, y)
        resid = y - lasso.predict(x)
        ss_tot = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
        fit = LassoFit(r2=r2, intercept=float(lasso.intercept_), samples=len(masks),
                      distinct_samples=len(np.unique(masks, axis=0)))
        return Attribution(np.asarray(lasso.coef_, dtype=np.float64), base, full, fit)
