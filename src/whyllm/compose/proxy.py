"""Proxy explanations, screen-and-apply, after "Revitalizing Black-Box Interpretability:
Actionable Interpretability for LLMs via Proxy Models" (ACL 2026; arXiv 2505.12509).

A cheap **proxy** model does the sampling for an expensive **target** model.

* **Instance screen** (every explanation): one target call on the full input; the proxy's
  explanation is used only if proxy and target make the same decision there (the same side of a
  contrast wins; the continuation is, or is not, the greedy choice of both). Otherwise the target
  explains.
* ``force_proxy=True`` skips both screens: the proxy samples whatever it decides (as AttriBoT's
  proxy does); the explanation's ``fit.screen`` then says ``{"forced": true}``.
* **Task screen** (:func:`screen_task`, once per task): on a sample of task inputs, both models
  explain and each explanation's faithfulness is measured *on the target* (AOPC comprehensiveness);
  with d = q_proxy - margin * q_target (margin 0.9) a sequential one-sided paired t-test asks whether
  mean d > 0 at confidence 0.99, looking after each input from the fifth on, for at most 50 inputs.
  The proxy is authorised for the task only if the test passes; it stops early, rejecting, once
  mean d < 0 is significant at the same level. The verdict is saved as JSON. (Repeated looks make
  the nominal level optimistic; the minimum of five inputs and the 0.99 level keep it conservative
  in practice; the per-input d values are stored so the test can be redone.)

The explanation records which model produced the samples (``fit.samples_by``), the screen's
verdict (``fit.screen``), and the cost of each model: ``cost`` is the target's (screening and
any fallback), ``fit.proxy_cost`` the proxy's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from whyllm.compose.base import STRATEGIES, Call, Strategy
from whyllm.cost import CostMeter
from whyllm.engine import explain_on, model_template, prepare, probability_objective
from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.features import DEFAULT_FILLER
from whyllm.fits import ProxyFit
from whyllm.metrics.faithfulness import faithfulness
from whyllm.models.base import LanguageModel
from whyllm.objective import PromptObjective
from whyllm.targets import Target

MIN_INPUTS = 5


@dataclass
class TaskVerdict:
    """The outcome of a task screen; ``d`` holds q_proxy - margin * q_target per input."""

    task: str
    proxy: str
    target: str
    method: str
    authorised: bool
    d: list[float] = field(default_factory=list)
    p_value: float = 1.0
    confidence: float = 0.99
    margin: float = 0.9
    target_calls: int = 0
    proxy_calls: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TaskVerdict:
        try:
            return cls(**json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise InputError(f"cannot read a task verdict from {path}: {exc}") from exc


def decision_on_full(model: LanguageModel, text: str, target: Target, template: str | None,
                      features: str, perturbation: str, filler: str, meter: CostMeter,
                      chat: bool = False) -> int | None:
    """+1/-1 (which contrast side wins) or 1/0 (continuation is / is not the greedy choice)."""
    template = model_template(model, template, chat)
    inp, tgt = prepare(model, text, target.for_model(model), template=template, features=features,
                       perturbation=perturbation, filler=filler, max_new_tokens=1, meter=meter)
    with_top = tgt.needs_top(None)
    objective = PromptObjective(model, inp, tgt, meter, with_top=with_top)
    full = inp.ids_for(np.ones(inp.n_features, dtype=bool))
    value = float(objective.score_ids([full])[0])
    return tgt.outcome(value, bool(objective.is_top([full])[0]) if with_top else False)


def explain_with_proxy(text: str, target: Any, *, model: LanguageModel, proxy: LanguageModel,
                       method: str = "kernelshap", features: str = "words", task_verdict: Any = None,
                       force_proxy: bool = False, **kw: Any) -> Explanation:
    """Explain ``model``'s output with ``proxy`` doing the sampling when the screens allow it."""
    if features == "tokens":
        raise InputError("a proxy needs features both models share: words, sentences, paragraphs "
                         "or items")
    if isinstance(task_verdict, (str, Path)):
        task_verdict = TaskVerdict.load(task_verdict)
    target_meter, proxy_meter = CostMeter(), CostMeter()
    chat = bool(kw.get("chat"))
    target_template = model_template(model, kw.get("template"), chat)
    inp, tgt = prepare(model, text, target, template=target_template, features=features,
                       perturbation=kw.get("perturbation", "delete"), filler=kw.get("filler", DEFAULT_FILLER),
                       max_new_tokens=kw.get("max_new_tokens", 5), meter=target_meter)
    screen: dict[str, Any] = ({"forced": True} if force_proxy else
                              {"task": None if task_verdict is None else task_verdict.authorised})
    use_proxy = force_proxy
    if not force_proxy and (task_verdict is None or task_verdict.authorised):
        args = (text, tgt, kw.get("template"), features, kw.get("perturbation", "delete"),
                kw.get("filler", DEFAULT_FILLER))
        t_dec = decision_on_full(model, *args, target_meter, chat=chat)
        p_dec = decision_on_full(proxy, *args, proxy_meter, chat=chat)
        use_proxy = t_dec is not None and t_dec == p_dec
        screen.update({"instance": "agree" if use_proxy else "disagree", "target_decision": t_dec,
                       "proxy_decision": p_dec})
    if use_proxy:
        proxy_target = tgt.for_model(proxy)
        exp = explain_on(proxy, text, proxy_target, method=method, features=features, meter=proxy_meter,
                         **kw)
        if tuple(inp.features) != tuple(exp.features):
            raise InputError("the proxy splits the text into other features than the target model")
        if chat:  # the explanation is of the target: its own chat template
            exp = replace(exp, template=target_template)
        fit = ProxyFit(exp.fit, proxy.info.model_id, screen, proxy_meter.snapshot().to_dict()).normalized()
        params = {**exp.params, "proxy": proxy.info.model_id}
        outputs = tgt.outputs(model)
        same_tokens = exp.outputs == outputs  # else the proxy's columns are not the target's tokens
        matrix = {} if same_tokens else {"matrix": None, "outputs": (), "base_columns": None,
                                         "full_columns": None}
        return replace(exp, target=tgt, model=model.info, fit=fit, params=params,
                       cost=target_meter.snapshot(), **matrix)
    exp = explain_on(model, text, tgt, method=method, features=features, meter=target_meter, **kw)
    fit = ProxyFit(exp.fit, model.info.model_id, screen, proxy_meter.snapshot().to_dict()).normalized()
    return replace(exp, fit=fit, params={**exp.params, "proxy": proxy.info.model_id})


