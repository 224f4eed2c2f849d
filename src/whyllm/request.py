"""What one explanation is asked for, typed: the options every strategy and pass shares.

Every entry point (:func:`whyllm.explain`, :func:`whyllm.cite`, the command line, dataset runs)
builds one :class:`Options`; strategies (:mod:`whyllm.compose`) pass it on whole, or a copy with
one field changed (:meth:`Options.but`), so a new option reaches every path in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from whyllm.features import DEFAULT_FILLER
from whyllm.features.concepts import ConceptSet
from whyllm.methods.stopping import Budget, parse_budget

Features = str | ConceptSet


@dataclass(frozen=True)
class Options:
    """The shared options of one explanation.

    ``budget``: None (the method's default: ``"auto"`` for sampled methods), a number of distinct
    model evaluations, ``"auto"`` or an :class:`~whyllm.methods.stopping.AutoBudget`."""

    features: Features = "words"
    template: str | None = None
    budget: Budget = None
    seed: int | None = 0
    perturbation: str = "delete"
    filler: str = DEFAULT_FILLER
    max_new_tokens: int = 5
    progress: bool = False
    chat: bool = False
    #: what the entry point adds to the explanation's params (``cite``'s query and documents)
    record: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", parse_budget(self.budget))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def but(self, **changes: Any) -> Options:
        """A copy with ``changes``."""
        return replace(self, **changes)

    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments (``budget`` stays typed)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

