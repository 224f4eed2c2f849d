"""Which coalitions KernelSHAP evaluates, and with what regression weight.

Coalitions come in complementary pairs ``(z, ~z)`` (paired sampling, Covert & Lee 2021), grouped
into *strata* by the smaller size ``s = 1 .. n // 2``. A design gives each stratum a share of the
budget and weights what it draws:

* ``ckernel`` (the default): pairs drawn in proportion to the Shapley kernel, each *distinct* pair
  weighted by its kernel weight over its probability of being drawn at all,
  ``1 - (1 - q)^K`` after K draws (the corrected kernel weights of Olsen & Jullum 2024,
  "Improving the Sampling Strategy in KernelSHAP", their paired c-kernel strategy).
* ``kernel``: the same draws, each *draw* weighted (a pair drawn twice counts twice), as in
  Lundberg & Lee's KernelSHAP and the shap package; whyllm's design before version 3 of the schema.
* ``leverage``: every coalition *size* gets the same share, the leverage scores of the Shapley
  regression (Musco & Witter 2025, "Provably Accurate Shapley Value Estimation via Leverage Score
  Sampling", ICLR; Leverage SHAP), each draw weighted by kernel weight over probability;
  ``leverage-c`` weights its distinct pairs as ``ckernel`` does.

On the Gemma value tables of ``benchmarks/estimators.py`` (n <= 12), ``ckernel`` has the lowest
error of the four (3 % below ``kernel``; Leverage SHAP is 4-15 % above it there), so it is the
default; see BENCHMARKS.md.

Strata whose share covers all their coalitions are enumerated (smallest first, as the reference
implementation does), exactly, with their kernel weight; the others are sampled: i.i.d. pairs, the
stratum by its share, the coalition uniformly in it. With every stratum enumerated the result is
the exact Shapley value.

The draws come from one stream per explanation (:class:`PairStream`): a larger budget continues
the stream of a smaller one, so rounds of ``budget="auto"`` reuse every earlier coalition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

DESIGNS = ("leverage", "kernel", "ckernel", "leverage-c")


def kernel_weight(n: int, s: int) -> float:
    """The Shapley kernel weight of one coalition of size ``s``: (n-1) / (C(n,s) s (n-s))."""
    return (n - 1) / (math.comb(n, s) * s * (n - s))


def strata(n: int) -> list[int]:
    return list(range(1, n // 2 + 1)) if n > 1 else []


def stratum_rows(n: int, s: int) -> int:
    """Distinct coalitions in stratum ``s`` (sizes s and n - s)."""
    return math.comb(n, s) * (1 if 2 * s == n else 2)


def stratum_pairs(n: int, s: int) -> int:
    return math.comb(n, s) // (2 if 2 * s == n else 1)


def shares(n: int, design: str) -> np.ndarray:
    """Each stratum's share of the sampling (sums to 1)."""
    if design.startswith("leverage"):
        raw = [1.0 if 2 * s == n else 2.0 for s in strata(n)]
    else:
        raw = [kernel_weight(n, s) * stratum_rows(n, s) for s in strata(n)]
    raw = np.asarray(raw, dtype=np.float64)
    return raw / raw.sum() if raw.size else raw


def enumerated_strata(n: int, rows: int, share: np.ndarray) -> list[int]:
    """Strata enumerated within ``rows`` coalitions: smallest first, while a stratum's share of
    what is left covers all of its coalitions."""
    out, left, rest = [], float(rows), share.copy()
    for i, s in enumerate(strata(n)):
        count = stratum_rows(n, s)
        mass = rest[i:].sum()
        if mass <= 0 or left * rest[i] / mass < count - 1e-8:
            break
        out.append(s)
        left -= count
    return out


def subsets_of_size(n: int, s: int) -> np.ndarray:
    out = np.zeros((math.comb(n, s), n), dtype=bool)
    for i, idx in enumerate(combinations(range(n), s)):
        out[i, list(idx)] = True
    return out


