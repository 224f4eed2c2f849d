"""The function every method samples: perturbed inputs -> target values, through the batched scorer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from whyllm.cost import CostMeter
from whyllm.features.prompt_input import PromptInput
from whyllm.models.base import LanguageModel
from whyllm.targets import Target

TOP_TOLERANCE = 1e-6


class Objective:
    """``objective(masks)`` scores a (m, n) boolean mask matrix (True = feature kept) in one batched
    call of the model; :meth:`score_ids` does the same for token-id sequences (samples with
    model-proposed words). Every distinct input is scored once per explanation, and
    ``evaluations`` counts them (what a method's budget bounds). With ``with_top`` the scorer also
    says whether the target is still the model's greedy choice (:meth:`is_top`)."""

    def __init__(self, model: LanguageModel, prompt_input: PromptInput, target: Target,
                 meter: CostMeter | None = None, progress: bool = False, with_top: bool = False) -> None:
        self.model = model
        self.input = prompt_input
        self.target = target
        self.meter = meter if meter is not None else CostMeter()
        self.progress = progress
        self.with_top = with_top
        self._memo: dict[tuple[int, ...], tuple[float, bool]] = {}

    @property
    def n_features(self) -> int:
        return self.input.n_features

    @property
    def evaluations(self) -> int:
        return len(self._memo)

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
            self._memo[ids] = (self.target.value(logprobs), top)

    def score_ids(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        self._ensure(seqs)
        return np.array([self._memo[s][0] for s in seqs], dtype=np.float64)

    def is_top(self, seqs: Sequence[tuple[int, ...]]) -> np.ndarray:
        """Whether the (first) target continuation is the model's greedy choice for each input."""
        self._ensure(seqs)
        return np.array([self._memo[s][1] for s in seqs], dtype=bool)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        return self.score_ids([self.input.ids_for(m) for m in masks])
