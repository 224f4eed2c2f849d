"""Focus's middle levels: coarse-to-fine over more than two granularities (documents, then their
sentences, then words), each level narrowing the neighbourhood of the next.

Focus-LIME (arXiv 2602.04607) narrows a long input once, from coarse units to words. On a context
of many documents one narrowing leaves a whole document (a hundred words or more) to the fine pass,
which a small budget spreads thin again. A middle level, e.g. leave-one-out over the sentences of the
best document, hands the fine pass one sentence instead; AttriBoT's hierarchical sources (documents,
then sentences; ICLR 2025) narrow the same way.

Every middle level runs on the target, through the fine pass's own objective with each unit's words
removed together (:class:`GroupedObjective`), so an input scored by one level (the full prompt; a
unit's leave-one-out, which is the next level's empty input) costs the next nothing. A level runs
only when the budget left covers it and still leaves the fine pass its minimum; otherwise it is
recorded as skipped and the neighbourhood stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from whyllm.methods.base import Method
from whyllm.objective import Objective


class GroupedObjective:
    """An objective over disjoint groups of features: mask entry g off removes every feature of
    group g; a feature in no group is kept. One feature a group is an objective over those features
    only."""

    def __init__(self, objective: Objective, groups: list[list[int]]) -> None:
        self.objective = objective
        self.groups = [np.asarray(g, dtype=int) for g in groups]
        self.progress = objective.progress
        # feature -> its group, for one vectorised assignment a batch
        self._members = np.concatenate(self.groups) if self.groups else np.zeros(0, dtype=int)
        self._owner = np.repeat(np.arange(len(self.groups)), [len(g) for g in self.groups])
        if len(np.unique(self._members)) != len(self._members):
            raise ValueError("the groups of a grouped objective must not share a feature")

    @property
    def n_features(self) -> int:
        return len(self.groups)

    @property
    def evaluations(self) -> int:
        return self.objective.evaluations

    def _full(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        full = np.ones((len(masks), self.objective.n_features), dtype=bool)
        full[:, self._members] = masks[:, self._owner]
        return full

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        return self.objective(self._full(masks))

    def value(self, masks: np.ndarray) -> np.ndarray:
        return self.objective.value(self._full(masks))

    def seen(self, masks: np.ndarray) -> np.ndarray:
        return self.objective.seen(self._full(masks))

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        return self.objective.reduce(cols)

    def sample_weights(self, masks: np.ndarray) -> np.ndarray:
        return self.objective.sample_weights(self._full(masks))


class FocusedObjective(GroupedObjective):
    """An objective over a subset of features: masks over ``inside`` only, every other feature kept."""

    def __init__(self, objective: Objective, inside: np.ndarray) -> None:
        self.inside = np.asarray(inside, dtype=int)
        super().__init__(objective, [[int(j)] for j in self.inside])


def free_calls(objective: GroupedObjective) -> int:
    """How many of the two inputs every method scores (all kept, all removed) are scored already."""
    n = objective.n_features
    return int(objective.seen(np.vstack([np.ones((1, n), bool), np.zeros((1, n), bool)])).sum())


def level_budget(algo: Method, n_units: int, left: int | None, free: int) -> int:
    """A middle level's budget in inputs: a fixed-cost method's need, else half of the calls left
    (at least the method's need); ``free`` inputs already scored come on top."""
    if left is None or algo.default_budget(n_units) == algo.min_budget(n_units):
        return algo.default_budget(n_units)
    return max(algo.min_budget(n_units), left // 2 + free)


@dataclass
class Neighbourhood:
    """Where the fine pass will run: its features, the chosen units' texts and character spans, and
    the value each feature outside it has so far (its unit's value spread over the unit's features)."""

    inside: np.ndarray
    units: list[str]
    spans: list[tuple[int, int]]
    values: np.ndarray
    levels: list[dict] = field(default_factory=list)


def units_within(units, spans) -> list:
    return [u for u in units if any(s <= u.start and u.end <= e for s, e in spans)]


def refine(hood: Neighbourhood, kind: str, units, features, objective: Objective, coarse_algo: Method,
           fine_algo: Method, keep: int, left: int | None, seed: int | None) -> Neighbourhood:
    """One middle level: ``coarse_algo`` over the ``kind`` units inside ``hood`` (``units`` are the
    whole text's), the best ``keep`` of them (fewer when the fine pass could not cover their
    features) becoming the new neighbourhood. ``left`` is the target calls left (None: unbounded)."""
    inside = set(int(j) for j in hood.inside)
    units = units_within(units, hood.spans)
    groups = [[j for j, f in enumerate(features) if j in inside and u.start <= f.start and f.end <= u.end]
              for u in units]
    units, groups = [u for u, g in zip(units, groups) if g], [g for g in groups if g]
    record = {"kind": kind, "features": [u.text for u in units]}
    if len(groups) < 2:
        return skipped(hood, record, f"{len(groups)} {kind} in the neighbourhood")
    grouped = GroupedObjective(objective, groups)
    free = free_calls(grouped)
    budget = level_budget(coarse_algo, len(groups), left, free)
    # the fine pass afterwards: its full input is scored by then, and so is its empty input when this
    # level scored each unit's removal and one unit is kept
    fine_free = 1 + int(coarse_algo.scores_each_removal and keep == 1)
    fine_need = max(0, fine_algo.min_budget(min(len(g) for g in groups)) - fine_free)
    if left is not None and (budget - free) + fine_need > left:
        return skipped(hood, record, f"needs {budget - free + fine_need} target calls, {left} left")
    before = objective.meter.sequences
    result = coarse_algo.attribute(grouped, budget, np.random.default_rng(seed))
    left = None if left is None else left - (objective.meter.sequences - before)
    values = hood.values.copy()
    for g, v in zip(groups, result.values):
        values[g] = v / len(g)
    order = np.argsort(-np.asarray(result.values), kind="stable")
    for n_units in range(min(keep, len(groups)), 0, -1):
        chosen = [int(i) for i in order[:n_units]]
        new_inside = np.array(sorted(j for i in chosen for j in groups[i]), dtype=int)
        fine = FocusedObjective(objective, new_inside)
        if left is None or left + free_calls(fine) >= fine_algo.min_budget(len(new_inside)) or n_units == 1:
            break
    record.update(values=[float(v) for v in result.values], chosen=chosen, budget=int(budget),
                  calls=int(objective.meter.sequences - before))
    spans = [(units[i].start, units[i].end) for i in chosen]
    return Neighbourhood(new_inside, [units[i].text for i in chosen], spans, values, [*hood.levels, record])


def skipped(hood: Neighbourhood, record: dict, why: str) -> Neighbourhood:
    record["skipped"] = why
    return Neighbourhood(hood.inside, hood.units, hood.spans, hood.values, [*hood.levels, record])