@STRATEGIES.register("proxy")
class Proxy(Strategy):
    """The proxy samples when the task and instance screens allow it (see the module docstring)."""

    name = "proxy"
    handles_proxy = True
    reads_task_verdict = True

    def validate(self, method: str, method_params: dict[str, Any]) -> None:
        """``force_proxy`` (skip both screens, as AttriBoT does) is the strategy's own parameter."""
        super().validate(method, {k: v for k, v in method_params.items() if k != "force_proxy"})

    def explain(self, call: Call) -> Explanation:
        return explain_with_proxy(call.text, call.target, model=call.model, proxy=call.proxy,
                                  method=call.method, task_verdict=call.task_verdict, **call.options.kwargs(),
                                  **call.method_params)


def target_comprehensiveness(exp: Explanation, model: LanguageModel, meter: CostMeter) -> float:
    prob = probability_objective(exp, model, meter)
    return float(faithfulness(prob, exp.ranking()).aopc_comprehensiveness)


def paired_t_pvalues(d: Sequence[float]) -> tuple[float, float]:
    """One-sided p-values of a one-sample t-test on ``d``: (H1 mean > 0, H1 mean < 0)."""
    d = np.asarray(d, dtype=np.float64)
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        return (0.0, 1.0) if mean > 0 else (1.0, 0.0) if mean < 0 else (1.0, 1.0)
    t = mean / (sd / math.sqrt(n))
    return float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1))


def screen_task(texts: Sequence[str], target: Any, *, model: LanguageModel, proxy: LanguageModel,
                task: str, method: str = "kernelshap", confidence: float = 0.99, margin: float = 0.9,
                max_inputs: int = 50, save: str | Path | None = None, **kw: Any) -> TaskVerdict:
    """Decide whether ``proxy`` may explain ``model`` on this task (see the module docstring)."""
    if not 0.5 < confidence < 1:
        raise InputError(f"confidence must be in (0.5, 1), got {confidence}")
    verdict = TaskVerdict(task, proxy.info.model_id, model.info.model_id, method, False,
                          confidence=confidence, margin=margin)
    alpha = 1.0 - confidence
    for text in list(texts)[:max_inputs]:
        tm = CostMeter()
        e_t = explain_on(model, text, target, method=method, meter=tm, **kw)
        e_p = explain_with_proxy(text, e_t.target, model=model, proxy=proxy, method=method,
                                 force_proxy=True, **kw)
        q_t = target_comprehensiveness(e_t, model, tm)
        q_p = target_comprehensiveness(e_p, model, tm)
        verdict.d.append(q_p - margin * q_t)
        verdict.target_calls += tm.sequences + e_p.cost.sequences
        verdict.proxy_calls += int(e_p.fit.proxy_cost["sequences"])
        n = len(verdict.d)
        if n < MIN_INPUTS:
            continue
        verdict.p_value, p_less = paired_t_pvalues(verdict.d)
        if verdict.p_value < alpha:
            verdict.authorised = True
            break
        if p_less < alpha:  # mean d < 0 is significant: the proxy is clearly not good enough
            break
    if save is not None:
        verdict.save(save)
    return verdict
