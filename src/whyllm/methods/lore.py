"""LORE: a local decision tree, the rule the input follows, and counterfactual rules.

Guidotti, Monreale, Ruggieri, Pedreschi, Turini & Giannotti 2018, "Local Rule-Based Explanations of
Black Box Decision Systems". A genetic search builds a neighbourhood of perturbations (mask space,
x = every feature kept) in two halves: one evolved to keep the output, one to flip it, both to stay
close to x (fitness: I[same/different outcome] + 1 - d(x, z) - I[z = x], d = share of features
perturbed). A shallow decision tree is fitted on presence -> outcome; the rule is the tree path of
x; each counterfactual rule is a path to a leaf of the other outcome, stated as the fewest features
to perturb, and is checked with one real model call. Reported: fidelity (tree accuracy on the
neighbourhood), hit (tree agrees with the model on x), c-hit (share of verified counterfactuals).
"""

from __future__ import annotations

import numpy as np

from whyllm.fits import LoreFit
from whyllm.methods.base import METHODS, Attribution, Method
from whyllm.methods.rules import RuleSetup, setup_rules
from whyllm.objective import Objective


def _evolve(rules: RuleSetup, want_same: bool, size: int, generations: int, budget_left, rng,
            p_mutation: float, n: int) -> np.ndarray:
    """One population of masks (True = kept) evolved toward the wanted outcome near x."""
    pop = np.ones((size, n), dtype=bool)
    pop &= rng.random((size, n)) >= p_mutation
    for _ in range(generations):
        if budget_left() < size:
            break
        fit = _fitness(rules, pop, want_same)
        # tournament selection (size 3), two-point crossover, bit-flip mutation
        idx = rng.integers(0, size, size=(size, 3))
        parents = pop[idx[np.arange(size), np.argmax(fit[idx], axis=1)]]
        children = parents.copy()
        for i in range(0, size - 1, 2):
            if rng.random() < 0.5:
                a, b = sorted(rng.choice(n + 1, size=2, replace=False))
                children[i, a:b], children[i + 1, a:b] = parents[i + 1, a:b], parents[i, a:b]
        children ^= rng.random(children.shape) < p_mutation / 2
        pop = children
    return pop


def _fitness(rules: RuleSetup, pop: np.ndarray, want_same: bool) -> np.ndarray:
    holds = rules.holds([rules.objective.input.ids_for(z) for z in pop])
    same = holds if want_same else ~holds
    distance = 1.0 - pop.mean(axis=1)
    return same.astype(float) + (1.0 - distance) - pop.all(axis=1).astype(float)


@METHODS.register("lore")
class Lore(Method):
    name = "lore"
    kind = "rule"

    def __init__(self, neighbourhood: int = 200, generations: int = 6, max_depth: int = 4,
                 p_mutation: float = 0.3, decision_threshold: float | None = None) -> None:
        self.neighbourhood, self.generations, self.max_depth = neighbourhood, generations, max_depth
        self.p_mutation, self.decision_threshold = p_mutation, decision_threshold

    def needs_top(self, target) -> bool:
        return target.needs_top(self.decision_threshold)

    def min_budget(self, n_features: int) -> int:
        return 2 + min(self.neighbourhood, 20)

    def default_budget(self, n_features: int) -> int:
        return 1000

    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        from sklearn.tree import DecisionTreeClassifier

        n = objective.n_features
        self.check_budget(n, budget)
        rules = setup_rules(objective, rng, 0.5, self.decision_threshold)
        half = max(2, self.neighbourhood // 2)
        reserve = 8  # evaluations kept for verifying counterfactuals

        def left() -> int:
            return budget - reserve - objective.evaluations

        pops = [_evolve(rules, want, half, self.generations, left, rng, self.p_mutation, n)
                for want in (True, False)]
        z = np.unique(np.vstack([np.ones((1, n), dtype=bool), *pops]), axis=0)
        y = rules.holds([objective.input.ids_for(m) for m in z])
        tree = DecisionTreeClassifier(max_depth=self.max_depth, random_state=int(rng.integers(1 << 31)))
        tree.fit(z.astype(float), y)
        x = np.ones((1, n))
        fidelity = float((tree.predict(z.astype(float)) == y).mean())
        hit = bool(tree.predict(x)[0])  # the model keeps its own output on x itself
        rule = _path_conditions(tree, x[0])
        counterfactuals = _counterfactuals(tree, x[0])[:reserve]
        checked = []
        for cf in counterfactuals:
            mask = np.ones(n, dtype=bool)
            mask[cf] = False
            flipped = not bool(rules.holds([objective.input.ids_for(mask)])[0])
            checked.append({"perturb": [int(i) for i in cf],
                            "words": [objective.input.features[i].text for i in cf], "flips": flipped})
        words = objective.input.features
        fit = {"rule": [{"feature": int(f), "word": words[f].text, "kept": bool(kept)} for f, kept in rule],
               "counterfactuals": checked, "fidelity": fidelity, "hit": hit,
               "c_hit": float(np.mean([c["flips"] for c in checked])) if checked else 0.0,
               "neighbourhood": len(z), "same_outcome": int(y.sum()),
               "decision": rules.decision.describe(objective.target)}
        values = np.zeros(n)
        verified = [c for c in checked if c["flips"]]
        if verified:
            values[verified[0]["perturb"]] = 1.0
        return Attribution(values, rules.base_value, rules.full_value, LoreFit(**fit))


def _path_conditions(tree, x: np.ndarray) -> list[tuple[int, bool]]:
    t = tree.tree_
    node, out = 0, []
    while t.children_left[node] != -1:
        f = int(t.feature[node])
        kept = x[f] > t.threshold[node]
        out.append((f, bool(kept)))
        node = t.children_right[node] if kept else t.children_left[node]
    return out


def _counterfactuals(tree, x: np.ndarray) -> list[list[int]]:
    """Feature sets to perturb that reach a leaf of the other outcome, fewest first."""
    t = tree.tree_
    own = int(np.argmax(t.value[tree.apply(x.reshape(1, -1))[0]]))
    found: list[list[int]] = []

    def walk(node: int, removed: list[int], needs_kept: set[int]) -> None:
        if t.children_left[node] == -1:
            if int(np.argmax(t.value[node])) != own and removed:
                found.append(sorted(set(removed)))
            return
        f = int(t.feature[node])
        if f not in removed:  # keeping f matches x
            walk(t.children_right[node], removed, needs_kept | {f})
        if f not in needs_kept:
            walk(t.children_left[node], [*removed, f], needs_kept)

    walk(0, [], set())
    unique = {tuple(c) for c in found}
    return [list(c) for c in sorted(unique, key=lambda c: (len(c), c))]
