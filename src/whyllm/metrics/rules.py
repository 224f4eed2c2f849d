"""Held-out checks of rule explanations, on fresh samples never used by the search."""

from __future__ import annotations

import numpy as np

from whyllm.engine import objective_for
from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.fits import AnchorFit, WrapperFit
from whyllm.methods.rules import setup_rules
from whyllm.models.base import LanguageModel


def anchor_precision(exp: Explanation, model: LanguageModel, n: int = 500, seed: int = 12345) -> dict:
    """Precision of ``exp``'s anchor on ``n`` fresh perturbations (anchor kept, every other feature
    perturbed with the explanation's probability), drawn with their own generator."""
    fit = exp.fit.inner if isinstance(exp.fit, WrapperFit) else exp.fit
    if not isinstance(fit, AnchorFit):
        raise InputError(f"not an Anchors explanation (method {exp.method!r})")
    params = exp.params
    objective = objective_for(exp, model, with_top=exp.target.needs_top(params.get("decision_threshold")))
    rng = np.random.default_rng(seed)
    rules = setup_rules(objective, rng, params.get("sample_proba", 0.5), params.get("decision_threshold"))
    anchor = np.zeros(objective.n_features, dtype=bool)
    anchor[fit.anchor] = True
    _, seqs = rules.sampler.draw(anchor, n)
    holds = rules.holds(seqs)
    return {"precision": float(holds.mean()), "n": n, "model_calls": objective.evaluations,
            "cost": objective.meter.snapshot().to_dict()}
