"""Focus: coarse-to-fine attribution for long inputs, after Focus-LIME (IJCAI 2026;
arXiv 2602.04607).

With thousands of word features, a perturbation explanation spreads its budget thin and its
attributions dilute. Focus spends it where it matters:

1. **coarse pass**: the inner method (LIME or KernelSHAP) attributes the target to coarse features
   (``sentences`` by default; lines count as sentences, so each record of a list is one unit), on
   the ``proxy`` model when one is given and makes the target's decision on the full input (the
   instance screen of :mod:`whyllm.methods.proxy`; then it costs no target calls), else on the
   target;
2. **fine pass**: the ``keep`` coarse units with the largest attributions (fewer when the fine
   budget cannot cover their words) form the active neighbourhood; the inner method attributes the
   target, on the target model, to the words inside it only, every word outside kept as it is.

Words outside the neighbourhood get their coarse unit's value spread evenly over its words (the
coarse pass's information is kept for ranking the rest); ``base_value`` is the target with the
neighbourhood's words removed (everything else kept). ``fit`` records the neighbourhood, the coarse
attributions, and which model ran each pass with its cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import InputError
from whyllm.explanation import Explanation, json_safe
from whyllm.methods.base import Method
from whyllm.methods.proxy import decision_on_full
from whyllm.models.base import LanguageModel
from whyllm.objective import Objective
from whyllm.targets import Target

INNER = ("lime", "kernelshap", "occlusion")


class FocusedObjective:
    """An objective over a subset of features: masks over ``inside`` only, every other feature kept."""

    def __init__(self, objective: Objective, inside: np.ndarray) -> None:
        self.objective = objective
        self.inside = np.asarray(inside, dtype=int)
        self.progress = objective.progress

    @property
    def n_features(self) -> int:
        return len(self.inside)

    @property
    def evaluations(self) -> int:
        return self.objective.evaluations

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        full = np.ones((len(masks), self.objective.n_features), dtype=bool)
        full[:, self.inside] = masks
        return self.objective(full)


def outside_values(words, rough: Explanation) -> np.ndarray:
    """Each word outside the neighbourhood gets its coarse unit's value spread evenly over the
    unit's words (so the ranking still orders the rest of the text by the coarse pass)."""
    values = np.zeros(len(words))
    for unit, value in zip(rough.features, rough.values):
        members = [j for j, w in enumerate(words) if unit.start <= w.start and w.end <= unit.end]
        for j in members:
            values[j] = value / len(members)
    return values


def explain_focus(text: str, target: Any, *, model: LanguageModel, proxy: LanguageModel | None = None,
                  inner: str = "lime", coarse: str = "sentences", keep: int = 2,
                  coarse_budget: int | None = None, features: str = "words", template: str | None = None,
                  budget: int | None = None, seed: int | None = 0, perturbation: str = "delete",
                  filler: str = " _", max_new_tokens: int = 5, progress: bool = False, chat: bool = False,
                  **inner_params: Any) -> Explanation:
    """Coarse pass (``proxy`` or ``model``), then fine attribution on ``model`` inside the ``keep``
    most supportive coarse units. ``budget`` bounds the target calls of the whole explanation
    (screen, a coarse pass on the target, fine pass); ``coarse_budget`` the coarse pass."""
    from whyllm.api import explain_on, make_method, model_template, prepare

    if inner not in INNER:
        raise InputError(f"focus refines with one of {', '.join(INNER)}; got {inner!r}")
    if keep < 1:
        raise InputError(f"keep must be at least 1, got {keep}")
    target_meter, coarse_meter = CostMeter(), CostMeter()
    user_template, template = template, model_template(model, template, chat)
    inp, tgt = prepare(model, text, target, template=template, features=features, perturbation=perturbation,
                       filler=filler, max_new_tokens=max_new_tokens, meter=target_meter)
    coarse_model, screen = model, None
    if proxy is not None:  # the instance screen of the proxy method: same decision, or no proxy
        args = (text, tgt, user_template, features, perturbation, filler)
        t_dec = decision_on_full(model, *args, target_meter, chat=chat)
        p_dec = decision_on_full(proxy, *args, coarse_meter, chat=chat)
        screen = {"instance": "agree" if t_dec is not None and t_dec == p_dec else "disagree",
                  "target_decision": t_dec, "proxy_decision": p_dec}
        coarse_model = proxy if screen["instance"] == "agree" else model
    coarse_target = Target(tgt.kind, tgt.texts, tuple(coarse_model.encode_continuation(t) for t in tgt.texts))
    rough = explain_on(coarse_model, text, coarse_target, method=inner, features=coarse,
                       template=user_template, chat=chat, budget=coarse_budget, seed=seed,
                       perturbation=perturbation, filler=filler,
                       progress=progress, meter=coarse_meter if coarse_model is proxy else target_meter,
                       **inner_params)
    if budget is not None:  # the whole explanation's target calls stay within ``budget``
        budget = int(budget) - target_meter.sequences
    algo: Method = make_method(inner, inner_params)
    # the best ``keep`` units, fewer if the fine budget cannot cover their words
    for n_units in range(min(keep, len(rough.features)), 0, -1):
        units = [int(i) for i in rough.ranking()[:n_units]]
        spans = [(rough.features[i].start, rough.features[i].end) for i in units]
        inside = np.array([j for j, f in enumerate(inp.features)
                           if any(s <= f.start and f.end <= e for s, e in spans)], dtype=int)
        if budget is None or int(budget) >= algo.min_budget(len(inside)) or n_units == 1:
            break
    if len(inside) == 0:
        raise InputError("the focused neighbourhood holds no fine features")
    budget = algo.default_budget(len(inside)) if budget is None else int(budget)
    algo.check_budget(len(inside), budget)
    objective = Objective(model, inp, tgt, target_meter, progress=progress)
    result = algo.attribute(FocusedObjective(objective, inside), budget, np.random.default_rng(seed))
    values = outside_values(inp.features, rough)
    values[inside] = result.values
    fit = {"inner_fit": result.fit, "focus_units": [rough.features[i].text for i in units],
           "focus_spans": spans, "inside": inside.tolist(), "coarse_values": list(rough.values),
           "coarse_features": [f.text for f in rough.features], "coarse_model": coarse_model.info.model_id,
           "samples_by": {"coarse": coarse_model.info.model_id, "fine": model.info.model_id},
           # the proxy's cost; a coarse pass on the target is part of ``cost``
           "coarse_cost": coarse_meter.snapshot().to_dict() if proxy is not None else None,
           "screen": screen}
    params = {"fine_budget": budget, "coarse_budget": rough.params["budget"], "inner": inner,
              "coarse": coarse, "keep": keep, "perturbation": perturbation, "max_new_tokens": max_new_tokens,
              "proxy": None if proxy is None else proxy.info.model_id, **algo.params}
    return Explanation(text=text, template=template, feature_kind=features, features=inp.features,
                      values=tuple(float(v) for v in values), base_value=float(result.base_value),
                      full_value=float(result.full_value), target=tgt, method="focus",
                      params=json_safe(params), seed=seed, model=model.info, fit=json_safe(fit),
                      cost=target_meter.snapshot())
