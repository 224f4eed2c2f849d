"""Stored Gemma cases of the neuron search's scorer: per case, perturbed prompts scored free and under
a clamp of the full input's top neurons (by activation x gradient). ``python -m tests.neuron_cases``
wrote ``tests/data/neurons/scores.json`` with the runner of 2026-12-07 (padded batches over cached
heads); the integration test checks today's runner against it to 1e-5."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

STORED = Path(__file__).resolve().parent / "data" / "neurons" / "scores.json"
CASES = [  # (name, text, target, template, sample_proba)
    ("french", "The cat is black.", [" Le", " The"], "English: {text}\nFrench:", 0.5),
    ("fact-eiffel", "The Eiffel Tower is located in the city of", " Paris", None, 0.25),
    ("sentiment", "a warm, funny and beautifully acted film that drags a little in the middle.",
     [" positive", " negative"], "Review: {text}\nSentiment (positive or negative):", 0.5),
]


def scores(model) -> dict:
    """Each case's free and clamped values and margins on 12 perturbed prompts."""
    from whyllm.neurons.setup import NeuronProblem

    out = {}
    for name, text, target, template, p in CASES:
        target = tuple(target) if isinstance(target, list) else target
        problem = NeuronProblem.build(text, target, model=model, template=template, seed=0, sample_proba=p)
        prompts = [problem.input.ids, *problem.perturbed(11)]
        clamp = problem.clamp(np.argsort(-problem.attribution)[:20])
        free, clamped = problem.runner(prompts).run(), problem.runner(prompts).run(clamp)
        out[name] = {"free_values": free.values.tolist(), "free_margins": free.margins.tolist(),
                     "clamped_values": clamped.values.tolist(), "clamped_margins": clamped.margins.tolist()}
    return out


if __name__ == "__main__":
    import whyllm

    STORED.write_text(json.dumps(scores(whyllm.load_model(dtype="float32")), indent=1) + "\n")
    print("wrote", STORED, file=sys.stderr)
