"""How sure an explanation is: a standard error and a 95 % interval on every sampled value, and
which of its top-k sets are settled.

Three sources, each the estimator's own where it has one:

* **exact**: a complete enumeration (KernelSHAP with every coalition) or a deterministic method
  (occlusion): zero width.
* **sandwich**: the regression estimators' central limit theorem. KernelSHAP's sampled coalitions
  are i.i.d. complementary pairs; its constrained weighted least squares is an M-estimator, so its
  covariance is the sandwich ``H^-1 (sum_j psi_j psi_j^T) H^-1`` over the drawn pairs (Covert & Lee
  2021, "Improving KernelSHAP: Practical Shapley Value Estimation via Linear Regression", Sec. 4),
  with the small-sample (HC3, MacKinnon & White 1985) correction of the residuals.
* **bootstrap**: LIME and ContextCite's LASSO refit on B resamples of the drawn samples (Efron &
  Tibshirani 1993); it costs no model call.

Rank certainty (:func:`top_set_probabilities`): draws from the estimate's sampling distribution
(the normal with the sandwich covariance, or the bootstrap replicates) give, for each k, the
probability that the top-k *set* is the one shown. A set is *certain* at 95 % when that
probability is at least 0.95; ``certain_top`` is the largest such k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

LEVEL = 0.95
#: the largest k whose top-k set is checked
MAX_TOP = 10
#: draws of the sampling distribution for the top-k probabilities
DRAWS = 2000


@dataclass(frozen=True)
class Uncertainty:
    """Per-feature standard errors and intervals, the per-cell standard errors of the matrix, and
    the probability that each top-k set (k = 1, 2, ...) is right."""

    kind: str
    estimand: str
    stderr: np.ndarray
    low: np.ndarray
    high: np.ndarray
    top_sets: tuple[float, ...] = ()
    matrix_stderr: np.ndarray | None = None
    level: float = LEVEL
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def certain_top(self) -> int:
        """The largest k whose top-k set is certain at the level (0: not even the first)."""
        ks = [k for k, p in enumerate(self.top_sets, start=1) if p >= self.level]
        return max(ks, default=0)

    def summary(self) -> dict[str, Any]:
        """What an explanation keeps besides the arrays (JSON)."""
        return {"kind": self.kind, "estimand": self.estimand, "level": self.level,
                "top_sets": [round(float(p), 4) for p in self.top_sets], **self.record}


def z_value(level: float = LEVEL, df: float | None = None) -> float:
    """The two-sided critical value: Student's t with ``df`` degrees of freedom, else the normal."""
    q = 0.5 + level / 2
    return float(stats.t.ppf(q, df) if df is not None and df > 0 else stats.norm.ppf(q))


def exact(values: np.ndarray, estimand: str, matrix: np.ndarray | None = None) -> Uncertainty:
    """A value with no sampling error: zero width, every top-k set certain."""
    v = np.asarray(values, dtype=np.float64)
    k = min(MAX_TOP, max(len(v) - 1, 1))
    mstd = None if matrix is None else np.zeros_like(np.asarray(matrix, dtype=np.float64))
    return Uncertainty("exact", estimand, np.zeros_like(v), v.copy(), v.copy(), (1.0,) * k, mstd)


def completeness(values: np.ndarray, gap: float, estimand: str) -> Uncertainty:
    """A path integral's error: its completeness gap (sum of values minus the change it explains),
    recorded as the error of the whole, not per value (captum's convergence delta)."""
    v = np.asarray(values, dtype=np.float64)
    nan = np.full_like(v, np.nan)
    return Uncertainty("completeness", estimand, nan, nan.copy(), nan.copy(), (), None,
                       record={"completeness_gap": float(gap)})


