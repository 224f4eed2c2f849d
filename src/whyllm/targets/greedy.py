"""``greedy``: the model's own greedy continuation, generated once and then explained as a
continuation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel
from whyllm.targets.base import TARGETS, Target


@TARGETS.register("greedy")
@dataclass(frozen=True)
class Greedy(Target):
    kind = "greedy"

    @classmethod
    def accepts(cls, spec: Any) -> bool:
        return spec is None

    @classmethod
    def resolve(cls, model: LanguageModel, spec: Any, prompt_ids: tuple[int, ...],
                max_new_tokens: int) -> Target:
        if max_new_tokens < 1:
            raise InputError("max_new_tokens must be at least 1 to explain the model's own answer")
        ids = model.generate(prompt_ids, max_new_tokens)
        if not ids:
            raise InputError("the model's greedy continuation is empty (it ends the text here); "
                             "give a target explicitly")
        return cls((model.decode(ids),), (tuple(ids),))
