"""KernelSHAP: Shapley values as the solution of a weighted linear regression.

Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions". Coalitions of size s
carry the Shapley kernel weight (n-1) / (C(n,s) s (n-s)). Following the reference implementation,
subset sizes are enumerated completely, smallest and largest first, while the budget covers them;
the remaining budget samples coalitions of the other sizes in complementary pairs (antithetic
sampling, Covert & Lee 2021, "Improving KernelSHAP"). When every size is enumerated (2^n <= budget,
so at most a few thousand coalitions: n <= 12) the result is the exact Shapley value.
Efficiency, base + sum(values) = full, holds exactly because it is imposed as a constraint of the
regression.
"""

from __future__ import annotations

import math

import numpy as np

from whyllm.fits import KernelShapFit
from whyllm.methods.base import METHODS, Attribution, Method, sample_weights
from whyllm.objective import Objective


def _subsets_of_size(n: int, s: int) -> np.ndarray:
    from itertools import combinations

    out = np.zeros((math.comb(n, s), n), dtype=bool)
    for i, idx in enumerate(combinations(range(n), s)):
        out[i, list(idx)] = True
    return out


def kernel_design(n: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, bool]:
    """Coalition masks (without the empty and full ones), their kernel weights, and whether the
    design is a complete enumeration."""
    sizes = list(range(1, n // 2 + 1)) if n > 1 else []
    size_w = np.array([(n - 1) / (s * (n - s)) * (1 if 2 * s == n else 2) for s in sizes])
    size_w = size_w / size_w.sum() if len(sizes) else size_w
    masks, weights = [], []
    left, remaining = n_samples, size_w.copy()
    complete = 0
    for i, s in enumerate(sizes):
        paired = 2 * s != n
        count = math.comb(n, s) * (2 if paired else 1)
        if remaining[i] <= 0 or left * remaining[i] / count < 1.0 - 1e-8:
            break
        sub = _subsets_of_size(n, s)
        block = np.vstack([sub, ~sub]) if paired else sub
        masks.append(block)
        weights.append(np.full(len(block), size_w[i] / count))
        left -= count
        complete += 1
        rest = remaining[i:].sum()
        remaining = remaining / (rest - remaining[i]) if rest - remaining[i] > 0 else remaining * 0
        remaining[: i + 1] = 0
    if complete < len(sizes) and left > 0:
        probs = size_w[complete:] / size_w[complete:].sum()
        drawn: dict[bytes, list] = {}
        tries = 0
        while len(drawn) < left and tries < 20 * n_samples:
            tries += 1
            s = sizes[complete + rng.choice(len(probs), p=probs)]
            m = np.zeros(n, dtype=bool)
            m[rng.choice(n, size=s, replace=False)] = True
            for mm in (m, ~m) if 2 * s != n else (m,):
                key = mm.tobytes()
                if key in drawn:
                    drawn[key][1] += 1.0
                elif len(drawn) < left:
                    drawn[key] = [mm, 1.0]
        if drawn:
            block = np.array([v[0] for v in drawn.values()])
            w = np.array([v[1] for v in drawn.values()])
            masks.append(block)
            weights.append(w / w.sum() * size_w[complete:].sum())
    if not masks:
        return np.zeros((0, n), dtype=bool), np.zeros(0), True
    return np.vstack(masks), np.concatenate(weights), complete == len(sizes)


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


@METHODS.register("kernelshap")
class KernelShap(Method):
    name = "kernelshap"
    multi_output = True

    def min_budget(self, n_features: int) -> int:
        return min(n_features + 2, 2**n_features)

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        n = objective.n_features
        self.check_budget(n, budget)
        ends = np.array([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
        end_cols = objective(ends)
        full, base = (float(v) for v in objective.reduce(end_cols))
        z, w, exact = kernel_design(n, budget - 2, rng)
        cols = objective(z) if len(z) else np.zeros((0, end_cols.shape[1]))
        if len(z):
            w = w * sample_weights(objective, z)
        values = solve_constrained(z, objective.reduce(cols) if len(z) else np.zeros(0), w, base, full)
        matrix = solve_constrained(z, cols, w, end_cols[1], end_cols[0])
        fit = KernelShapFit(exact=bool(exact), coalitions=int(len(z) + 2))
        return Attribution(values, base, full, fit, matrix=matrix, base_columns=end_cols[1],
                           full_columns=end_cols[0])
