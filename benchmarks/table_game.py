"""The exact tables of ``benchmarks/exact_tables.py`` as objectives, and the exact estimands.

:class:`TableObjective` answers a method's masks from a table of all 2^n coalition values, with
the objective interface the methods call (``__call__``, ``value``, ``reduce``, ``evaluations``), so
every estimator samples the same memoised model function at no model cost. :func:`exact_shapley`
and :func:`exact_lime` are the truths the intervals must cover.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXACT = Path(__file__).resolve().parent / "results" / "exact"


@dataclass(frozen=True)
class Table:
    name: str
    features: list[str]
    values: np.ndarray  # (2^n,): coalition index = sum of 2^j over kept features j

    @property
    def n(self) -> int:
        return len(self.features)


def load_tables(sets=("sst2-4shot", "counterfact")) -> dict[str, list[Table]]:
    out = {}
    for name in sets:
        path = EXACT / f"{name}.npz"
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            out[name] = [Table(nm, [f"w{j}" for j in range(n)], np.asarray(z[f"t{i}"], dtype=np.float64))
                         for i, (nm, n) in enumerate(zip(meta["names"], meta["n"]))]
    return out


def index_of(masks: np.ndarray) -> np.ndarray:
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    return masks.astype(np.int64) @ (1 << np.arange(masks.shape[1], dtype=np.int64))


class TableObjective:
    """masks -> values from the table (one output column), counting distinct evaluations."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.seen: set[int] = set()

    @property
    def n_features(self) -> int:
        return self.table.n

    @property
    def n_outputs(self) -> int:
        return 1

    @property
    def evaluations(self) -> int:
        return len(self.seen)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        idx = index_of(masks)
        self.seen.update(int(i) for i in idx)
        return self.table.values[idx][:, None]

    def value(self, masks: np.ndarray) -> np.ndarray:
        return self(masks)[:, 0]

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        return np.asarray(cols)[:, 0]


def all_masks(n: int) -> np.ndarray:
    idx = np.arange(2**n)
    return ((idx[:, None] >> np.arange(n)[None]) & 1).astype(bool)


def exact_shapley(table: Table) -> np.ndarray:
    """phi_i = sum over S not holding i of |S|!(n-|S|-1)!/n! (v(S + i) - v(S))."""
    n, v = table.n, table.values
    idx = np.arange(2**n)
    sizes = np.array([bin(i).count("1") for i in idx])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) if s < n else 0.0
                       for s in range(n + 1)])
    phi = np.zeros(n)
    for i in range(n):
        without = idx[(idx >> i) & 1 == 0]
        phi[i] = (weight[sizes[without]] * (v[without | (1 << i)] - v[without])).sum()
    return phi


def exact_lime(table: Table, kernel_width: float = 25.0) -> np.ndarray:
    """LIME's surrogate with infinitely many samples: weighted least squares (with intercept, the
    ridge penalty vanishing) over every coalition but the full one, each weighted by its probability
    under LIME's sampler (1/n for the number removed, uniform subsets) times LIME's kernel."""
    n, v = table.n, table.values
    masks = all_masks(n)
    kept = masks.sum(axis=1)
    removed = n - kept
    ok = removed >= 1
    prob = np.where(ok, 1.0 / (n * np.array([math.comb(n, int(r)) for r in removed])), 0.0)
    dist = (1.0 - np.sqrt(kept / n)) * 100.0
    w = prob * np.sqrt(np.exp(-(dist**2) / kernel_width**2))
    x = np.hstack([np.ones((len(masks), 1)), masks.astype(np.float64)])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(x * sw[:, None], v * sw, rcond=None)
    return coef[1:]
