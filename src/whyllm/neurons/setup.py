"""One neuron-explanation problem: the input, the target's decision, the original activations, and
the perturbation distribution (shared by the search, the baselines and the held-out check)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from whyllm.cost import CostMeter
from whyllm.engine import default_model, prepare
from whyllm.explanation import json_safe
from whyllm.features import DEFAULT_FILLER, PromptInput
from whyllm.features.sampler import PerturbationSampler
from whyllm.fits import NeuronFit
from whyllm.methods.bandit import mean_lower_bound
from whyllm.models.base import require_white_box
from whyllm.neurons.hooks import Clamp
from whyllm.neurons.result import NeuronSet
from whyllm.neurons.runner import NeuronRunner
from whyllm.neurons.sites import Sites
from whyllm.targets import Decision, Target

RANKING_KEPT = 256  # gradient-ranked neurons stored with an explanation (for the baseline)


@dataclass
class NeuronProblem:
    model: object
    sites: Sites
    input: PromptInput
    target: Target
    decision: Decision
    original: np.ndarray  # (total,) activations at the last prompt position of the full input
    attribution: np.ndarray  # (total,) activation x d margin / d activation on the full input
    full_value: float
    base_value: float
    sampler: PerturbationSampler
    held_out_rng: np.random.Generator
    meter: CostMeter
    batch_size: int = 32
    seed: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, text: str, target, *, model=None, template: str | None = None, features: str = "words",
              perturbation: str = "delete", filler: str = DEFAULT_FILLER, sample_proba: float = 0.5,
              decision_threshold: float | None = None, max_new_tokens: int = 5, seed: int | None = 0,
              batch_size: int = 32) -> NeuronProblem:
        model = model if model is not None else default_model()
        sites = Sites(require_white_box(model, "neuron explanations"))
        meter = CostMeter()
        inp, tgt = prepare(model, text, target, template=template, features=features,
                           perturbation=perturbation, filler=filler, max_new_tokens=max_new_tokens,
                           meter=meter)
        provisional = tgt.provisional_decision()
        empty = inp.ids_for(np.zeros(inp.n_features, dtype=bool))
        first = NeuronRunner(model, sites, tgt, provisional, [inp.ids, empty], meter, batch_size).run()
        decision = tgt.decision(float(first.values[0]), bool(first.margins[0] > 0), decision_threshold)
        full = NeuronRunner(model, sites, tgt, decision, [inp.ids], meter, batch_size).run(record=True,
                                                                                            grad=True)
        search_seq, held_seq = np.random.SeedSequence(seed).spawn(2)
        return cls(model, sites, inp, tgt, decision, full.acts[0].astype(np.float64),
                   (full.acts[0] * full.grads[0]).astype(np.float64), float(first.values[0]),
                   float(first.values[1]),
                   PerturbationSampler(inp, np.random.default_rng(search_seq), sample_proba),
                   np.random.default_rng(held_seq), meter, batch_size, seed)

    # --- perturbations and runs ----------------------------------------------------------------
    def perturbed(self, n: int, held_out: bool = False) -> list[tuple[int, ...]]:
        """``n`` perturbed prompts (from the held-out stream when ``held_out``)."""
        sampler = self.sampler
        if held_out:
            sampler = PerturbationSampler(self.input, self.held_out_rng, self.sampler.p)
        return sampler.draw(np.zeros(self.input.n_features, dtype=bool), n)[1]

    def runner(self, prompts: Sequence[tuple[int, ...]]) -> NeuronRunner:
        return NeuronRunner(self.model, self.sites, self.target, self.decision, prompts, self.meter,
                            self.batch_size)

    def clamp(self, chosen: Sequence[int]) -> Clamp:
        idx = np.asarray(list(chosen), dtype=np.int64)
        return Clamp(idx, self.original[idx])

    def precision(self, chosen: Sequence[int], prompts: Sequence[tuple[int, ...]]) -> dict:
        """Enforced and unenforced decision rates of ``chosen`` on ``prompts``."""
        runner = self.runner(prompts)
        free = runner.run()
        enforced = runner.run(self.clamp(chosen)) if len(chosen) else free
        return {"enforced": enforced.holds, "unenforced": free.holds}

    # --- reporting -------------------------------------------------------------------------------
    def neuron_rows(self, chosen: Sequence[int]) -> list[dict]:
        rows = []
        for c in chosen:
            site, j = self.sites.locate(int(c))
            v = float(self.original[c])
            rows.append({"name": f"{site.name}:{j}", "layer": site.layer, "index": j, "value": v,
                         "predicate": f"{'>=' if v >= 0 else '<='} {v:.4g}",
                         "attribution": float(self.attribution[c])})
        return rows

    def report(self, chosen: Sequence[int], check: dict, delta: float) -> dict:
        enforced, free = check["enforced"], check["unenforced"]
        n = len(enforced)
        ranking = np.argsort(-self.attribution, kind="stable")[:RANKING_KEPT]
        return {
            "neurons": self.neuron_rows(chosen), "size": len(chosen),
            "precision": float(enforced.mean()),
            "precision_lb": mean_lower_bound(enforced, delta),
            "precision_unenforced": float(free.mean()), "held_out": n,
            "decision": self.decision.describe(self.target),
            "gradient_ranking": [self.sites.name(int(i)) for i in ranking],
        }

    def result(self, fit: dict, params: dict) -> NeuronSet:
        return NeuronSet(
            text=self.input.text, template=self.input.template, feature_kind=self.input.kind,
            features=self.input.features, base_value=self.base_value, full_value=self.full_value,
            target=self.target, params=json_safe(params), seed=self.seed, model=self.model.info,
            fit=NeuronFit(**fit).normalized(), cost=self.meter.snapshot())
