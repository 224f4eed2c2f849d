"""The function every method samples: perturbed inputs -> the target's output vectors, through the
batched scorer.

``objective(masks)`` returns a (samples, outputs) array: per sample, the target's columns (the
signed per-token log-probs of its answer; see :mod:`whyllm.targets`). :meth:`Objective.value`
reduces them to the explained scalar, as the target says. One scoring pass serves both (captum's
``_forward_func`` returns the total and the per-token values for the same reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from whyllm.cost import CostMeter
from whyllm.features.protocol import InterpretableInput
from whyllm.models.base import LanguageModel
from whyllm.targets import Target

TOP_TOLERANCE = 1e-6


class Objective(Protocol):
    """What every method samples: a (m, n) boolean mask matrix (True = feature kept) -> the
    target's (m, outputs) columns, memoised, with its distinct evaluations counted.

    :class:`PromptObjective` implements it over a prompt's features; the focus strategy's
    :class:`~whyllm.compose.focus_levels.GroupedObjective` over groups of another objective's
    features; the tabular task's :class:`~whyllm.tasks.tabular.TabularObjective` over a row's
    columns. Methods annotate with this protocol and use nothing else of an objective."""

    input: InterpretableInput
    target: Target
    meter: CostMeter
    progress: bool

    @property
    def n_features(self) -> int: ...

    @property
    def n_outputs(self) -> int: ...

    @property
    def evaluations(self) -> int:
        """Distinct inputs scored so far (what a budget bounds)."""
        ...

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """(samples, outputs): the target's columns for each mask."""
        ...

    def value(self, masks: np.ndarray) -> np.ndarray:
        """(samples,): the explained value for each mask."""
        ...

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        """Columns -> the explained values, as the target reduces them."""
        ...

    def seen(self, masks: np.ndarray) -> np.ndarray:
        """Which masks are already scored (free to ask again)."""
        ...

    def sample_weights(self, masks: np.ndarray) -> np.ndarray:
        """Each sample's weight in a surrogate (1 unless the input says otherwise)."""
        ...


@runtime_checkable
class NeighbourhoodObjective(Objective, Protocol):
    """An objective with a neighbourhood of its own (the tabular row's Gaussian one), which
    LLM-ICL's explainer sees instead of binary masks, and its own description of the output."""

    def neighbourhood(self, rows: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]: ...

    def describe_output(self) -> str: ...


class MemoisedObjective:
    """What the objectives that score each distinct input once share: the target's outputs, the
    memo's size as the evaluations a budget counts, and the target's reduction of the columns."""

    target: Target
    _memo: dict

    @property
    def n_outputs(self) -> int:
        return self.target.n_outputs

    @property
    def evaluations(self) -> int:
        return len(self._memo)

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        return self.target.reduce(cols)


class PromptObjective(MemoisedObjective):
    """Scores a (m, n) boolean mask matrix (True = feature kept) in one batched call of the model;
    :meth:`columns_ids` does the same for token-id sequences (samples with model-proposed words).
    Every distinct input is scored once per explanation (memoised), and ``evaluations`` counts
    them (what a method's budget bounds). With ``with_top`` the scorer also says whether the target
    is still the model's greedy choice (:meth:`is_top`)."""

    def __init__(self, model: LanguageModel, prompt_input: InterpretableInput, target: Target,
                 meter: CostMeter | None = None, progress: bool = False, with_top: bool = False) -> None:
        self.model = model
        self.input = prompt_input
        self.target = target
        self.meter = meter if meter is not None else CostMeter()
        self.progress = progress
        self.with_top = with_top
        self._memo: dict[tuple[int, ...], tuple[np.ndarray, float, bool]] = {}

    @property
    def n_features(self) -> int:
        return self.input.n_features

    def _ensure(self, seqs: Sequence[tuple[int, ...]]) -> None:
        todo = list(dict.fromkeys(s for s in seqs if s not in self._memo))
        if not todo:
            return
        n_cont = len(self.target.ids)
        requests = []
        for ids in todo:
            requests.extend(self.target.requests(ids, top=self.with_top))
        out = self.model.score(requests, self.meter, progress=self.progress)
        for i, ids in enumerate(todo):
            parts = out[i * n_cont:(i + 1) * n_cont]
            if self.with_top:
                k = [len(c) for c in self.target.ids]
                logprobs = [p[:kk] for p, kk in zip(parts, k)]
                first = parts[0]
                top = bool(np.all(first[:k[0]] >= first[k[0]:] - TOP_TOLERANCE))
            else:
                logprobs, top = parts, False
            cols = self.target.columns(logprobs)
            self._memo[ids] = (cols, float(self.target.reduce(cols[None, :])[0]), top)

    def columns_ids(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        """(len(seqs), outputs): the target's columns for each token-id sequence."""
        self._ensure(seqs)
        return np.array([self._memo[s][0] for s in seqs], dtype=np.float64).reshape(len(seqs), self.n_outputs)

    def score_ids(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        """The explained value of each token-id sequence."""
        self._ensure(seqs)
        return np.array([self._memo[s][1] for s in seqs], dtype=np.float64)

    def is_top(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        """Whether the (first) target continuation is the model's greedy choice for each input."""
        self._ensure(seqs)
        return np.array([self._memo[s][2] for s in seqs], dtype=bool)

    def _seqs(self, masks: np.ndarray) -> list[tuple[int, ...]]:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        return [self.input.ids_for(m) for m in masks]

    def seen(self, masks: np.ndarray) -> np.ndarray:
        """(samples,): whether each mask's input is already scored (so it costs no model call)."""
        return np.array([s in self._memo for s in self._seqs(masks)], dtype=bool)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """(samples, outputs): the target's columns for each mask."""
        return self.columns_ids(self._seqs(masks))

    def value(self, masks: np.ndarray) -> np.ndarray:
        """(samples,): the explained value for each mask (the target's reduction of its columns)."""
        return self.score_ids(self._seqs(masks))

    def sample_weights(self, masks: np.ndarray) -> np.ndarray:
        """Each sample's weight in a surrogate: 1, unless the input says otherwise (a concept
        rewrite the verifier found non-compliant)."""
        weigh = getattr(self.input, "sample_weights", None)
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        return np.ones(len(masks)) if weigh is None else np.asarray(weigh(masks), dtype=np.float64)
