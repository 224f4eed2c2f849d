"""The function every method samples: feature masks -> target values, through the batched scorer."""

from __future__ import annotations

import numpy as np

from whyllm.cost import CostMeter
from whyllm.features.prompt_input import PromptInput
from whyllm.models.base import LanguageModel
from whyllm.targets import Target


class Objective:
    """``objective(masks)`` scores a (m, n) boolean mask matrix (True = feature kept) in one batched
    call of the model. Values already computed in this explanation are remembered, and
    ``evaluations`` counts the distinct masks scored (what a method's budget bounds)."""

    def __init__(self, model: LanguageModel, prompt_input: PromptInput, target: Target,
                 meter: CostMeter | None = None, progress: bool = False) -> None:
        self.model = model
        self.input = prompt_input
        self.target = target
        self.meter = meter if meter is not None else CostMeter()
        self.progress = progress
        self._memo: dict[bytes, float] = {}

    @property
    def n_features(self) -> int:
        return self.input.n_features

    @property
    def evaluations(self) -> int:
        return len(self._memo)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        keys = [np.packbits(m).tobytes() + bytes([len(m) % 8]) for m in masks]
        todo = {k: m for k, m in zip(keys, masks) if k not in self._memo}
        if todo:
            n_cont = len(self.target.ids)
            requests = []
            for m in todo.values():
                requests.extend(self.target.requests(self.input.ids_for(m)))
            logprobs = self.model.score(requests, self.meter, progress=self.progress)
            for i, k in enumerate(todo):
                self._memo[k] = self.target.value(logprobs[i * n_cont:(i + 1) * n_cont])
        return np.array([self._memo[k] for k in keys], dtype=np.float64)

    def full(self) -> float:
        return float(self(np.ones(self.n_features, dtype=bool))[0])

    def empty(self) -> float:
        return float(self(np.zeros(self.n_features, dtype=bool))[0])
