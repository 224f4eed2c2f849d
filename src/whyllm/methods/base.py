"""The method axis: how masks are chosen and turned into feature values.

A method follows scikit-learn's estimator rules: ``__init__`` only stores parameters, ``repr``
shows them, ``attribute`` takes its random generator from the caller (one per explanation, from the
seed) and never mutates its inputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from whyllm.errors import BudgetError
from whyllm.fits import Fit, NoFit
from whyllm.objective import Objective
from whyllm.registry import Registry, check_params, init_param_names
from whyllm.uncertainty import Uncertainty


def free_memory() -> int:
    """Bytes of memory available now (Linux and macOS), or 8 GiB where the OS does not say."""
    try:
        import os

        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_budget(n_features: int) -> int:
    """Rows of masks (a bool and a float64 copy per feature, plus the outputs) that fit in half of
    the free memory."""
    return max(1, free_memory() // 2 // (9 * max(1, n_features) + 64))


@dataclass(frozen=True)
class Attribution:
    """What a method returns: one value per feature, the fit of its surrogate, and for a
    multi-output method the (features, outputs) matrix whose row sums are ``values``, with the base
    and full value of each output column."""

    values: np.ndarray
    base_value: float
    full_value: float
    fit: Fit = field(default_factory=NoFit)
    matrix: np.ndarray | None = None
    base_columns: np.ndarray | None = None
    full_columns: np.ndarray | None = None
    #: what else the method recorded (an LLM explainer's prompt and reply), merged into ``params``
    record: dict[str, Any] | None = None
    #: standard errors, intervals and top-k certainty (None: the method states none, e.g. a rule)
    uncertainty: Uncertainty | None = None


class Session(ABC):
    """A sampled method's draws for one explanation: :meth:`estimate` at a budget uses the first
    draws of one stream, so a larger budget continues a smaller one (the rounds of
    ``budget="auto"`` score each input once)."""

    @abstractmethod
    def estimate(self, budget: int) -> Attribution:
        """The method's result from the stream's draws that fit ``budget`` evaluations."""


class Method(ABC):
    """Base class: subclasses set ``name``, ``min_budget`` and ``attribute``."""

    name: ClassVar[str]
    #: "attribution" (one importance value per feature) or "rule" (values flag the rule's features)
    kind: ClassVar[str] = "attribution"
    #: a tag, as scikit-learn's: the method attributes every output column at once (a matrix)
    multi_output: ClassVar[bool] = False
    #: a tag: the method reads the model's internals (gradients, attention), so it needs the hf backend
    white_box: ClassVar[bool] = False
    #: a tag: the method scores the input with each single feature removed (leave-one-out)
    scores_each_removal: ClassVar[bool] = False
    #: a tag: the method samples at random, in a stream (:meth:`session`), so ``budget="auto"``
    #: can stop it when its answer is settled
    sampled: ClassVar[bool] = False

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The method's parameters: the keyword arguments of its ``__init__`` (scikit-learn's rule)."""
        return init_param_names(cls)

    @classmethod
    def create(cls, params: dict[str, Any]) -> Method:
        """``cls(**params)``, with an unknown or misspelt parameter a clear :class:`InputError`."""
        check_params(cls.name, params, cls.param_names())
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        """Each parameter's value, in signature order (what ``__init__`` stored)."""
        return {name: getattr(self, name) for name in self.param_names()}

    @property
    def params(self) -> dict[str, Any]:
        return self.get_params()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def needs_top(self, target) -> bool:
        """Whether the method must know if the target stays the model's greedy choice."""
        return False

    @abstractmethod
    def min_budget(self, n_features: int) -> int:
        """Fewest model evaluations (distinct masks) the method needs for ``n_features``."""

    def default_budget(self, n_features: int) -> int:
        return max(self.min_budget(n_features), 200)

    def max_budget(self, n_features: int) -> int:
        """Most model evaluations the method can hold for ``n_features``: the masks that fit in
        memory. A budget above the masks that exist is not an error: the budget is an upper bound,
        and a method that can use fewer does (KernelSHAP enumerates every coalition and is exact,
        occlusion scores its n + 2, LIME's repeated draws are scored once)."""
        return memory_budget(n_features)

    def check_budget(self, n_features: int, budget: int) -> None:
        need = self.min_budget(n_features)
        if budget < need:
            raise BudgetError(f"{self.name} needs a budget of at least {need} model evaluations for "
                              f"{n_features} features; got {budget}")
        most = self.max_budget(n_features)
        if budget > most:
            raise BudgetError(f"{self.name} can use at most {most:,} model evaluations for {n_features} "
                              f"features (the masks that fit in this machine's free memory); got {budget:,}")

    @abstractmethod
    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        """Spend at most ``budget`` distinct mask evaluations of ``objective``."""

    def session(self, objective: Objective, rng: np.random.Generator) -> Session:
        """A sampled method's stream of draws (see :class:`Session`)."""
        raise NotImplementedError(f"{self.name} does not sample in a stream")


def sample_weights(objective: Objective, masks: np.ndarray) -> np.ndarray:
    """The objective's weight for each sample (all 1 when it has none), refused when all are 0."""
    w = np.asarray(objective.sample_weights(masks), dtype=np.float64)
    if len(w) and not w.any():
        raise BudgetError("every sample has weight 0 (no rewrite the verifier found compliant); "
                          "use noncompliant='downweight' or another generator")
    return w


METHODS: Registry[type[Method]] = Registry("method")