def unknown(values: np.ndarray, kind: str, estimand: str, record: dict[str, Any] | None = None
            ) -> Uncertainty:
    """Too few random samples to estimate a variance: the errors are unknown (NaN), no top-k set
    is certain."""
    v = np.asarray(values, dtype=np.float64)
    nan = np.full_like(v, np.nan)
    return Uncertainty(kind, estimand, nan, nan.copy(), nan.copy(), (0.0,) * min(MAX_TOP, max(len(v) - 1, 0)),
                       record=record or {})


def top_set_probabilities(values: np.ndarray, draws: np.ndarray) -> tuple[float, ...]:
    """For k = 1..min(MAX_TOP, n - 1): the share of ``draws`` (rows: plausible value vectors) whose
    top-k set equals that of ``values``."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2 or len(draws) == 0:
        return ()
    order = np.argsort(-v, kind="stable")
    rank_of = np.argsort(np.argsort(-draws, axis=1, kind="stable"), axis=1)  # rank of each feature
    out = []
    for k in range(1, min(MAX_TOP, n - 1) + 1):
        in_top = rank_of[:, order[:k]] < k  # the shown top-k features all ranked in the draw's top k
        out.append(float(in_top.all(axis=1).mean()))
    return tuple(out)


def from_covariance(values: np.ndarray, cov: np.ndarray, kind: str, estimand: str, rng: np.random.Generator,
                    df: float | None = None, matrix_stderr: np.ndarray | None = None,
                    record: dict[str, Any] | None = None, shown: np.ndarray | None = None) -> Uncertainty:
    """Normal (or t) intervals around ``values`` from a covariance matrix, and the probability of
    each top-k set of ``shown`` (the reported values; ``values`` when None) from draws of it."""
    v = np.asarray(values, dtype=np.float64)
    cov = 0.5 * (cov + cov.T)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    z = z_value(LEVEL, df)
    scale = z / z_value(LEVEL)  # heavier tails for few pairs: the draws widen as the interval does
    draws = v + scale * rng.multivariate_normal(np.zeros(len(v)), cov, size=DRAWS, method="eigh",
                                                check_valid="ignore")
    ranked = v if shown is None else np.asarray(shown, dtype=np.float64)
    return Uncertainty(kind, estimand, se, v - z * se, v + z * se, top_set_probabilities(ranked, draws),
                       matrix_stderr, record={**({"df": df} if df is not None else {}), **(record or {})})


def from_replicates(values: np.ndarray, replicates: np.ndarray, estimand: str,
                    matrix_replicates: np.ndarray | None = None,
                    record: dict[str, Any] | None = None) -> Uncertainty:
    """Bootstrap: the replicates' standard deviation, a normal interval around the estimate, and
    top-k probabilities from the replicates themselves."""
    v = np.asarray(values, dtype=np.float64)
    reps = np.asarray(replicates, dtype=np.float64)
    se = reps.std(axis=0, ddof=1) if len(reps) > 1 else np.zeros_like(v)
    z = z_value(LEVEL)
    mstd = None if matrix_replicates is None else np.asarray(matrix_replicates).std(axis=0, ddof=1)
    # the replicates scatter around their own mean; re-centred on the estimate for the set check
    centred = reps - reps.mean(axis=0) + v
    return Uncertainty("bootstrap", estimand, se, v - z * se, v + z * se, top_set_probabilities(v, centred),
                       mstd, record={"replicates": len(reps), **(record or {})})


def seed_agreement(estimates: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """How often two seeds' values agree within their stated uncertainty: the share of (feature,
    seed pair) with ``|a - b| <= z * sqrt(se_a^2 + se_b^2)``; about 0.95 when the intervals are
    honest (``whyllm.stability``)."""
    z = z_value(LEVEL)
    hits = total = 0
    for i in range(len(estimates)):
        for j in range(i + 1, len(estimates)):
            (a, sa), (b, sb) = estimates[i], estimates[j]
            width = z * np.sqrt(np.asarray(sa) ** 2 + np.asarray(sb) ** 2)
            hits += int((np.abs(np.asarray(a) - np.asarray(b)) <= width + 1e-12).sum())
            total += len(a)
    return hits / total if total else float("nan")
