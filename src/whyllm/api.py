"""The public entry points: :func:`explain` and :func:`evaluate`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import InputError
from whyllm.explanation import Explanation, json_safe
from whyllm.features import PERTURBATIONS, SEGMENTERS, PromptInput
from whyllm.methods import METHODS
from whyllm.metrics.faithfulness import Faithfulness, faithfulness
from whyllm.models import LanguageModel, load_model
from whyllm.objective import Objective
from whyllm.targets import Target, resolve_target

_DEFAULT_MODEL: LanguageModel | None = None


def default_model() -> LanguageModel:
    """The default Gemma 3 270M, loaded once per process."""
    global _DEFAULT_MODEL
    if _DEFAULT_MODEL is None:
        _DEFAULT_MODEL = load_model()
    return _DEFAULT_MODEL


def explain(text: str, target: str | Sequence[str] | None = None, *, model: LanguageModel | None = None,
            method: str = "kernelshap", features: str = "words", template: str | None = None,
            budget: int | None = None, seed: int | None = 0, perturbation: str = "delete",
            filler: str = " _", max_new_tokens: int = 5, progress: bool = False,
            proxy: LanguageModel | None = None, task_verdict: Any = None, chat: bool = False,
            **method_params: Any) -> Explanation:
    """Explain why ``model`` gives ``target`` after ``text`` (inside ``template``, if given).

    ``target`` is a continuation string, a pair of strings (explains log p(a) - log p(b)), or None
    (the model's greedy continuation, up to ``max_new_tokens`` tokens). ``features`` is one of
    ``tokens``, ``words``, ``sentences``, ``paragraphs``, ``items``; only the ``{text}`` slot of
    ``template`` is perturbed. ``budget`` bounds the distinct inputs the model scores; ``seed``
    fixes every random choice (a private generator, never global state).

    ``proxy``: a cheaper model samples instead of ``model`` when it makes the same decision on the
    full input (see :mod:`whyllm.methods.proxy`; ``task_verdict`` is a task screen's verdict or its
    JSON path). ``method="focus"``: coarse-to-fine for long inputs (see :mod:`whyllm.methods.focus`;
    parameters ``inner``, ``coarse``, ``keep``, ``coarse_budget``; a ``proxy`` runs the coarse pass).
    ``chat``: wrap ``template`` (or the bare text) in each model's chat template as the user turn.
    """
    model = model if model is not None else default_model()
    common = {"features": features, "template": template, "budget": budget, "seed": seed,
              "perturbation": perturbation, "filler": filler, "max_new_tokens": max_new_tokens,
              "progress": progress, "chat": chat}
    if method == "focus":
        from whyllm.methods.focus import explain_focus

        return explain_focus(text, target, model=model, proxy=proxy, **common, **method_params)
    if proxy is not None:
        from whyllm.methods.proxy import explain_with_proxy

        return explain_with_proxy(text, target, model=model, proxy=proxy, method=method,
                                  task_verdict=task_verdict, **common, **method_params)
    return explain_on(model, text, target, method=method, **common, **method_params)


def chat_template(model: LanguageModel, template: str | None) -> str:
    """``template`` (default ``{text}``) as the user turn of ``model``'s chat template, ready for the
    assistant's answer; only the user's text stays a feature, the chat markup is fixed."""
    tok = getattr(model, "tokenizer", None)
    if tok is None or not getattr(tok, "chat_template", None):
        raise InputError(f"{model.model_id} has no chat template; leave chat off for a base model")
    user = template if template is not None else "{text}"
    wrapped = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                      add_generation_prompt=True)
    bos = getattr(tok, "bos_token", None)
    if bos and wrapped.startswith(bos) and model.encode("x").ids[:1] == (tok.bos_token_id,):
        wrapped = wrapped[len(bos):]  # the tokenizer adds it again
    return wrapped


def model_template(model: LanguageModel, template: str | None, chat: bool) -> str | None:
    return chat_template(model, template) if chat else template


def make_method(method: str, method_params: dict[str, Any]):
    method_cls = METHODS.get(method)
    try:
        return method_cls(**method_params)
    except TypeError as exc:
        raise InputError(f"bad parameter for {method}: {exc}") from exc


def prepare(model: LanguageModel, text: str, target: str | Sequence[str] | Target | None, *,
            template: str | None, features: str, perturbation: str, filler: str, max_new_tokens: int,
            meter: CostMeter) -> tuple[PromptInput, Target]:
    """The features of ``text`` for ``model`` and the resolved target (checked to fit the context)."""
    SEGMENTERS.get(features)
    PERTURBATIONS.get(perturbation)
    inp = PromptInput(model, text, template=template, features=features, perturbation=perturbation,
                      filler=filler, meter=meter)
    tgt = target if isinstance(target, Target) else resolve_target(model, target, inp.ids,
                                                                   max_new_tokens=max_new_tokens)
    for req in tgt.requests(inp.ids):
        model.check_fits(req)
    return inp, tgt


def explain_on(model: LanguageModel, text: str, target: str | Sequence[str] | Target | None, *,
               method: str = "kernelshap", features: str = "words", template: str | None = None,
               budget: int | None = None, seed: int | None = 0, perturbation: str = "delete",
               filler: str = " _", max_new_tokens: int = 5, progress: bool = False,
               meter: CostMeter | None = None, chat: bool = False, **method_params: Any) -> Explanation:
    """One model does all the sampling (what :func:`explain` does without a proxy or focus)."""
    algo = make_method(method, method_params)
    template = model_template(model, template, chat)
    meter = meter if meter is not None else CostMeter()
    inp, tgt = prepare(model, text, target, template=template, features=features, perturbation=perturbation,
                       filler=filler, max_new_tokens=max_new_tokens, meter=meter)
    budget = algo.default_budget(inp.n_features) if budget is None else int(budget)
    algo.check_budget(inp.n_features, budget)
    objective = Objective(model, inp, tgt, meter, progress=progress, with_top=algo.needs_top(tgt.kind))
    rng = np.random.default_rng(seed)
    result = algo.attribute(objective, budget, rng)
    params = {"budget": budget, "perturbation": perturbation, "max_new_tokens": max_new_tokens,
              **algo.params}
    if perturbation == "replace":
        params["filler"] = filler
    return Explanation(
        text=text, template=template, feature_kind=features, features=inp.features,
        values=tuple(float(v) for v in result.values), base_value=float(result.base_value),
        full_value=float(result.full_value), target=tgt, method=method, params=json_safe(params),
        seed=seed, model=model.info, fit=json_safe(result.fit), cost=meter.snapshot(),
    )


def objective_for(exp: Explanation, model: LanguageModel, meter: CostMeter | None = None,
                  with_top: bool = False) -> Objective:
    """Rebuild the scoring function behind ``exp`` on ``model`` (same features and target)."""
    inp = PromptInput(model, exp.text, template=exp.template, features=exp.feature_kind,
                      perturbation=exp.params.get("perturbation", "delete"),
                      filler=exp.params.get("filler", " _"))
    if inp.features != exp.features:
        raise InputError("this model splits the text into other features than the explanation's; "
                         f"was it made with another model? (explanation: {exp.model.model_id})")
    tgt = Target.from_dict(exp.target.to_dict())
    return Objective(model, inp, tgt, meter if meter is not None else CostMeter(), with_top=with_top)


def evaluate(exp: Explanation, model: LanguageModel | None = None) -> Faithfulness:
    """ERASER comprehensiveness/sufficiency (and AOPC), deletion and insertion AUC of ``exp``,
    in probability units of its target (see :mod:`whyllm.metrics.faithfulness`)."""
    model = model if model is not None else default_model()
    objective = objective_for(exp, model)

    def prob(masks: np.ndarray) -> np.ndarray:
        return np.array([exp.target.probability(v) for v in objective(masks)])

    return faithfulness(prob, exp.ranking())
