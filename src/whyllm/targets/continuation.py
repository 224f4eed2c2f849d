"""``continuation``: log p(continuation | prompt), summed over its tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whyllm.models.base import LanguageModel
from whyllm.targets.base import TARGETS, Target


@TARGETS.register("continuation")
@dataclass(frozen=True)
class Continuation(Target):
    kind = "continuation"

    @classmethod
    def accepts(cls, spec: Any) -> bool:
        return isinstance(spec, str)

    @classmethod
    def resolve(cls, model: LanguageModel, spec: Any, prompt_ids: tuple[int, ...],
                max_new_tokens: int) -> Target:
        return cls((spec,), (model.encode_continuation(spec),))
