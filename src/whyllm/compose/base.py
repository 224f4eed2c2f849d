"""Strategies: how one explanation is produced from the engine's pieces.

``direct`` runs one method on the target model. Wrappers compose the engine
(:mod:`whyllm.engine`): ``proxy`` lets a cheaper model sample when the screens allow it, ``focus``
refines a coarse pass. A strategy is one class plus one registry line; :func:`choose` picks one by
a rule that names none of them: a strategy named as the method, else the one that handles a proxy,
else ``direct``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from whyllm.errors import InputError
from whyllm.explanation import Explanation
from whyllm.models.base import LanguageModel
from whyllm.registry import Registry
from whyllm.request import Options


@dataclass(frozen=True)
class Call:
    """One explanation asked for: what, of which model, by which method, and the typed options
    every pass shares (:class:`~whyllm.request.Options`)."""

    text: str
    target: Any
    model: LanguageModel
    method: str
    method_params: dict[str, Any] = field(default_factory=dict)
    proxy: LanguageModel | None = None
    task_verdict: Any = None
    options: Options = field(default_factory=Options)


class Strategy(ABC):
    """Base class: subclasses set ``name`` and :meth:`explain`."""

    name: ClassVar[str]
    #: the strategy is asked for as ``method=name`` (its own parameters are method parameters)
    named_as_method: ClassVar[bool] = False
    #: the strategy runs when a proxy is given and the method is not a strategy
    handles_proxy: ClassVar[bool] = False
    #: the strategy reads a task screen's verdict
    reads_task_verdict: ClassVar[bool] = False

    def validate(self, method: str, method_params: dict[str, Any]) -> None:
        """Refuse an unknown method or parameter, before any model work."""
        from whyllm.engine import make_method

        make_method(method, method_params)

    def check(self, call: Call) -> None:
        """Refuse options the strategy would silently drop, and bad method parameters."""
        self.validate(call.method, call.method_params)
        if call.proxy is not None and not (self.handles_proxy or self.named_as_method):
            raise InputError(f"the {self.name} strategy takes no proxy")
        if call.task_verdict is not None and not self.reads_task_verdict:
            raise InputError(f"--task-verdict goes with a proxy; the {self.name} strategy has no use for it")

    @abstractmethod
    def explain(self, call: Call) -> Explanation:
        """The explanation ``call`` asks for."""


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def choose(method: str, proxy: LanguageModel | bool | None) -> Strategy:
    """The strategy for ``method`` (and a proxy, if one is given): see the module docstring."""
    named = [n for n in STRATEGIES.names() if STRATEGIES.get(n).named_as_method]
    if method in named:
        return STRATEGIES.get(method)()
    if proxy is not None and proxy is not False:
        return next(STRATEGIES.get(n) for n in STRATEGIES.names() if STRATEGIES.get(n).handles_proxy)()
    return STRATEGIES.get("direct")()


def method_names() -> list[str]:
    """Every name ``method=`` takes: the registered methods and the strategies named as methods."""
    from whyllm.methods import METHODS

    return sorted({*METHODS.names(), *(n for n in STRATEGIES.names() if STRATEGIES.get(n).named_as_method)})


def run(call: Call) -> Explanation:
    """Check ``call`` against its strategy, resolve concept features once (every pass and model
    then shares them), then explain."""
    from whyllm.engine import resolve_features, split_feature_options

    strategy = choose(call.method, call.proxy)
    opts = call.options
    method_params, feature_options = split_feature_options(opts.features, call.method_params)
    call = replace(call, method_params=method_params)
    strategy.check(call)
    resolved = resolve_features(call.model, call.text, opts.features, opts.template, opts.chat,
                                feature_options, opts.perturbation)
    if resolved is not opts.features:
        call = replace(call, options=opts.but(features=resolved))
    return strategy.explain(call)
