"""The engine every entry point shares: prepare the input and target, build the objective, make and
run one method on one model (:func:`explain_on`).

``api`` (the public entry points), the strategies of :mod:`whyllm.compose` (proxy, focus), neurons,
metrics, tasks, benchmarks and the command line import it; it imports none of them (checked by the
import-linter contracts in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import InputError
from whyllm.explanation import Explanation, json_safe
from whyllm.features import DEFAULT_FILLER, PERTURBATIONS, SEGMENTERS, PromptInput
from whyllm.features.concepts import KIND as CONCEPTS
from whyllm.features.concepts import ConceptInput, ConceptSet
from whyllm.methods import METHODS, Method
from whyllm.methods.base import Attribution
from whyllm.methods.stopping import AutoBudget, parse_budget, run_auto
from whyllm.models import LanguageModel, load_model
from whyllm.models.chat import model_template
from whyllm.objective import PromptObjective
from whyllm.request import Features, Options
from whyllm.targets import Target, resolve_target

_DEFAULT_MODEL: LanguageModel | None = None


def default_model() -> LanguageModel:
    """The default Gemma 3 270M, loaded once per process."""
    global _DEFAULT_MODEL
    if _DEFAULT_MODEL is None:
        _DEFAULT_MODEL = load_model()
    return _DEFAULT_MODEL


def make_method(method: str, method_params: dict[str, Any]) -> Method:
    """The registered method ``method`` with ``method_params`` (each checked against its signature)."""
    return METHODS.get(method).create(method_params)


def feature_kind(features: Features) -> str:
    """The name an explanation records for ``features`` (a segmenter's, or ``concepts``)."""
    return features.kind if isinstance(features, ConceptSet) else features


def split_feature_options(features: Features, params: dict[str, Any]
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The method's own parameters and the concept extractor's options (``extractor``, ...)."""
    if features != CONCEPTS:
        return dict(params), {}
    from whyllm.concepts import OPTIONS

    return ({k: v for k, v in params.items() if k not in OPTIONS},
            {k: v for k, v in params.items() if k in OPTIONS})


def resolve_features(model: LanguageModel, text: str, features: Features, template: str | None,
                     chat: bool, options: dict[str, Any], perturbation: str = "delete") -> Features:
    """``features="concepts"``: run the extractor of ``options`` once, on ``model``, so that every
    pass of every strategy shares the same concepts (and, for ``perturbation="rewrite"``, the same
    rewriter and its cache). Any other kind is returned as it is."""
    if features != CONCEPTS:
        return features
    from whyllm.concepts import extract

    return extract(model, text, template=model_template(model, template, chat), perturbation=perturbation,
                   **options)


def make_input(model: LanguageModel, text: str, *, template: str | None, features: Features,
               perturbation: str = "delete", filler: str = DEFAULT_FILLER, meter: CostMeter | None = None
               ) -> PromptInput | ConceptInput:
    """The interpretable input of ``text`` for ``model``: segments of a registered kind, or concepts."""
    if isinstance(features, ConceptSet):
        return ConceptInput(model, text, features, template=template, perturbation=perturbation,
                            filler=filler, meter=meter)
    if features == CONCEPTS:
        raise InputError("features='concepts' needs its concepts: pass extractor=... (clusters, llm, "
                         "lexicon, spans)")
    SEGMENTERS.get(features)
    PERTURBATIONS.get(perturbation)
    return PromptInput(model, text, template=template, features=features, perturbation=perturbation,
                       filler=filler, meter=meter)


def prepare(model: LanguageModel, text: str, target: str | Sequence[str] | Target | None, *,
            template: str | None, features: Features, perturbation: str, filler: str, max_new_tokens: int,
            meter: CostMeter) -> tuple[PromptInput | ConceptInput, Target]:
    """The features of ``text`` for ``model`` and the resolved target (checked to fit the context)."""
    inp = make_input(model, text, template=template, features=features, perturbation=perturbation,
                     filler=filler, meter=meter)
    return inp, target_for(model, inp, target, max_new_tokens)


def target_for(model: LanguageModel, inp: PromptInput | ConceptInput,
               target: str | Sequence[str] | Target | None, max_new_tokens: int) -> Target:
    """The resolved target (the model's greedy answer when None), checked to fit the context."""
    tgt = target if isinstance(target, Target) else resolve_target(model, target, inp.ids,
                                                                   max_new_tokens=max_new_tokens)
    for req in tgt.requests(inp.ids):
        model.check_fits(req)
    return tgt


def concept_record(features: Features) -> dict[str, Any]:
    """What an explanation's params record about its concepts (their extractor and its cost)."""
    if not isinstance(features, ConceptSet):
        return {}
    return {"concepts": {"extractor": features.extractor, **features.record}}


def checked_budget(algo: Method, n_features: int, budget: Any) -> int | AutoBudget:
    """``budget`` (None: ``"auto"`` for a sampled method, else the method's default), refused
    before any model work if too small or too large. ``"auto"`` for a method that does not sample
    in a stream is its default budget."""
    budget = parse_budget(budget)
    if budget is None:
        budget = AutoBudget() if algo.sampled else algo.default_budget(n_features)
    if isinstance(budget, AutoBudget):
        if not algo.sampled:
            return algo.default_budget(n_features)
        algo.check_budget(n_features, budget.first_budget(algo, n_features))
        algo.check_budget(n_features, max(budget.max_budget, algo.min_budget(n_features)))
        return budget
    algo.check_budget(n_features, budget)
    return budget


def attribute(algo: Method, objective, budget: int | AutoBudget, rng: np.random.Generator
              ) -> tuple[Attribution, int]:
    """Run ``algo`` at a fixed budget, or in rounds until ``budget``'s rule stops it: the result and
    the budget it used."""
    if isinstance(budget, AutoBudget):
        return run_auto(algo, objective, budget, rng)
    return algo.attribute(objective, budget, rng), budget


def budget_record(budget: int | AutoBudget, used: int) -> dict[str, Any]:
    """What params keep of the budget: the one used, and the auto rule that chose it."""
    return {"budget": used, **({"auto_budget": asdict(budget)} if isinstance(budget, AutoBudget) else {})}


def assemble(result: Attribution, *, text: str, template: str | None, feature_kind: str, features,
             target: Target, method: str, params: dict[str, Any], seed: int | None, model_info,
             cost, outputs: tuple = ()) -> Explanation:
    """The one place an Explanation is built from a method's result: values, matrix, and their
    uncertainty (every strategy, task and entry point comes through here)."""
    return Explanation(
        text=text, template=template, feature_kind=feature_kind, features=tuple(features),
        values=tuple(float(v) for v in result.values), base_value=float(result.base_value),
        full_value=float(result.full_value), target=target, method=method, params=json_safe(params),
        seed=seed, model=model_info, fit=result.fit.normalized(), cost=cost,
        **matrix_fields(result, outputs), **uncertainty_fields(result),
    )


def explain_on(model: LanguageModel, text: str, target: str | Sequence[str] | Target | None, *,
               method: str = "kernelshap", meter: CostMeter | None = None, options: Options | None = None,
               **kw: Any) -> Explanation:
    """One model does all the sampling: the method ``method`` explains ``target`` after ``text``.
    ``kw`` holds options (:class:`~whyllm.request.Options` fields, over ``options``) and the
    method's own parameters."""
    opts, method_params = split_options(options, kw)
    method_params, feature_options = split_feature_options(opts.features, method_params)
    features = resolve_features(model, text, opts.features, opts.template, opts.chat, feature_options,
                                opts.perturbation)
    algo = make_method(method, method_params)
    template = model_template(model, opts.template, opts.chat)
    meter = meter if meter is not None else CostMeter()
    inp = make_input(model, text, template=template, features=features, perturbation=opts.perturbation,
                     filler=opts.filler, meter=meter)
    budget = checked_budget(algo, inp.n_features, opts.budget)  # before the model is asked anything
    tgt = target_for(model, inp, target, opts.max_new_tokens)
    objective = PromptObjective(model, inp, tgt, meter, progress=opts.progress, with_top=algo.needs_top(tgt))
    result, used = attribute(algo, objective, budget, np.random.default_rng(opts.seed))
    params = {**budget_record(budget, used), "perturbation": opts.perturbation,
              "max_new_tokens": opts.max_new_tokens, **algo.params, **inp.perturber.recorded(),
              **concept_record(features), **(result.record or {}), **opts.record}
    return assemble(result, text=text, template=template, feature_kind=feature_kind(features),
                    features=inp.features, target=tgt, method=method, params=params, seed=opts.seed,
                    model_info=model.info, cost=meter.snapshot(),
                    outputs=tgt.outputs(model) if result.matrix is not None else ())


def split_options(options: Options | None, kw: dict[str, Any]) -> tuple[Options, dict[str, Any]]:
    """``kw``'s option fields over ``options`` (the defaults when None), and the rest."""
    names = Options.names()
    base = options if options is not None else Options()
    rest = {k: v for k, v in kw.items() if k not in names}
    return base.but(**{k: v for k, v in kw.items() if k in names}), rest


def as_tuple(a) -> tuple | None:
    """An array as nested tuples of floats (what an Explanation holds), or None."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    return tuple(float(v) for v in a) if a.ndim == 1 else tuple(tuple(float(v) for v in row) for row in a)


def matrix_fields(result: Attribution, outputs: tuple) -> dict:
    """The schema-2 fields of a multi-output method's result (nothing for a scalar-only one)."""
    if result.matrix is None:
        return {}
    return {"matrix": as_tuple(result.matrix), "outputs": tuple(outputs),
            "base_columns": as_tuple(result.base_columns), "full_columns": as_tuple(result.full_columns)}


def uncertainty_fields(result: Attribution) -> dict:
    """The schema-3 fields: standard errors, intervals, certain top-k, the matrix's errors."""
    unc = result.uncertainty
    if unc is None:
        return {}
    per_value = unc.kind != "completeness"
    return {"stderr": as_tuple(unc.stderr) if per_value else None,
            "interval": tuple(zip(as_tuple(unc.low), as_tuple(unc.high))) if per_value else None,
            "certain_top": unc.certain_top if unc.top_sets else None,
            "matrix_stderr": as_tuple(unc.matrix_stderr) if result.matrix is not None else None,
            "uncertainty": json_safe(unc.summary())}


def objective_for(exp: Explanation, model: LanguageModel, meter: CostMeter | None = None,
                  with_top: bool = False) -> PromptObjective:
    """Rebuild the scoring function behind ``exp`` on ``model`` (same features and target)."""
    features: Features = exp.feature_kind
    if features == CONCEPTS:  # the explanation's own concepts, not a new extraction
        features = ConceptSet.from_features(exp.features, exp.params.get("concepts"))
        if exp.params.get("perturbation") == "rewrite":  # the same generator and verifier (and cache)
            from whyllm.concepts.rewrite import rewriter_for

            spec = exp.params["rewrite"]
            features = rewriter_for(exp.text, features, spec["generator"], spec["verifier"],
                                    spec["noncompliant"])
    inp = make_input(model, exp.text, template=exp.template, features=features,
                     perturbation=exp.params.get("perturbation", "delete"),
                     filler=exp.params.get("filler", DEFAULT_FILLER))
    if inp.features != exp.features:
        raise InputError("this model splits the text into other features than the explanation's; "
                         f"was it made with another model? (explanation: {exp.model.model_id})")
    tgt = Target.from_dict(exp.target.to_dict())
    return PromptObjective(model, inp, tgt, meter if meter is not None else CostMeter(), with_top=with_top)


def probability_objective(exp: Explanation, model: LanguageModel, meter: CostMeter | None = None):
    """masks -> the probability of ``exp``'s target (the unit of the faithfulness metrics)."""
    objective = objective_for(exp, model, meter)

    def prob(masks: np.ndarray) -> np.ndarray:
        return np.array([exp.target.probability(v) for v in objective.value(masks)])

    return prob
