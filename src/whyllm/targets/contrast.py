"""``contrast``: log p(a | prompt) - log p(b | prompt), e.g. ``' positive'`` vs ``' negative'``.

Its probability view is sigmoid(value), the probability of ``a`` among the two choices; its
decision is which side wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel
from whyllm.targets.base import TARGETS, Target
from whyllm.targets.decision import Decision


@TARGETS.register("contrast")
@dataclass(frozen=True)
class Contrast(Target):
    kind = "contrast"
    signs = (1, -1)

    @classmethod
    def accepts(cls, spec: Any) -> bool:
        return isinstance(spec, (tuple, list)) and len(spec) == 2 and all(isinstance(t, str) for t in spec)

    @classmethod
    def resolve(cls, model: LanguageModel, spec: Any, prompt_ids: tuple[int, ...],
                max_new_tokens: int) -> Target:
        a, b = (model.encode_continuation(t) for t in spec)
        if a == b:
            raise InputError(f"the two contrast targets tokenize identically: {spec!r}")
        return cls(tuple(spec), (a, b))

    def probability(self, value: float) -> float:
        return 1.0 / (1.0 + math.exp(-value)) if value > -700 else 0.0

    def describe(self) -> str:
        return f"log p({self.texts[0]!r}) - log p({self.texts[1]!r})"

    def needs_top(self, threshold: float | None) -> bool:
        return False

    def provisional_decision(self) -> Decision:
        return Decision("sign", sign=1)

    def decision(self, full_value: float, full_is_top: bool, threshold: float | None = None) -> Decision:
        if full_value == 0:
            raise InputError("the decision cannot be determined: both contrast targets are equally "
                             "likely on the full input")
        return Decision("sign", sign=1 if full_value > 0 else -1)

    def outcome(self, value: float, is_top: bool) -> int | None:
        return int(math.copysign(1, value)) if value != 0 else None
