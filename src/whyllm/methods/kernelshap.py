"""KernelSHAP: Shapley values as the solution of a weighted linear regression, with the
sandwich covariance of its sampled pairs.

Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions": coalitions of size s
carry the Shapley kernel weight (n-1) / (C(n,s) s (n-s)), and efficiency, base + sum(values) =
full, is imposed exactly as a constraint of the regression. Which coalitions are evaluated is the
design (:mod:`whyllm.methods.shapley_design`): complementary pairs (Covert & Lee 2021, "Improving
KernelSHAP") drawn in proportion to the kernel, each distinct pair weighted by kernel weight over
its inclusion probability (``ckernel``, Olsen & Jullum 2024); ``design="kernel"`` weights draws as
shap does, ``design="leverage"`` samples every size equally (Leverage SHAP, Musco & Witter 2025).
Strata the budget covers are enumerated; with all of them
(2^n <= budget, n <= 12 or so) the result is the exact Shapley value, with zero-width intervals.

Uncertainty: the sampled pairs are i.i.d., so the estimate's covariance is the sandwich of its pair
scores (:mod:`whyllm.methods.sandwich`; Covert & Lee 2021, Sec. 4), per value and per matrix cell;
the estimand is the Shapley value of the explained function.
"""

from __future__ import annotations

import numpy as np

from whyllm import uncertainty
from whyllm.errors import InputError
from whyllm.fits import KernelShapFit
from whyllm.methods.base import METHODS, Attribution, Method, Session, sample_weights
from whyllm.methods.sandwich import hc_divisor, leverages, sandwich, sandwich_columns
from whyllm.methods.shapley_design import DESIGNS, PairStream, build, shares
from whyllm.objective import Objective

ESTIMAND = "Shapley values of the explained value"
#: residuals divided by (1 - leverage) ** HC_POWER (:func:`whyllm.methods.sandwich.hc_divisor`)
HC_POWER = 0.75


def constraint_lift(n: int) -> np.ndarray:
    """(n, n-1): the n values from the n - 1 free ones (the last is the total minus their sum)."""
    return np.vstack([np.eye(n - 1), -np.ones((1, n - 1))])


def solve_constrained(z: np.ndarray, y: np.ndarray, w: np.ndarray, base, full) -> np.ndarray:
    """Weighted least squares of y - base on z with sum(phi) = full - base imposed exactly.

    ``y`` is (samples,) with scalar ``base``/``full``, or (samples, outputs) with one base and full
    value per output: then all columns are solved at once (one factorisation, many right-hand
    sides) and efficiency holds per column."""
    n = z.shape[1]
    total = np.asarray(full, dtype=np.float64) - np.asarray(base, dtype=np.float64)
    if n == 1:
        return np.asarray(total, dtype=np.float64).reshape(1, *np.shape(total))
    zf = z.astype(np.float64)
    x = zf[:, :-1] - zf[:, -1:]
    last = zf[:, -1] if y.ndim == 1 else zf[:, -1:]
    t = y - base - last * total
    sw = np.sqrt(w)
    head, *_ = np.linalg.lstsq(x * sw[:, None], t * (sw if y.ndim == 1 else sw[:, None]), rcond=None)
    return np.concatenate([head, (total - head.sum(axis=0))[None]], axis=0)


def pair_scores(x_of, resid_of, factor: np.ndarray, drawn: np.ndarray, h_inv: np.ndarray,
                w_of) -> np.ndarray:
    """Each drawn pair's score ``d_j (x(z) e(z) + x(~z) e(~z))``. The pair is the unit that was
    drawn, so its residuals are inflated by the pair's leverage (the sum of its two rows'), as for
    clustered samples (Bell & McCaffrey 2002), with the power ``HC_POWER``."""
    x = x_of(drawn)  # x(~z) = -x(z): a pair's two rows lie on one line
    h = np.minimum(sum(leverages(x_of(m), w_of(m), h_inv) for m in (drawn, ~drawn)), 0.99)
    e = resid_of(drawn) - resid_of(~drawn)
    e = e / hc_divisor(h, HC_POWER) if e.ndim == 1 else e / hc_divisor(h, HC_POWER)[:, None]
    out = x * e[:, None] if e.ndim == 1 else x[:, :, None] * e[:, None, :]
    d = factor * len(factor)
    return out * (d[:, None] if out.ndim == 2 else d[:, None, None])


