"""The perturbation distribution that rules (Anchors, LORE) are stated over.

Every feature outside the fixed set is perturbed independently with probability ``p`` (deleted,
replaced by the filler, or replaced by one of the model's plausible words, as the input's
perturbation says); fixed features are left as they are (Ribeiro et al. 2018, "Anchors:
High-Precision Model-Agnostic Explanations", section 3 for text).
"""

from __future__ import annotations

import numpy as np

from whyllm.features.protocol import InterpretableInput


class PerturbationSampler:
    """Draws perturbed versions of an input with a private generator."""

    def __init__(self, inp: InterpretableInput, rng: np.random.Generator, p: float = 0.5) -> None:
        self.input, self.rng, self.p = inp, rng, p

    def presence(self, fixed: np.ndarray, n: int) -> np.ndarray:
        """(n, n_features) bool: True where a feature is left as it is."""
        present = self.rng.random((n, self.input.n_features)) >= self.p
        present[:, np.asarray(fixed, dtype=bool)] = True
        return present

    def token_ids(self, present: np.ndarray) -> list[tuple[int, ...]]:
        """Token ids for each presence row (a random candidate word for each replaced feature)."""
        counts = self.input.choice_counts()
        if counts is None:
            return [self.input.ids_for(row) for row in present]
        sizes = np.array(counts)
        choices = self.rng.integers(0, 1 << 30, size=present.shape) % sizes
        return [self.input.ids_for(row, choice) for row, choice in zip(present, choices)]

    def draw(self, fixed: np.ndarray, n: int) -> tuple[np.ndarray, list[tuple[int, ...]]]:
        present = self.presence(fixed, n)
        return present, self.token_ids(present)
