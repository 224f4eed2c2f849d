"""Focus: coarse-to-fine attribution for long inputs, after Focus-LIME (IJCAI 2026;
arXiv 2602.04607).

With thousands of word features, a perturbation explanation spreads its budget thin and its
attributions dilute. Focus spends it where it matters:

1. **coarse pass**: the inner method (LIME or KernelSHAP; or ``coarse_method``, e.g. occlusion,
   whose leave-one-out shares the unchanged heads' key/value state) attributes the target to coarse
   features
   (``sentences`` by default; lines count as sentences, so each record of a list is one unit), on
   the ``proxy`` model when one is given and makes the target's decision on the full input (the
   instance screen of :mod:`whyllm.compose.proxy`; then it costs no target calls), else on the
   target (``force_proxy=True`` skips the screens and always runs it on the proxy, as AttriBoT
   does);
2. **fine pass**: the ``keep`` coarse units with the largest attributions (fewer when the fine
   budget cannot cover their words) form the active neighbourhood; the inner method attributes the
   target, on the target model, to the words inside it only, every word outside kept as it is.

With several coarse kinds (``coarse="documents,document-sentences"``), middle levels narrow the
neighbourhood further on the target before the fine pass (:mod:`whyllm.compose.focus_levels`).

Words outside the neighbourhood get their coarse unit's value spread evenly over its words (the
coarse pass's information is kept for ranking the rest); ``base_value`` is the target with the
neighbourhood's words removed (everything else kept). ``fit`` records the neighbourhood, the coarse
attributions, and which model ran each pass with its cost.

Budgets are checked before any model call. With ``budget`` and no ``coarse_budget``, a coarse pass
on the target takes half the budget (at least what the inner method needs); on an authorised proxy
it takes the inner method's default. A budget too small for the coarse pass plus the smallest
coarse unit's words fails at once (with a proxy: once the screen has refused it, after its one
target call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from whyllm import uncertainty
from whyllm.compose.base import STRATEGIES, Call, Strategy
from whyllm.compose.focus_levels import FocusedObjective, Neighbourhood, free_calls, refine
from whyllm.compose.proxy import TaskVerdict, decision_on_full
from whyllm.cost import CostMeter
from whyllm.engine import (
    Features,
    assemble,
    attribute,
    budget_record,
    checked_budget,
    concept_record,
    explain_on,
    feature_kind,
    make_input,
    make_method,
    model_template,
    prepare,
)
from whyllm.errors import BudgetError, InputError
from whyllm.explanation import Explanation
from whyllm.features import DEFAULT_FILLER
from whyllm.fits import FocusFit
from whyllm.methods.base import Method
from whyllm.methods.stopping import AutoBudget, parse_budget
from whyllm.models.base import LanguageModel
from whyllm.objective import PromptObjective
from whyllm.registry import check_params

__all__ = ["FocusedObjective", "coarse_levels", "explain_focus"]

INNER = ("lime", "kernelshap", "occlusion")
OWN_PARAMS = ("inner", "coarse", "keep", "coarse_budget", "coarse_method", "force_proxy")


def outside_values(words, rough: Explanation) -> np.ndarray:
    """Each word outside the neighbourhood gets its coarse unit's value spread evenly over the
    unit's words (so the ranking still orders the rest of the text by the coarse pass)."""
    values = np.zeros(len(words))
    for unit, value in zip(rough.features, rough.values):
        members = [j for j, w in enumerate(words) if unit.start <= w.start and w.end <= unit.end]
        for j in members:
            values[j] = value / len(members)
    return values


def words_per_unit(words, units) -> list[int]:
    return [sum(1 for w in words if u.start <= w.start and w.end <= u.end) for u in units]


