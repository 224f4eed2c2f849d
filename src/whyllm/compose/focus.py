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
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from whyllm import uncertainty
from whyllm.compose.base import STRATEGIES, Call, Strategy
from whyllm.compose.focus_levels import FocusedObjective, Neighbourhood, free_calls, refine
from whyllm.compose.proxy import TaskVerdict, decision_on_full
from whyllm.cost import CostMeter
from whyllm.engine import (
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
from whyllm.fits import FocusFit
from whyllm.methods.base import Method
from whyllm.methods.stopping import AutoBudget
from whyllm.models.base import LanguageModel
from whyllm.objective import PromptObjective
from whyllm.registry import check_params
from whyllm.request import Options

__all__ = ["FocusOptions", "FocusRun", "FocusedObjective", "coarse_levels", "explain_focus"]

INNER = ("lime", "kernelshap", "occlusion")


def outside_values(words, coarse: Explanation) -> np.ndarray:
    """Each word outside the neighbourhood gets its coarse unit's value spread evenly over the
    unit's words (so the ranking still orders the rest of the text by the coarse pass)."""
    values = np.zeros(len(words))
    for unit, value in zip(coarse.features, coarse.values):
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


@dataclass(frozen=True)
class FocusOptions:
    """Focus's own parameters: the ``inner`` method of the fine pass (and of the coarse pass unless
    ``coarse_method`` names another), the ``coarse`` feature kinds (the coarse pass's, then each
    middle level's), how many coarse units to ``keep``, the coarse pass's budget, and
    ``force_proxy`` (the proxy runs the coarse pass without screens)."""

    inner: str = "lime"
    coarse: str | Sequence[str] = "sentences"
    keep: int = 2
    coarse_budget: int | None = None
    coarse_method: str | None = None
    force_proxy: bool = False

    @classmethod
    def split(cls, params: dict[str, Any]) -> tuple[FocusOptions, dict[str, Any]]:
        """``method_params`` -> (focus's own options, the inner method's parameters)."""
        own = {k: v for k, v in params.items() if k in OWN_PARAMS}
        return cls(**own), {k: v for k, v in params.items() if k not in OWN_PARAMS}

    def check(self, proxy: LanguageModel | None, task_verdict: TaskVerdict | None) -> None:
        if self.inner not in INNER:
            raise InputError(f"focus refines with one of {', '.join(INNER)}; got {self.inner!r}")
        if self.keep < 1:
            raise InputError(f"keep must be at least 1, got {self.keep}")
        if task_verdict is not None and proxy is None:
            raise InputError("a task verdict goes with a proxy (whether the proxy may run the coarse pass)")
        if (self.coarse_method or self.inner) not in INNER:
            raise InputError(f"the coarse pass runs one of {', '.join(INNER)}; got {self.coarse_method!r}")
        if self.force_proxy and proxy is None:
            raise InputError("force_proxy goes with a proxy")


OWN_PARAMS = tuple(f.name for f in fields(FocusOptions))


class FocusRun:
    """One focus explanation, pass by pass: :meth:`screen` (which model runs the coarse pass),
    :meth:`coarse_pass`, :meth:`neighbourhood` (the best coarse units, narrowed by any middle
    levels) and :meth:`fine_pass`. Everything checkable is checked when it is made, before any
    model call."""

    def __init__(self, text: str, target: Any, model: LanguageModel, proxy: LanguageModel | None,
                 task_verdict: TaskVerdict | None, options: Options, focus: FocusOptions,
                 inner_params: dict[str, Any]) -> None:
        focus.check(proxy, task_verdict)
        self.text, self.model, self.proxy, self.options, self.focus = text, model, proxy, options, focus
        self.levels = coarse_levels(focus.coarse)
        budget = options.budget
        self.fine_rule = budget if isinstance(budget, AutoBudget) else None  # auto: each pass by its rule
        self.budget = None if self.fine_rule is not None else budget
        self.algo: Method = make_method(focus.inner, inner_params)
        self.coarse_method = focus.coarse_method or focus.inner
        coarse_cls = type(make_method(self.coarse_method, {}))
        self.coarse_params = {k: v for k, v in inner_params.items() if k in coarse_cls.param_names()}
        self.coarse_algo: Method = make_method(self.coarse_method, self.coarse_params)
        self.target_meter, self.coarse_meter = CostMeter(), CostMeter()
        self.template = model_template(model, options.template, options.chat)
        units = make_input(model, text, template=self.template, features=self.levels[0]).features
        words = make_input(model, text, template=self.template, features=options.features).features
        self.level_units = [make_input(model, text, template=self.template, features=k).features
                            for k in self.levels[1:]]
        self.units_words = words_per_unit(words, units)
        self.may_proxy = proxy is not None and (focus.force_proxy or task_verdict is None
                                                or task_verdict.authorised)
        self.task_verdict = task_verdict
        check_focus_budget(self.algo, self.units_words, self.budget, focus.coarse_budget, self.may_proxy,
                           self.coarse_algo)
        self.input, self.target = prepare(model, text, target, template=self.template,
                                          features=options.features, perturbation=options.perturbation,
                                          filler=options.filler, max_new_tokens=options.max_new_tokens,
                                          meter=self.target_meter)

    def screen(self) -> tuple[LanguageModel, dict | None]:
        """The model that runs the coarse pass, and the screens' record."""
        opts, proxy = self.options, self.proxy
        if self.focus.force_proxy:  # no screens: the proxy runs the coarse pass whatever it decides
            return proxy, {"forced": True}
        if proxy is None:
            return self.model, None
        screen: dict[str, Any] = {"task": None if self.task_verdict is None else self.task_verdict.authorised}
        if not self.may_proxy:
            return self.model, screen
        # the instance screen of the proxy strategy: the same decision on the full input, or no proxy
        args = (self.text, self.target, opts.template, opts.features, opts.perturbation, opts.filler)
        t_dec = decision_on_full(self.model, *args, self.target_meter, chat=opts.chat)
        p_dec = decision_on_full(proxy, *args, self.coarse_meter, chat=opts.chat)
        screen.update({"instance": "agree" if t_dec is not None and t_dec == p_dec else "disagree",
                       "target_decision": t_dec, "proxy_decision": p_dec})
        return (proxy if screen["instance"] == "agree" else self.model), screen

    def coarse_pass(self, coarse_model: LanguageModel) -> Explanation:
        """The coarse method's explanation over the coarse units, on ``coarse_model``."""
        opts, coarse_budget = self.options, self.focus.coarse_budget
        if coarse_model is self.model and self.proxy is not None:  # a screen refused: the target runs both
            left = None if self.budget is None else int(self.budget) - self.target_meter.sequences
            check_focus_budget(self.algo, self.units_words, left, coarse_budget, False, self.coarse_algo)
        if coarse_budget is None and coarse_model is self.model:
            coarse_budget = coarse_split(self.coarse_algo, len(self.units_words), self.budget,
                                         self.target_meter.sequences)
        meter = self.coarse_meter if coarse_model is self.proxy else self.target_meter
        return explain_on(coarse_model, self.text, self.target.for_model(coarse_model),
                          method=self.coarse_method, features=self.levels[0], template=opts.template,
                          chat=opts.chat, budget=coarse_budget, seed=opts.seed,
                          perturbation=opts.perturbation, filler=opts.filler, progress=opts.progress,
                          meter=meter, **self.coarse_params)

    def neighbourhood(self, coarse: Explanation, objective: PromptObjective) -> Neighbourhood:
        """The best ``keep`` coarse units (fewer if the fine budget cannot cover their words),
        narrowed by each middle level on the target."""
        total = None if self.budget is None else int(self.budget)
        left = None if total is None else total - self.target_meter.sequences
        features = self.input.features
        for n_units in range(min(self.focus.keep, len(coarse.features)), 0, -1):
            chosen = [int(i) for i in coarse.ranking()[:n_units]]
            spans = [(coarse.features[i].start, coarse.features[i].end) for i in chosen]
            inside = np.array([j for j, f in enumerate(features)
                               if any(s <= f.start and f.end <= e for s, e in spans)], dtype=int)
            if left is None or left >= self.algo.min_budget(len(inside)) or n_units == 1:
                break
        if len(inside) == 0:
            raise InputError("the focused neighbourhood holds no fine features")
        found = Neighbourhood(inside, [coarse.features[i].text for i in chosen], spans,
                              outside_values(features, coarse))
        for kind, kind_units in zip(self.levels[1:], self.level_units):
            left = None if total is None else total - self.target_meter.sequences
            found = refine(found, kind, kind_units, features, objective, self.coarse_algo, self.algo,
                           self.focus.keep, left, self.options.seed)
        return found

    def fine_pass(self, coarse_model: LanguageModel, coarse: Explanation, objective: PromptObjective,
                  found: Neighbourhood, screen: dict | None) -> Explanation:
        """The inner method on the target inside the neighbourhood, assembled with the rest."""
        opts, focus, model = self.options, self.focus, self.model
        inside = found.inside
        fine = FocusedObjective(objective, inside)
        total = None if self.budget is None else int(self.budget)
        budget = None if total is None else total - self.target_meter.sequences + free_calls(fine)
        rule = self.fine_rule if self.fine_rule is not None else budget
        budget = checked_budget(self.algo, len(inside), rule)
        rng = np.random.default_rng(opts.seed)
        result, used = attribute(self.algo, fine, budget, rng)
        values = found.values
        values[inside] = result.values
        fit = FocusFit(inner=result.fit, focus_units=found.units, focus_spans=found.spans,
                       inside=inside.tolist(), coarse_values=list(coarse.values),
                       coarse_features=[f.text for f in coarse.features],
                       coarse_model=coarse_model.info.model_id,
                       samples_by={"coarse": coarse_model.info.model_id, "fine": model.info.model_id},
                       # the proxy's cost; a coarse pass on the target is part of ``cost``
                       coarse_cost=self.coarse_meter.snapshot().to_dict() if self.proxy is not None else None,
                       screen=screen, levels=found.levels)
        params = {**budget_record(budget, used), "fine_budget": used,
                  "coarse_budget": coarse.params["budget"], "inner": focus.inner,
                  "coarse_method": self.coarse_method, "coarse": ",".join(self.levels), "keep": focus.keep,
                  "perturbation": opts.perturbation, "max_new_tokens": opts.max_new_tokens,
                  "proxy": None if self.proxy is None else self.proxy.info.model_id, **self.algo.params,
                  **concept_record(opts.features), **(opts.record or {})}
        if total is not None:
            params["budget"] = total
        # the fine pass's matrix covers the neighbourhood only: a focus explanation is scalar
        whole = replace(result, values=values, fit=fit, matrix=None, base_columns=None, full_columns=None,
                        uncertainty=focus_uncertainty(result, coarse, self.input.features, inside, values,
                                                      rng))
        return assemble(whole, text=self.text, template=self.template,
                        feature_kind=feature_kind(opts.features),
                        features=self.input.features, target=self.target, method="focus", params=params,
                        seed=opts.seed, model_info=model.info, cost=self.target_meter.snapshot())

    def run(self) -> Explanation:
        coarse_model, screen = self.screen()
        coarse = self.coarse_pass(coarse_model)
        objective = PromptObjective(self.model, self.input, self.target, self.target_meter,
                                    progress=self.options.progress)
        return self.fine_pass(coarse_model, coarse, objective, self.neighbourhood(coarse, objective), screen)


def explain_focus(text: str, target: Any, *, model: LanguageModel, proxy: LanguageModel | None = None,
                  task_verdict: TaskVerdict | None = None, options: Options | None = None,
                  focus: FocusOptions | None = None, inner_params: dict[str, Any] | None = None
                  ) -> Explanation:
    """Coarse pass (``proxy`` or ``model``), then fine attribution on ``model`` inside the ``keep``
    most supportive coarse units. ``options.budget`` bounds the target calls of the whole
    explanation (screen, a coarse pass on the target, middle levels, fine pass);
    ``focus.coarse_budget`` the coarse pass. ``coarse="documents,sentences"`` adds a middle level
    (:mod:`whyllm.compose.focus_levels`)."""
    return FocusRun(text, target, model, proxy, task_verdict, options or Options(), focus or FocusOptions(),
                    inner_params or {}).run()


def focus_uncertainty(result, coarse: Explanation, words, inside: np.ndarray, values: np.ndarray,
                      rng: np.random.Generator):
    """The fine pass's errors inside the neighbourhood; outside, each coarse unit's error spread as
    its value is (divided by its words). Top-k sets are checked on independent normal errors."""
    if result.uncertainty is None:
        return None
    se = outside_values(words, replace(coarse, values=tuple(
        0.0 if coarse.stderr is None or not np.isfinite(s) else s for s in (coarse.stderr or ()))))
    se[inside] = result.uncertainty.stderr
    if not np.all(np.isfinite(se)):
        return uncertainty.unknown(values, "focus", result.uncertainty.estimand)
    if result.uncertainty.kind == "exact" and coarse.exact:
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
        focus, inner_params = FocusOptions.split(call.method_params)
        return explain_focus(call.text, call.target, model=call.model, proxy=call.proxy,
                             task_verdict=TaskVerdict.load(verdict) if isinstance(verdict, str) else verdict,
                             options=call.options, focus=focus, inner_params=inner_params)
