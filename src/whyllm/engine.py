"""The engine every entry point shares: prepare the input and target, build the objective, make and
run one method on one model (:func:`explain_on`).

``api`` (the public entry points), the strategies of :mod:`whyllm.compose` (proxy, focus), neurons,
metrics, tasks, benchmarks and the command line import it; it imports none of them (checked by the
import-linter contracts in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import InputError
from whyllm.explanation import Explanation, json_safe
from whyllm.features import PERTURBATIONS, SEGMENTERS, PromptInput
from whyllm.features.concepts import KIND as CONCEPTS
from whyllm.features.concepts import ConceptInput, ConceptSet
from whyllm.methods import METHODS, Method
from whyllm.models import LanguageModel, load_model
from whyllm.models.chat import model_template
from whyllm.objective import Objective
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


Features = str | ConceptSet


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
               perturbation: str = "delete", filler: str = " _", meter: CostMeter | None = None
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


def checked_budget(algo: Method, n_features: int, budget: int | None) -> int:
    """``budget`` (the method's default when None), refused before any model work if too small."""
    budget = algo.default_budget(n_features) if budget is None else int(budget)
    algo.check_budget(n_features, budget)
    return budget


def explain_on(model: LanguageModel, text: str, target: str | Sequence[str] | Target | None, *,
               method: str = "kernelshap", features: Features = "words", template: str | None = None,
               budget: int | None = None, seed: int | None = 0, perturbation: str = "delete",
               filler: str = " _", max_new_tokens: int = 5, progress: bool = False,
               meter: CostMeter | None = None, chat: bool = False, **method_params: Any) -> Explanation:
    """One model does all the sampling: the method ``method`` explains ``target`` after ``text``."""
    method_params, options = split_feature_options(features, method_params)
    features = resolve_features(model, text, features, template, chat, options, perturbation)
    algo = make_method(method, method_params)
    template = model_template(model, template, chat)
    meter = meter if meter is not None else CostMeter()
    inp = make_input(model, text, template=template, features=features, perturbation=perturbation,
                     filler=filler, meter=meter)
    budget = checked_budget(algo, inp.n_features, budget)  # before the model is asked anything
    tgt = target_for(model, inp, target, max_new_tokens)
    objective = Objective(model, inp, tgt, meter, progress=progress, with_top=algo.needs_top(tgt))
    result = algo.attribute(objective, budget, np.random.default_rng(seed))
    params = {"budget": budget, "perturbation": perturbation, "max_new_tokens": max_new_tokens,
              **algo.params, **inp.perturber.recorded(), **concept_record(features), **(result.record or {})}
    return Explanation(
        text=text, template=template, feature_kind=feature_kind(features), features=inp.features,
        values=tuple(float(v) for v in result.values), base_value=float(result.base_value),
        full_value=float(result.full_value), target=tgt, method=method, params=json_safe(params),
        seed=seed, model=model.info, fit=result.fit.normalized(), cost=meter.snapshot(),
        **matrix_fields(result, tgt, model),
    )


def as_tuple(a) -> tuple | None:
    """An array as nested tuples of floats (what an Explanation holds), or None."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    return tuple(float(v) for v in a) if a.ndim == 1 else tuple(tuple(float(v) for v in row) for row in a)


def matrix_fields(result, target: Target, model: LanguageModel) -> dict:
    """The schema-2 fields of a multi-output method's result (nothing for a scalar-only one)."""
    if result.matrix is None:
        return {}
    return {"matrix": as_tuple(result.matrix), "outputs": target.outputs(model),
            "base_columns": as_tuple(result.base_columns), "full_columns": as_tuple(result.full_columns)}


def objective_for(exp: Explanation, model: LanguageModel, meter: CostMeter | None = None,
                  with_top: bool = False) -> Objective:
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
                     filler=exp.params.get("filler", " _"))
    if inp.features != exp.features:
        raise InputError("this model splits the text into other features than the explanation's; "
                         f"was it made with another model? (explanation: {exp.model.model_id})")
    tgt = Target.from_dict(exp.target.to_dict())
    return Objective(model, inp, tgt, meter if meter is not None else CostMeter(), with_top=with_top)


def probability_objective(exp: Explanation, model: LanguageModel, meter: CostMeter | None = None):
    """masks -> the probability of ``exp``'s target (the unit of the faithfulness metrics)."""
    objective = objective_for(exp, model, meter)

    def prob(masks: np.ndarray) -> np.ndarray:
        return np.array([exp.target.probability(v) for v in objective.value(masks)])

    return prob
