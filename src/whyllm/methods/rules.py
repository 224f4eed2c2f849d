"""Shared set-up of rule methods (Anchors, LORE): the decision to preserve and the sampler."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from whyllm.features.sampler import PerturbationSampler
from whyllm.objective import PromptObjective
from whyllm.targets import Decision


@dataclass
class RuleSetup:
    objective: PromptObjective
    decision: Decision
    sampler: PerturbationSampler
    full_value: float
    base_value: float

    def holds(self, seqs) -> np.ndarray:
        values = self.objective.score_ids(seqs)
        tops = self.objective.is_top(seqs) if self.decision.needs_top else np.zeros(len(seqs), bool)
        return np.array([self.decision.holds(v, t) for v, t in zip(values, tops)], dtype=bool)


def setup_rules(objective: PromptObjective, rng: np.random.Generator, sample_proba: float,
                threshold: float | None) -> RuleSetup:
    n = objective.n_features
    full_ids = objective.input.ids_for(np.ones(n, dtype=bool))
    empty_ids = objective.input.ids_for(np.zeros(n, dtype=bool))
    full_value, base_value = (float(v) for v in objective.score_ids([full_ids, empty_ids]))
    full_top = bool(objective.is_top([full_ids])[0]) if objective.with_top else False
    decision = objective.target.decision(full_value, full_top, threshold)
    return RuleSetup(objective, decision, PerturbationSampler(objective.input, rng, sample_proba),
                     full_value, base_value)
