"""Steering: enforce a neuron set on other prompts and see how often the chosen output appears.

The neurons are set to their values on the source prompt (where the set was found) at the last
prompt position and, with ``every_step``, at every generated position too, while the model
generates greedily. Fluency is the mean log-prob per token of the steered continuation under the
*unsteered* model (how natural the forced text still is).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from whyllm.errors import InputError
from whyllm.fits import NeuronFit
from whyllm.models.base import require_white_box
from whyllm.neurons.hooks import Clamp, NeuronHooks
from whyllm.neurons.language import judge_language
from whyllm.neurons.sites import Sites


@dataclass
class SteerResult:
    """One row per prompt, the success rate, and what was enforced."""

    rows: list[dict]
    neurons: dict[str, float]
    success_rate: float
    mean_fluency: float
    goal: str
    params: dict = field(default_factory=dict)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(asdict(self), indent=indent, ensure_ascii=False)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def source_activations(model, prompt: str) -> np.ndarray:
    """Every MLP neuron's activation at the last position of ``prompt``."""
    box = require_white_box(model, "neuron activations")
    sites = Sites(box)
    ids = torch.tensor([model.encode(prompt).ids])
    with torch.no_grad(), NeuronHooks(box, sites, record=True) as hooks:
        box.forward(ids=ids.to(box.device))
    return hooks.recorded()[0].double().numpy()


def neuron_values(source) -> dict[str, float]:
    """``{name: value}`` from a :class:`NeuronSet` (or a mapping, returned as is)."""
    if isinstance(source, Mapping):
        return {str(k): float(v) for k, v in source.items()}
    fit = getattr(source, "fit", None)
    if not isinstance(fit, NeuronFit):
        raise InputError("steer needs a neuron set (whyllm neurons --json) or {name: value}")
    return {n["name"]: float(n["value"]) for n in fit.neurons}


def random_control(model, values: Mapping[str, float], source_prompt: str, seed: int = 0) -> dict[str, float]:
    """As many random neurons, drawn from the same layers, set to their own source-prompt values."""
    sites = Sites(require_white_box(model, "random control neurons"))
    acts = source_activations(model, source_prompt)
    chosen = sites.random_like([sites.flat(n) for n in values], np.random.default_rng(seed))
    return {sites.name(c): float(acts[c]) for c in chosen}


def greedy_generate(model, ids: Sequence[int], clamp: Clamp | None, sites: Sites, max_new_tokens: int,
                    every_step: bool) -> list[int]:
    """Greedy continuation of ``ids`` (token ids, stopping at EOS), with ``clamp`` enforced at the
    last prompt position and, with ``every_step``, at every generated position."""
    box = require_white_box(model, "steering")
    past, new = None, []
    inp = torch.tensor([list(ids)], device=box.device)
    for step in range(max_new_tokens):
        active = clamp if (clamp is not None and (every_step or step == 0)) else None
        with torch.no_grad(), NeuronHooks(box, sites, clamp=active):
            out = box.forward(ids=inp, cache=past, use_cache=True)
        past = out.cache
        tok = int(box.logits(out.hidden[0, -1]).argmax())
        if tok == box.eos_id:
            break
        new.append(tok)
        inp = torch.tensor([[tok]], device=box.device)
    return new


def steer(prompts: Sequence[str], neurons, *, model=None, language: str | None = None,
          target: str | None = None, max_new_tokens: int = 8, every_step: bool = True) -> SteerResult:
    """Generate from each prompt with ``neurons`` enforced; success is the continuation being in
    ``language`` (see :func:`judge_language`) or starting with ``target``."""
    from whyllm.engine import default_model

    if (language is None) == (target is None):
        raise InputError("give exactly one goal: language (e.g. 'fr') or target (a continuation)")
    if not prompts or any(not p.strip() for p in prompts):
        raise InputError("steer needs non-empty prompts")
    model = model if model is not None else default_model()
    sites = Sites(require_white_box(model, "steering"))
    values = neuron_values(neurons)
    idx = np.array([sites.flat(n) for n in values], dtype=np.int64)
    clamp = Clamp(idx, np.array(list(values.values()))) if len(idx) else None
    rows = []
    for prompt in prompts:
        ids = model.encode(prompt).ids
        plain = greedy_generate(model, ids, None, sites, max_new_tokens, every_step)
        steered = greedy_generate(model, ids, clamp, sites, max_new_tokens, every_step)
        text = model.decode(steered)
        fluency = float(np.mean(model.plain_logprobs(ids, steered))) if steered else float("nan")
        ok = judge_language(text) == language if language else text.strip().startswith(target.strip())
        rows.append({"prompt": prompt, "unsteered": model.decode(plain), "steered": text,
                     "language": judge_language(text), "success": bool(ok), "fluency": fluency})
    fl = [r["fluency"] for r in rows if r["fluency"] == r["fluency"]]
    return SteerResult(rows, values, float(np.mean([r["success"] for r in rows])),
                       float(np.mean(fl)) if fl else float("nan"),
                       f"language {language}" if language else f"starts with {target!r}",
                       {"max_new_tokens": max_new_tokens, "every_step": every_step})
