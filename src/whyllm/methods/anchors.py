"""Anchors: a small set of features that, kept, keeps the model's output with high precision.

Ribeiro, Singh & Guestrin 2018, "Anchors: High-Precision Model-Agnostic Explanations" (AAAI).
Precision is P(output preserved | anchor features kept, every other feature perturbed with
probability ``sample_proba``); coverage is the share of the perturbation distribution in which the
anchor's features are all kept. Bottom-up beam search: anchors of size k+1 extend the beam of size
k; KL-LUCB picks the ``beam_size`` most precise candidates (epsilon, delta); a candidate is accepted
when its KL lower confidence bound reaches ``threshold``; among accepted ones the widest coverage
wins. Samples drawn for a sub-anchor that happen to keep a candidate's features are reused for that
candidate (they follow its conditional distribution exactly). When the budget runs out first, the
most precise candidate is returned with its honest bounds, ``confident=False`` and a warning.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from tqdm.auto import tqdm

from whyllm.fits import AnchorFit
from whyllm.methods.bandit import kl_lower, kl_lucb, kl_upper
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.methods.rules import RuleSetup, setup_rules
from whyllm.objective import Objective


class _Store:
    """Every sample drawn: which features were fixed, which were left as they are, the label."""

    def __init__(self, n: int) -> None:
        self.fixed = np.zeros((0, n), dtype=bool)
        self.present = np.zeros((0, n), dtype=bool)
        self.label = np.zeros(0, dtype=bool)

    def add(self, fixed: np.ndarray, present: np.ndarray, label: np.ndarray) -> None:
        self.fixed = np.vstack([self.fixed, np.broadcast_to(fixed, present.shape)])
        self.present = np.vstack([self.present, present])
        self.label = np.concatenate([self.label, label])

    def stats(self, anchor: np.ndarray) -> tuple[int, int]:
        valid = ~(self.fixed & ~anchor).any(axis=1) & self.present[:, anchor].all(axis=1)
        return int(valid.sum()), int(self.label[valid].sum())


@METHODS.register("anchors")
class Anchors(Method):
    name = "anchors"
    kind = "rule"

    def __init__(self, threshold: float = 0.95, delta: float = 0.1, epsilon: float = 0.15,
                 batch_size: int = 10, beam_size: int = 4, sample_proba: float = 0.5,
                 coverage_samples: int = 10000, decision_threshold: float | None = None) -> None:
        self.threshold, self.delta, self.epsilon = threshold, delta, epsilon
        self.batch_size, self.beam_size, self.sample_proba = batch_size, beam_size, sample_proba
        self.coverage_samples, self.decision_threshold = coverage_samples, decision_threshold

    def needs_top(self, target) -> bool:
        return target.needs_top(self.decision_threshold)

    def min_budget(self, n_features: int) -> int:
        return 2 + self.batch_size

    def default_budget(self, n_features: int) -> int:
        return 2000

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        n = objective.n_features
        self.check_budget(n, budget)
        rules = setup_rules(objective, rng, self.sample_proba, self.decision_threshold)
        search = _Search(self, rules, budget, n)
        with tqdm(total=budget, desc="anchors", unit="call", leave=False,
                  disable=not objective.progress) as search.bar:
            anchor, confident = search.run()
        mean, lb, ub = search.bounds(anchor)
        idx = [int(i) for i in np.flatnonzero(anchor)]
        fit = {"anchor": idx, "anchor_words": [objective.input.features[i].text for i in idx],
               "precision": mean, "precision_lb": lb, "precision_ub": ub,
               "coverage": search.coverage(anchor), "samples": search.store.stats(anchor)[0],
               "samples_drawn": len(search.store.label), "confident": confident,
               "decision": rules.decision.describe(objective.target)}
        if not confident:
            fit["warning"] = (f"the budget of {budget} model evaluations ran out before any anchor's lower "
                              f"precision bound reached {self.threshold}; this is the most precise one found")
            warnings.warn(fit["warning"], stacklevel=3)
        return Attribution(anchor.astype(np.float64), rules.base_value, rules.full_value, AnchorFit(**fit))


class _Search:
    """One anchor search: the sample store, the budget, the beam."""

    def __init__(self, method: Anchors, rules: RuleSetup, budget: int, n: int) -> None:
        self.m, self.rules, self.budget, self.n = method, rules, budget, n
        self.store = _Store(n)
        self.exhausted = False
        self.bar: tqdm | None = None
        self.max_draws = max(20000, 20 * budget)
        cover = rules.sampler.presence(np.zeros(n, dtype=bool), method.coverage_samples)
        self._coverage_rows = cover

    def can_pull(self) -> bool:
        return (not self.exhausted and self.rules.objective.evaluations < self.budget
                and len(self.store.label) < self.max_draws)

    def pull(self, anchors: list[np.ndarray], count: int) -> list[tuple[int, int]]:
        """``count`` samples for each anchor, scored in one batched call (fewer near the budget)."""
        room = self.budget - self.rules.objective.evaluations
        count = max(0, min(count, room // max(len(anchors), 1)))
        if count == 0:
            self.exhausted = True
            return [(0, 0)] * len(anchors)
        draws = [self.rules.sampler.draw(a, count) for a in anchors]
        labels = self.rules.holds([s for _, seqs in draws for s in seqs])
        out = []
        for i, (a, (present, _)) in enumerate(zip(anchors, draws)):
            lab = labels[i * count:(i + 1) * count]
            self.store.add(a, present, lab)
            out.append((count, int(lab.sum())))
        if self.bar is not None:
            self.bar.n = self.rules.objective.evaluations
            self.bar.refresh()
        return out

    def coverage(self, anchor: np.ndarray) -> float:
        return float(self._coverage_rows[:, anchor].all(axis=1).mean())

    def bounds(self, anchor: np.ndarray) -> tuple[float, float, float]:
        count, hits = self.store.stats(anchor)
        mean = hits / max(count, 1)
        # union bound: the empty anchor, tested once before any search, gets half of delta; the
        # other half is split over the anchors the beam can confirm, as in the reference code
        tests = 1 if not anchor.any() else 1 + (self.m.beam_size - 1) * self.n
        beta = math.log(2.0 * tests / self.m.delta)
        return mean, kl_lower(mean, beta / max(count, 1)), kl_upper(mean, beta / max(count, 1))

    def confirm(self, anchor: np.ndarray) -> bool:
        """Sample until the anchor's precision is surely above (lower bound) or below the threshold."""
        thr = self.m.threshold
        mean, lb, ub = self.bounds(anchor)
        while ((mean >= thr and lb < thr) or (mean < thr and ub >= thr)) and self.can_pull():
            self.pull([anchor], self.m.batch_size)
            mean, lb, ub = self.bounds(anchor)
        return mean >= thr and lb >= thr

    def run(self) -> tuple[np.ndarray, bool]:
        empty = np.zeros(self.n, dtype=bool)
        self.pull([empty], self.m.batch_size)
        if self.confirm(empty):
            return empty, True
        beam = [empty]
        best, best_cov = None, -1.0
        tried: list[np.ndarray] = []
        for _size in range(1, self.n + 1):
            seen, candidates = set(), []
            for a in beam:
                for f in np.flatnonzero(~a):
                    c = a.copy()
                    c[f] = True
                    if c.tobytes() not in seen and self.coverage(c) > best_cov:
                        seen.add(c.tobytes())
                        candidates.append(c)
            if not candidates or not self.can_pull():
                break
            stats = np.array([self.store.stats(c) for c in candidates], dtype=np.int64).reshape(-1, 2)
            counts, hits = stats[:, 0].copy(), stats[:, 1].copy()
            chosen = kl_lucb(lambda arms, k, cs=candidates: self.pull([cs[a] for a in arms], k), counts, hits,
                             min(self.m.beam_size, len(candidates)), self.m.epsilon, self.m.delta,
                             self.m.batch_size, self.can_pull)
            beam = [candidates[i] for i in chosen]
            tried.extend(beam)
            for c in beam:
                if self.confirm(c) and self.coverage(c) > best_cov:
                    best, best_cov = c, self.coverage(c)
            if best is not None:
                return best, True
        if not tried:
            return np.ones(self.n, dtype=bool), False
        lbs = [self.bounds(c)[1] for c in tried]
        return tried[int(np.argmax(lbs))], False
