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
from whyllm.objective import Objective
from whyllm.registry import Registry


@dataclass(frozen=True)
class Attribution:
    """What a method returns: one value per feature plus the fit of its surrogate, if any."""

    values: np.ndarray
    base_value: float
    full_value: float
    fit: dict[str, Any] = field(default_factory=dict)


class Method(ABC):
    """Base class: subclasses set ``name``, ``min_budget`` and ``attribute``."""

    name: ClassVar[str]
    #: "attribution" (one importance value per feature) or "rule" (values flag the rule's features)
    kind: ClassVar[str] = "attribution"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{type(self).__name__}({args})"

    def needs_top(self, target_kind: str) -> bool:
        """Whether the method must know if the target stays the model's greedy choice."""
        return False

    @abstractmethod
    def min_budget(self, n_features: int) -> int:
        """Fewest model evaluations (distinct masks) the method needs for ``n_features``."""

    def default_budget(self, n_features: int) -> int:
        return max(self.min_budget(n_features), 200)

    def check_budget(self, n_features: int, budget: int) -> None:
        need = self.min_budget(n_features)
        if budget < need:
            raise BudgetError(f"{self.name} needs a budget of at least {need} model evaluations for "
                              f"{n_features} features; got {budget}")

    @abstractmethod
    def attribute(self, objective: Objective, budget: int, rng: np.random.Generator) -> Attribution:
        """Spend at most ``budget`` distinct mask evaluations of ``objective``."""


METHODS: Registry[type[Method]] = Registry("method")
