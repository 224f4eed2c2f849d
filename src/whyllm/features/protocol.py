"""The interpretable-input protocol (cf. captum's ``InterpretableInput``): what methods, objectives
and samplers need from an input. One object defines what a feature is and what removing it means;
methods only ever see boolean masks.

:class:`~whyllm.features.prompt_input.PromptInput` (a prompt split into segments of the template's
``{text}`` slot) is one implementation; concept features and the sources of a context plug in the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class InterpretableInput(Protocol):
    #: the explained text, the template around it (or None), and the feature kind's name
    text: str
    template: str | None
    kind: str
    #: the model's token ids of the full input (every feature present)
    ids: tuple[int, ...]

    @property
    def features(self) -> tuple:
        """Each feature's text and character span (:class:`~whyllm.features.prompt_input.Feature`)."""

    @property
    def n_features(self) -> int:
        """How many features a mask has."""

    def ids_for(self, keep: np.ndarray, choice: np.ndarray | None = None) -> tuple[int, ...]:
        """The model input for a mask (True = feature kept); ``choice`` picks among a
        perturbation's options for each removed feature."""

    def choice_counts(self) -> list[int] | None:
        """Options per feature of the perturbation (None: one way to remove each feature)."""


def without_features(ids: Sequence[int], groups: Sequence[Sequence[int]], removed: Iterable[int],
                     replacement: Callable[[int], Sequence[int]], merge_runs: bool = False
                     ) -> tuple[int, ...]:
    """``ids`` with the token positions of the ``removed`` features' ``groups`` taken out, in token-id
    space (every other token stays exactly as it was). Each run of removed tokens becomes
    ``replacement(feature)`` (empty for deletion): one per feature's run, or with ``merge_runs`` one
    per run whichever features it spans (concepts, which may overlap; the first claims a token)."""
    drop: dict[int, int] = {}
    for f in removed:
        for t in groups[int(f)]:
            drop.setdefault(t, int(f))
    out: list[int] = []
    last = None
    for t, tok in enumerate(ids):
        f = drop.get(t)
        if f is None:
            out.append(tok)
        elif last is None or (not merge_runs and f != last):
            out.extend(replacement(f))
        last = f
    return tuple(out)
