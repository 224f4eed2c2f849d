"""KL-LUCB confidence bounds for Bernoulli precisions (Kaufmann & Kalyanakrishnan 2013, "Information
Complexity in Bandit Subset Selection"), as used by Anchors (Ribeiro et al. 2018)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def kl_bernoulli(p: float, q: float) -> float:
    p = min(1 - 1e-12, max(1e-12, p))
    q = min(1 - 1e-12, max(1e-12, q))
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def _kl_bound(p: float, level: float, upper: bool) -> float:
    """The q farthest from p (above it if ``upper``) with KL(p, q) <= level, by bisection."""
    near, far = p, (min(1.0, p + math.sqrt(level / 2.0)) if upper else max(0.0, p - math.sqrt(level / 2.0)))
    for _ in range(40):
        mid = (near + far) / 2
        if kl_bernoulli(p, mid) > level:
            far = mid
        else:
            near = mid
    return far


def kl_upper(p: float, level: float) -> float:
    """Largest q >= p with KL(p, q) <= level."""
    return _kl_bound(p, level, upper=True)


def kl_lower(p: float, level: float) -> float:
    """Smallest q <= p with KL(p, q) <= level."""
    return _kl_bound(p, level, upper=False)


def exploration_rate(n_arms: int, t: int, delta: float) -> float:
    """beta(t, delta) of KL-LUCB with the constants of the Anchors reference implementation."""
    temp = math.log(405.5 * n_arms * t**1.1 / delta)
    return temp + math.log(temp)


def kl_lucb(pull: Callable[[list[int], int], list[tuple[int, int]]], counts: np.ndarray, hits: np.ndarray,
            top_n: int, epsilon: float, delta: float, batch_size: int,
            can_pull: Callable[[], bool]) -> list[int]:
    """Indices of the ``top_n`` arms with the highest means, each known to within ``epsilon`` with
    probability 1 - delta. ``pull(arms, n)`` draws n samples of each arm (in one batch) and returns
    (n drawn, hits) per arm;
    ``counts`` and ``hits`` are updated in place; sampling stops early when ``can_pull()`` is False."""
    n_arms = len(counts)
    if n_arms <= top_n:
        return list(range(n_arms))
    fresh = [int(a) for a in np.flatnonzero(counts == 0)]
    if fresh and can_pull():
        for arm, (drawn, positive) in zip(fresh, pull(fresh, batch_size)):
            counts[arm] += drawn
            hits[arm] += positive
    t = 1
    while can_pull():
        means = hits / np.maximum(counts, 1)
        order = np.argsort(means, kind="stable")
        best, rest = order[-top_n:], order[:-top_n]
        beta = exploration_rate(n_arms, t, delta)
        ub = np.array([kl_upper(means[a], beta / max(counts[a], 1)) for a in rest])
        lb = np.array([kl_lower(means[a], beta / max(counts[a], 1)) for a in best])
        challenger, weakest = int(rest[np.argmax(ub)]), int(best[np.argmin(lb)])
        if ub.max() - lb.min() <= epsilon:
            break
        for arm, (drawn, positive) in zip((challenger, weakest), pull([challenger, weakest], batch_size)):
            counts[arm] += drawn
            hits[arm] += positive
        t += 1
    means = hits / np.maximum(counts, 1)
    return [int(a) for a in np.argsort(means, kind="stable")[-top_n:][::-1]]


def mean_lower_bound(outcomes: np.ndarray, delta: float) -> float:
    """KL lower confidence bound (level 1 - delta) of the mean of Bernoulli ``outcomes``."""
    n = len(outcomes)
    return kl_lower(float(np.mean(outcomes)), math.log(1.0 / delta) / n) if n else 0.0
