"""The public entry points: :func:`explain` and :func:`evaluate`.

Everything else lives below: :mod:`whyllm.compose` picks the strategy (direct, proxy, focus) and
:mod:`whyllm.engine` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from whyllm.compose import Call, run
from whyllm.engine import default_model, probability_objective
from whyllm.explanation import Explanation
from whyllm.features import DEFAULT_FILLER
from whyllm.methods.stopping import AutoBudget
from whyllm.metrics.faithfulness import Faithfulness, faithfulness
from whyllm.models import LanguageModel
from whyllm.request import Options


def explain(text: str, target: str | Sequence[str] | None = None, *, model: LanguageModel | None = None,
            method: str = "kernelshap", features: str = "words", template: str | None = None,
            budget: int | str | AutoBudget | None = None, seed: int | None = 0, perturbation: str = "delete",
            filler: str = DEFAULT_FILLER, max_new_tokens: int = 5, progress: bool = False,
            proxy: LanguageModel | None = None, task_verdict: Any = None, chat: bool = False,
            **method_params: Any) -> Explanation:
    """Explain why ``model`` gives ``target`` after ``text`` (inside ``template``, if given).

    ``target`` is a continuation string, a pair of strings (explains log p(a) - log p(b)), or None
    (the model's greedy continuation, up to ``max_new_tokens`` tokens). ``features`` is one of
    ``tokens``, ``words``, ``sentences``, ``paragraphs``, ``items``; only the ``{text}`` slot of
    ``template`` is perturbed. ``budget`` bounds the distinct inputs the model scores: a number, or
    ``"auto"`` (the default of the sampled methods LIME, KernelSHAP and ContextCite: sample in
    rounds until the top 3 is certain, see :mod:`whyllm.methods.stopping`); ``seed``
    fixes every random choice (a private generator, never global state). ``method_params`` are the
    method's own parameters; an unknown one is an :class:`~whyllm.errors.InputError`.

    ``proxy``: a cheaper model samples instead of ``model`` when it makes the same decision on the
    full input (see :mod:`whyllm.compose.proxy`; ``task_verdict`` is a task screen's verdict or its
    JSON path). ``method="focus"``: coarse-to-fine for long inputs (see :mod:`whyllm.compose.focus`;
    parameters ``inner``, ``coarse``, ``keep``, ``coarse_budget``; a ``proxy`` runs the coarse pass).
    ``chat``: wrap ``template`` (or the bare text) in each model's chat template as the user turn.
    """
    options = Options(features=features, template=template, budget=budget, seed=seed,
                      perturbation=perturbation, filler=filler, max_new_tokens=max_new_tokens,
                      progress=progress, chat=chat)
    model = model if model is not None else default_model()
    return run(Call(text, target, model, method, dict(method_params), proxy, task_verdict, options))


def evaluate(exp: Explanation, model: LanguageModel | None = None) -> Faithfulness:
    """ERASER comprehensiveness/sufficiency (and AOPC), deletion and insertion AUC of ``exp``,
    in probability units of its target (see :mod:`whyllm.metrics.faithfulness`)."""
    model = model if model is not None else default_model()
    return faithfulness(probability_objective(exp, model), exp.ranking())