def coarse_split(algo: Method, n_coarse: int, budget: int | None, used: int) -> int:
    """A coarse pass on the target: half of what is left of ``budget``, at least the method's need;
    a method of fixed cost (occlusion) takes just that, and leaves the rest to the fine pass."""
    if budget is None or algo.default_budget(n_coarse) == algo.min_budget(n_coarse):
        return algo.default_budget(n_coarse)
    return max(algo.min_budget(n_coarse), (int(budget) - used) // 2)


def check_focus_budget(algo: Method, units_words: list[int], budget: int | None,
                       coarse_budget: int | None, proxy: bool, coarse_algo: Method | None = None) -> None:
    """Fail before any model call when no split of ``budget`` can run both passes."""
    n_coarse = len(units_words)
    coarse_algo = coarse_algo or algo
    if coarse_budget is not None:
        coarse_algo.check_budget(n_coarse, int(coarse_budget))
    if budget is None:
        return
    screen = 1 if proxy else 0
    if proxy:  # the coarse pass runs on the proxy; should the screen refuse it, that is re-checked then
        coarse_on_target, where = 0, "on the proxy"
    else:
        coarse_on_target = (int(coarse_budget) if coarse_budget is not None else
                            coarse_algo.min_budget(n_coarse))
        where = f"over {n_coarse} units"
    fine = algo.min_budget(min([w for w in units_words if w > 0], default=1))
    need = screen + coarse_on_target + fine
    if int(budget) < need:
        raise BudgetError(f"focus needs a budget of at least {need} target calls here ({screen} screening, "
                          f"{coarse_on_target} for the coarse pass {where}, {fine} for the smallest "
                          f"unit's words); got {budget}")


def coarse_levels(coarse: str | Sequence[str]) -> list[str]:
    """``"documents,sentences"`` (or a list): the coarse pass's unit, then each middle level's."""
    levels = [k.strip() for k in (coarse.split(",") if isinstance(coarse, str) else coarse)]
    if not levels or not all(levels):
        raise InputError(f"coarse names one feature kind or several, comma-separated; got {coarse!r}")
    return levels


def explain_focus(text: str, target: Any, *, model: LanguageModel, proxy: LanguageModel | None = None,
                  inner: str = "lime", coarse: str | Sequence[str] = "sentences", keep: int = 2,
                  coarse_budget: int | None = None, features: Features = "words", template: str | None = None,
                  budget: int | str | AutoBudget | None = None, seed: int | None = 0,
                  perturbation: str = "delete",
                  filler: str = DEFAULT_FILLER, max_new_tokens: int = 5, progress: bool = False,
                  chat: bool = False,
                  task_verdict: TaskVerdict | None = None, coarse_method: str | None = None,
                  force_proxy: bool = False, record: dict[str, Any] | None = None,
                  **inner_params: Any) -> Explanation:
    """Coarse pass (``proxy`` or ``model``), then fine attribution on ``model`` inside the ``keep``
    most supportive coarse units. ``budget`` bounds the target calls of the whole explanation
    (screen, a coarse pass on the target, middle levels, fine pass); ``coarse_budget`` the coarse
    pass. ``coarse="documents,sentences"`` adds a middle level (:mod:`whyllm.compose.focus_levels`)."""
    levels = coarse_levels(coarse)
    coarse = levels[0]
    budget = parse_budget(budget)
    fine_rule = budget if isinstance(budget, AutoBudget) else None  # auto: each pass by its own rule
    budget = None if fine_rule is not None else budget
    if inner not in INNER:
        raise InputError(f"focus refines with one of {', '.join(INNER)}; got {inner!r}")
    if keep < 1:
        raise InputError(f"keep must be at least 1, got {keep}")
    if task_verdict is not None and proxy is None:
        raise InputError("a task verdict goes with a proxy (whether the proxy may run the coarse pass)")
    algo: Method = make_method(inner, inner_params)
    coarse_method = coarse_method or inner
    if coarse_method not in INNER:
        raise InputError(f"the coarse pass runs one of {', '.join(INNER)}; got {coarse_method!r}")
    coarse_cls = type(make_method(coarse_method, {}))
    coarse_params = {k: v for k, v in inner_params.items() if k in coarse_cls.param_names()}
    coarse_algo: Method = make_method(coarse_method, coarse_params)
    target_meter, coarse_meter = CostMeter(), CostMeter()
    user_template, template = template, model_template(model, template, chat)
    units = make_input(model, text, template=template, features=coarse).features
    words = make_input(model, text, template=template, features=features).features
    level_units = [make_input(model, text, template=template, features=k).features for k in levels[1:]]
    if force_proxy and proxy is None:
        raise InputError("force_proxy goes with a proxy")
    may_proxy = proxy is not None and (force_proxy or task_verdict is None or task_verdict.authorised)
    check_focus_budget(algo, words_per_unit(words, units), budget, coarse_budget, may_proxy, coarse_algo)
    inp, tgt = prepare(model, text, target, template=template, features=features, perturbation=perturbation,
                       filler=filler, max_new_tokens=max_new_tokens, meter=target_meter)
    coarse_model, screen = model, None
    if force_proxy:  # no screens: the proxy runs the coarse pass whatever it decides
        screen, coarse_model = {"forced": True}, proxy
    elif proxy is not None:
        screen = {"task": None if task_verdict is None else task_verdict.authorised}
    if may_proxy and not force_proxy:  # the instance screen of the proxy strategy: same decision, or no proxy
        args = (text, tgt, user_template, features, perturbation, filler)
        t_dec = decision_on_full(model, *args, target_meter, chat=chat)
        p_dec = decision_on_full(proxy, *args, coarse_meter, chat=chat)
        screen.update({"instance": "agree" if t_dec is not None and t_dec == p_dec else "disagree",
                       "target_decision": t_dec, "proxy_decision": p_dec})
        coarse_model = proxy if screen["instance"] == "agree" else model
    if coarse_model is model and proxy is not None:  # refused by a screen: the target runs both passes
        check_focus_budget(algo, words_per_unit(words, units), None if budget is None else
                           int(budget) - target_meter.sequences, coarse_budget, False, coarse_algo)
    if coarse_budget is None and coarse_model is model:
        coarse_budget = coarse_split(coarse_algo, len(units), budget, target_meter.sequences)
    coarse_target = tgt.for_model(coarse_model)
    rough = explain_on(coarse_model, text, coarse_target, method=coarse_method, features=coarse,
                       template=user_template, chat=chat, budget=coarse_budget, seed=seed,
                       perturbation=perturbation, filler=filler,
                       progress=progress, meter=coarse_meter if coarse_model is proxy else target_meter,
                       **coarse_params)
    total = None if budget is None else int(budget)  # the whole explanation's target calls
    budget = None if total is None else total - target_meter.sequences
    # the best ``keep`` units, fewer if the fine budget cannot cover their words
    for n_units in range(min(keep, len(rough.features)), 0, -1):
        chosen = [int(i) for i in rough.ranking()[:n_units]]
        spans = [(rough.features[i].start, rough.features[i].end) for i in chosen]
        inside = np.array([j for j, f in enumerate(inp.features)
                           if any(s <= f.start and f.end <= e for s, e in spans)], dtype=int)
        if budget is None or int(budget) >= algo.min_budget(len(inside)) or n_units == 1:
            break
    if len(inside) == 0:
        raise InputError("the focused neighbourhood holds no fine features")
    objective = PromptObjective(model, inp, tgt, target_meter, progress=progress)
    hood = Neighbourhood(inside, [rough.features[i].text for i in chosen], spans,
                         outside_values(inp.features, rough))
    for kind, kind_units in zip(levels[1:], level_units):
        left = None if total is None else total - target_meter.sequences
        hood = refine(hood, kind, kind_units, inp.features, objective, coarse_algo, algo, keep, left, seed)
    inside = hood.inside
    fine = FocusedObjective(objective, inside)
    if total is not None:  # what is left, and the inputs the fine pass needs that are scored already
        budget = total - target_meter.sequences + free_calls(fine)
    budget = checked_budget(algo, len(inside), fine_rule if fine_rule is not None else budget)
    rng = np.random.default_rng(seed)
    result, used = attribute(algo, fine, budget, rng)
    values = hood.values
    values[inside] = result.values
    fit = FocusFit(inner=result.fit, focus_units=hood.units, focus_spans=hood.spans, inside=inside.tolist(),
                   coarse_values=list(rough.values),
                   coarse_features=[f.text for f in rough.features], coarse_model=coarse_model.info.model_id,
                   samples_by={"coarse": coarse_model.info.model_id, "fine": model.info.model_id},
                   # the proxy's cost; a coarse pass on the target is part of ``cost``
                   coarse_cost=coarse_meter.snapshot().to_dict() if proxy is not None else None,
                   screen=screen, levels=hood.levels)
    params = {**budget_record(budget, used), "fine_budget": used, "coarse_budget": rough.params["budget"],
              "inner": inner, "coarse_method": coarse_method, "coarse": ",".join(levels), "keep": keep,
              "perturbation": perturbation, "max_new_tokens": max_new_tokens,
              "proxy": None if proxy is None else proxy.info.model_id, **algo.params,
              **concept_record(features), **(record or {})}
    if total is not None:
        params["budget"] = total
    # the fine pass's matrix covers the neighbourhood only: a focus explanation is scalar
    whole = replace(result, values=values, fit=fit, matrix=None, base_columns=None, full_columns=None,
                    uncertainty=focus_uncertainty(result, rough, inp.features, inside, values, rng))
    return assemble(whole, text=text, template=template, feature_kind=feature_kind(features),
                    features=inp.features, target=tgt, method="focus", params=params, seed=seed,
                    model_info=model.info, cost=target_meter.snapshot())


def focus_uncertainty(result, rough: Explanation, words, inside: np.ndarray, values: np.ndarray,
                      rng: np.random.Generator):
    """The fine pass's errors inside the neighbourhood; outside, each coarse unit's error spread as
    its value is (divided by its words). Top-k sets are checked on independent normal errors."""
    if result.uncertainty is None:
        return None
    se = outside_values(words, replace(rough, values=tuple(
        0.0 if rough.stderr is None or not np.isfinite(s) else s for s in (rough.stderr or ()))))
    se[inside] = result.uncertainty.stderr
    if not np.all(np.isfinite(se)):
        return uncertainty.unknown(values, "focus", result.uncertainty.estimand)
    if result.uncertainty.kind == "exact" and rough.exact:
        return uncertainty.exact(values, "focus: the fine pass's and the coarse pass's values")
    return uncertainty.from_covariance(values, np.diag(se**2), "focus",
                                       f"inside: {result.uncertainty.estimand}; outside: the coarse "
                                       "values spread over their words", rng,
                                       df=result.uncertainty.record.get("df"),
                                       record={"inner": result.uncertainty.summary()})


@STRATEGIES.register("focus")
class Focus(Strategy):
    """``method="focus"``: its own parameters (``inner``, ``coarse``, ``keep``, ``coarse_budget``)
    and the inner method's are method parameters, each checked."""

    name = "focus"
    named_as_method = True
    reads_task_verdict = True

    def validate(self, method: str, method_params: dict[str, Any]) -> None:
        inner = method_params.get("inner", "lime")
        coarse_method = method_params.get("coarse_method") or inner
        for role, name in (("refines", inner), ("runs its coarse pass", coarse_method)):
            if name not in INNER:
                raise InputError(f"focus {role} with one of {', '.join(INNER)}; got {name!r}")
        inner_params = {k: v for k, v in method_params.items() if k not in OWN_PARAMS}
        check_params(f"focus (inner={inner})", method_params,
                     OWN_PARAMS + make_method(inner, inner_params).param_names())

    def explain(self, call: Call) -> Explanation:
        verdict = call.task_verdict
        return explain_focus(call.text, call.target, model=call.model, proxy=call.proxy,
                             task_verdict=TaskVerdict.load(verdict) if isinstance(verdict, str) else verdict,
                             **call.options.kwargs(), **call.method_params)
