"""The interpretable-input protocol (cf. captum's ``InterpretableInput``): what methods, objectives
and samplers need from an input. One object defines what a feature is and what removing it means;
methods only ever see boolean masks.

:class:`~whyllm.features.prompt_input.PromptInput` (a prompt split into segments of the template's
``{text}`` slot) is one implementation; concept features and the sources of a context plug in the
same way.
"""

from __future__ import annotations

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