def pair_df(pairs: int, n: int) -> int:
    """Degrees of freedom of the t interval: the pairs less the free values, at least 1."""
    return max(pairs - (n - 1), 1)


class KernelShapSession(Session):
    """One explanation's stream of pairs; :meth:`estimate` at any budget continues it."""

    def __init__(self, method: KernelShap, objective: Objective, rng: np.random.Generator) -> None:
        self.method, self.objective, self.rng = method, objective, rng
        n = objective.n_features
        self.stream = PairStream(n, shares(n, method.design), rng)
        ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
        self.end_cols = objective(ends)
        self.full, self.base = (float(v) for v in objective.reduce(self.end_cols))

    def estimate(self, budget: int) -> Attribution:
        objective, n = self.objective, self.objective.n_features
        design = build(n, budget - 2, self.method.design, self.stream)
        z, w = design.rows()
        cols = objective(z) if len(z) else np.zeros((0, self.end_cols.shape[1]))
        if len(z):
            w = w * sample_weights(objective, z)
        y = objective.reduce(cols) if len(z) else np.zeros(0)
        values = solve_constrained(z, y, w, self.base, self.full)
        matrix = solve_constrained(z, cols, w, self.end_cols[1], self.end_cols[0])
        fit = KernelShapFit(exact=bool(design.exact), coalitions=int(len(z) + 2))
        unc = self.uncertainty(design, z, w, values, matrix)
        return Attribution(values, self.base, self.full, fit, matrix=matrix, base_columns=self.end_cols[1],
                           full_columns=self.end_cols[0], uncertainty=unc)

    def uncertainty(self, design, z, w, values, matrix) -> uncertainty.Uncertainty:
        n = len(values)
        if design.exact or n == 1 or len(design.drawn) < 2:
            if design.exact:
                return uncertainty.exact(values, ESTIMAND, matrix)
            return uncertainty.unknown(values, "sandwich", ESTIMAND, {"pairs": len(design.drawn)})
        objective = self.objective
        x_all = z[:, :-1].astype(np.float64) - z[:, -1:].astype(np.float64)
        distinct = len(np.unique(design.drawn, axis=0))
        if distinct < n or np.linalg.matrix_rank(x_all * np.sqrt(w)[:, None]) < n - 1:
            # the values are not determined, or no residual is left to measure the noise with
            return uncertainty.unknown(values, "sandwich", ESTIMAND, {"pairs": len(design.drawn),
                                                                      "underdetermined": True})
        h_inv = np.linalg.pinv(x_all.T @ (x_all * w[:, None]))
        weight = {m.tobytes(): wi for m, wi in zip(z, w)}

        def x_of(m):
            return m[:, :-1].astype(np.float64) - m[:, -1:].astype(np.float64)

        def w_of(m):
            return np.array([weight[r.tobytes()] for r in m])

        def resid_of(m):
            return objective.value(m) - self.base - m.astype(np.float64) @ values

        def resid_cols_of(m):
            return objective(m) - self.end_cols[1] - m.astype(np.float64) @ matrix

        factor = design.factor
        lift = constraint_lift(n)
        scores = pair_scores(x_of, resid_of, factor, design.drawn, h_inv, w_of)
        cov = lift @ sandwich(h_inv, scores) @ lift.T
        col_scores = pair_scores(x_of, resid_cols_of, factor, design.drawn, h_inv, w_of)
        mstd = np.sqrt(np.clip(sandwich_columns(h_inv, col_scores, lift), 0, None))
        m = len(design.drawn)
        return uncertainty.from_covariance(values, cov, "sandwich", ESTIMAND, self.rng, df=pair_df(m, n),
                                           matrix_stderr=mstd, record={"pairs": int(m)})


@METHODS.register("kernelshap")
class KernelShap(Method):
    name = "kernelshap"
    multi_output = True
    sampled = True

    def __init__(self, design: str = "ckernel") -> None:
        if design not in DESIGNS:
            raise InputError(f"kernelshap's design is one of {', '.join(DESIGNS)}; got {design!r}")
        self.design = design

    def min_budget(self, n_features: int) -> int:
        return min(n_features + 2, 2**n_features)

    def session(self, objective: Objective, rng: np.random.Generator) -> KernelShapSession:
        return KernelShapSession(self, objective, rng)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        self.check_budget(objective.n_features, budget)
        return self.session(objective, rng).estimate(budget)
