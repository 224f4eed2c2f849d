"""The target axis: which number is explained (cf. inseq's step functions).

* ``continuation``: log p(continuation | prompt), summed over its tokens;
* ``contrast``: log p(a | prompt) - log p(b | prompt), e.g. ``' positive'`` vs ``' negative'``;
* ``greedy``: the model's own greedy continuation, generated once and then explained as a
  continuation.

Each target maps its value to a probability for the ERASER metrics: ``exp(value)`` for a
continuation, ``sigmoid(value)`` for a contrast (the probability of ``a`` among the two choices).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel, ScoreRequest


@dataclass(frozen=True)
class Target:
    """A resolved target: continuation texts and their token ids."""

    kind: str  # "continuation" | "contrast" | "greedy"
    texts: tuple[str, ...]
    ids: tuple[tuple[int, ...], ...]

    def requests(self, prompt_ids: tuple[int, ...], top: bool = False) -> list[ScoreRequest]:
        return [ScoreRequest(prompt_ids, c, top) for c in self.ids]

    def value(self, logprobs: Sequence[np.ndarray]) -> float:
        sums = [float(np.sum(lp)) for lp in logprobs]
        return sums[0] - sums[1] if self.kind == "contrast" else sums[0]

    def probability(self, value: float) -> float:
        if self.kind == "contrast":
            return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0
        return math.exp(min(value, 0.0)) if value > -745 else 0.0

    def describe(self) -> str:
        if self.kind == "contrast":
            return f"log p({self.texts[0]!r}) - log p({self.texts[1]!r})"
        return f"log p({self.texts[0]!r})"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "texts": list(self.texts), "ids": [list(i) for i in self.ids]}

    @classmethod
    def from_dict(cls, d: dict) -> Target:
        return cls(d["kind"], tuple(d["texts"]), tuple(tuple(i) for i in d["ids"]))


def resolve_target(model: LanguageModel, target: str | Sequence[str] | None, prompt_ids: tuple[int, ...],
                   max_new_tokens: int = 5) -> Target:
    """Turn the user's ``target`` into token ids: a string, a pair (contrast) or None (greedy)."""
    if target is None:
        if max_new_tokens < 1:
            raise InputError("max_new_tokens must be at least 1 to explain the model's own answer")
        ids = model.generate(prompt_ids, max_new_tokens)
        if not ids:
            raise InputError("the model's greedy continuation is empty (it ends the text here); "
                             "give a target explicitly")
        return Target("greedy", (model.decode(ids),), (tuple(ids),))
    if isinstance(target, str):
        return Target("continuation", (target,), (model.encode_continuation(target),))
    if isinstance(target, (tuple, list)) and len(target) == 2 and all(isinstance(t, str) for t in target):
        a, b = (model.encode_continuation(t) for t in target)
        if a == b:
            raise InputError(f"the two contrast targets tokenize identically: {target!r}")
        return Target("contrast", tuple(target), (a, b))
    raise InputError(f"target must be a string, a pair of strings, or None; got {target!r}")
