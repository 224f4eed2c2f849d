"""``span``: log p of a character span of an answer, conditioned on the answer text before it.

``target=whyllm.targets.span(answer, start, end)`` explains the tokens of ``answer`` that overlap
characters [start, end) (a sentence, a claim): the whole answer is scored after the prompt, and
only the span's tokens are columns and summed, so the text before the span is context, not target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel
from whyllm.targets.base import TARGETS, Output, Target, token_offsets


@dataclass(frozen=True)
class SpanSpec:
    """What the user asks for: characters [start, end) of ``answer``."""

    answer: str
    start: int
    end: int


def span(answer: str, start: int, end: int) -> SpanSpec:
    """A span target: characters [start, end) of ``answer`` (see the module docstring)."""
    if not isinstance(answer, str) or not answer:
        raise InputError("a span target needs the answer text")
    if not 0 <= start < end <= len(answer):
        raise InputError(f"the span [{start}, {end}) is not inside the answer of {len(answer)} characters")
    return SpanSpec(answer, int(start), int(end))


def token_range(model: LanguageModel, ids: tuple[int, ...], answer: str, start: int,
                end: int) -> tuple[int, int]:
    """The first and one-past-last token of ``ids`` whose characters overlap [start, end)."""
    spans = token_offsets(model, ids, answer)
    hit = [t for t, (s, e) in enumerate(spans) if s < end and e > start]
    if not hit:
        raise InputError(f"no token of the answer covers the span [{start}, {end})")
    return hit[0], hit[-1] + 1


@TARGETS.register("span")
@dataclass(frozen=True)
class Span(Target):
    start: int = 0
    end: int = 0
    first: int = 0
    stop: int = 0
    kind = "span"

    @classmethod
    def accepts(cls, spec: Any) -> bool:
        return isinstance(spec, SpanSpec)

    @classmethod
    def resolve(cls, model: LanguageModel, spec: Any, prompt_ids: tuple[int, ...],
                max_new_tokens: int) -> Target:
        ids = model.encode_continuation(spec.answer)
        first, stop = token_range(model, ids, spec.answer, spec.start, spec.end)
        return cls((spec.answer,), (ids,), spec.start, spec.end, first, stop)

    def for_model(self, model: LanguageModel) -> Target:
        return self.resolve(model, SpanSpec(self.texts[0], self.start, self.end), (), 0)

    def segments(self) -> list[slice]:
        return [slice(0, self.stop - self.first)]

    @property
    def n_outputs(self) -> int:
        return self.stop - self.first

    def columns(self, logprobs) -> np.ndarray:
        return np.asarray(logprobs[0], dtype=np.float64)[self.first:self.stop]

    def outputs(self, model: LanguageModel) -> tuple[Output, ...]:
        ids = self.ids[0]
        spans = token_offsets(model, ids, self.texts[0])
        return tuple(Output(model.decode(ids[t:t + 1]), *spans[t], 0) for t in range(self.first, self.stop))

    def describe(self) -> str:
        return f"log p({self.texts[0][self.start:self.end]!r} | {self.texts[0][:self.start]!r})"