class PairStream:
    """The explanation's i.i.d. pairs, drawn once and extended on demand: draw i uses n + 1
    uniforms (its stratum, then the order of the features), so every prefix is the same whatever
    the chunk sizes."""

    def __init__(self, n: int, share: np.ndarray, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.cdf = np.cumsum(share)
        self.sizes = np.zeros(0, dtype=int)
        self.masks = np.zeros((0, n), dtype=bool)

    def extend(self, count: int) -> None:
        u = self.rng.random((count, self.n + 1))
        which = np.minimum(np.searchsorted(self.cdf, u[:, 0] * self.cdf[-1], side="right"), len(self.cdf) - 1)
        sizes = np.asarray(strata(self.n))[which]
        ranks = np.argsort(np.argsort(u[:, 1:], axis=1), axis=1)
        self.sizes = np.concatenate([self.sizes, sizes])
        self.masks = np.vstack([self.masks, ranks < sizes[:, None]])


@dataclass(frozen=True)
class Design:
    """The coalitions to evaluate: ``fixed`` (enumerated, with kernel weights ``fixed_w``) and the
    sampled pairs ``drawn`` (one member each) with their per-draw factor ``factor``; ``exact`` when
    nothing is sampled."""

    fixed: np.ndarray
    fixed_w: np.ndarray
    drawn: np.ndarray
    factor: np.ndarray
    exact: bool

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every distinct coalition with its total regression weight (duplicates merged)."""
        masks = np.vstack([self.fixed, self.drawn, ~self.drawn])
        w = np.concatenate([self.fixed_w, self.factor, self.factor])
        uniq, inverse = np.unique(masks, axis=0, return_inverse=True)
        return uniq, np.bincount(inverse.ravel(), weights=w, minlength=len(uniq))


def build(n: int, rows: int, design: str, stream: PairStream) -> Design:
    """The design of at most ``rows`` distinct coalitions (besides the empty and full ones)."""
    share = shares(n, design)
    full = enumerated_strata(n, rows, share)
    fixed = [np.vstack([b, ~b]) if 2 * s != n else b for s in full for b in [subsets_of_size(n, s)]]
    fixed_w = [np.full(stratum_rows(n, s), kernel_weight(n, s)) for s in full]
    fixed_m = np.vstack(fixed) if fixed else np.zeros((0, n), dtype=bool)
    left = rows - len(fixed_m)
    sampled = [i for i, s in enumerate(strata(n)) if s not in full]
    if not sampled or left < 2:
        return Design(fixed_m, np.concatenate(fixed_w) if fixed_w else np.zeros(0),
                      np.zeros((0, n), dtype=bool), np.zeros(0), not sampled)
    q = share[sampled] / share[sampled].sum()
    prob = dict(zip([strata(n)[i] for i in sampled], q))
    seen: set[bytes] = set()
    take: list[int] = []
    at, tries = 0, 0
    while len(seen) + 1 < left and tries < 200 * rows + 1000:
        if at >= len(stream.sizes):
            stream.extend(max(64, left))
        s = int(stream.sizes[at])
        at += 1
        tries += 1
        if s not in prob:  # an enumerated stratum: its coalitions are all in already
            continue
        m = stream.masks[at - 1]
        new = {k for k in (m.tobytes(), (~m).tobytes()) if k not in seen}
        if len(seen) + len(new) > left:
            break
        seen.update(new)
        take.append(at - 1)
    drawn = stream.masks[take]
    sizes = stream.sizes[take]
    count = max(len(take), 1)
    if design in ("ckernel", "leverage-c"):  # each distinct pair once: kernel / inclusion probability
        canon = np.where(drawn[:, :1], drawn, ~drawn)
        _, first = np.unique(canon, axis=0, return_index=True)
        drawn, sizes = drawn[np.sort(first)], sizes[np.sort(first)]
        incl = np.array([1.0 - (1.0 - prob[s] / stratum_pairs(n, s)) ** count for s in sizes])
        factor = np.array([kernel_weight(n, s) for s in sizes]) / incl
        return Design(fixed_m, np.concatenate(fixed_w) if fixed_w else np.zeros(0), drawn, factor, False)
    factor = np.array([kernel_weight(n, s) * stratum_pairs(n, s) / (prob[s] * count) for s in sizes])
    return Design(fixed_m, np.concatenate(fixed_w) if fixed_w else np.zeros(0), drawn, factor, False)
