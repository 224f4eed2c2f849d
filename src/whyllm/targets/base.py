"""The target axis: which number is explained (cf. inseq's step functions).

A target is a registered class. It resolves the user's request to token ids, asks the scorer for the
per-token log-probs it needs, and owns what follows from them:

* ``columns``: the per-output vector of one sample (signed per-token log-probs: the answer tokens
  of a continuation, ``a``'s tokens then ``b``'s negated for a contrast, the span's tokens for a
  span); the :class:`~whyllm.objective.Objective` keeps these vectors;
* ``reduce``: the explained scalar, the sum of each part's columns (so a matrix's row sums are the
  scalar values);
* ``probability``: the value in probability units, for the faithfulness metrics;
* ``decision``: what "the output stays" means (rules, neuron sets);
* ``describe``: one line for the reports.

A new target is one file with one class plus its registry line.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel, ScoreRequest
from whyllm.registry import Registry
from whyllm.targets.decision import Decision


@dataclass(frozen=True)
class Output:
    """One output column: a token of target text ``part``, at characters [start, end) of it."""

    text: str
    start: int
    end: int
    part: int = 0


@dataclass(frozen=True)
class Target(ABC):
    """A resolved target: its texts and their token ids (one tuple per scored continuation)."""

    texts: tuple[str, ...]
    ids: tuple[tuple[int, ...], ...]
    kind: ClassVar[str]
    #: the sign each part's log-prob sum enters the value with
    signs: ClassVar[tuple[int, ...]] = (1,)

    # --- resolution --------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def accepts(cls, spec: Any) -> bool:
        """Whether the user's ``target=`` value asks for this kind of target."""

    @classmethod
    @abstractmethod
    def resolve(cls, model: LanguageModel, spec: Any, prompt_ids: tuple[int, ...],
                max_new_tokens: int) -> Target:
        """The target ``spec`` asks for, in ``model``'s token ids."""

    def for_model(self, model: LanguageModel) -> Target:
        """The same target in another model's token ids (a proxy's): its texts re-encoded."""
        return type(self)(**{**self._fields(), "texts": self.texts,
                             "ids": tuple(model.encode_continuation(t) for t in self.texts)})

    # --- scoring -------------------------------------------------------------------------------
    def requests(self, prompt_ids: tuple[int, ...], top: bool = False) -> list[ScoreRequest]:
        return [ScoreRequest(prompt_ids, c, top) for c in self.ids]

    def segments(self) -> list[slice]:
        """Which of a sample's columns belong to each part."""
        out, at = [], 0
        for c in self.ids:
            out.append(slice(at, at + len(c)))
            at += len(c)
        return out

    @property
    def n_outputs(self) -> int:
        return sum(len(c) for c in self.ids)

    def columns(self, logprobs: Sequence[np.ndarray]) -> np.ndarray:
        """The per-output vector of one sample from the log-probs of each part's tokens."""
        return np.concatenate([s * np.asarray(lp, dtype=np.float64) for s, lp in zip(self.signs, logprobs)])

    def reduce(self, cols: np.ndarray) -> np.ndarray:
        """(samples, outputs) -> (samples,): the explained value, each part's columns summed."""
        cols = np.atleast_2d(cols)
        parts = [cols[:, seg].sum(axis=1) for seg in self.segments()]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def outputs(self, model: LanguageModel) -> tuple[Output, ...]:
        """Each column's token text and character span in its part's text."""
        out = []
        for part, seg in enumerate(self.segments()):
            ids = self.ids[part]
            spans = token_offsets(model, ids, self.texts[part])
            out.extend(Output(model.decode(ids[t:t + 1]), *spans[t], part)
                       for t in range(seg.stop - seg.start))
        return tuple(out)

    # --- views and decisions ----------------------------------------------------------------
    def probability(self, value: float) -> float:
        """The value as a probability: p(continuation), clipped at 1 (exp of a log-prob)."""
        return math.exp(min(value, 0.0)) if value > -745 else 0.0

    def describe(self) -> str:
        return f"log p({self.texts[0]!r})"

    def needs_top(self, threshold: float | None) -> bool:
        """Whether deciding "the output stays" needs to know if the target is the greedy choice."""
        return threshold is None

    def provisional_decision(self) -> Decision:
        """The decision to score the full input with, before its own value is known."""
        return Decision("top1")

    def decision(self, full_value: float, full_is_top: bool, threshold: float | None = None) -> Decision:
        """"The output stays" for a continuation: top-1 at every token, or log-prob >= ``threshold``.
        Refused when the full input's decision cannot be determined."""
        if threshold is not None:
            if full_value < threshold:
                raise InputError(f"the decision cannot be determined: log p(target) is {full_value:.3f} "
                                 f"on the full input, already below the threshold {threshold:g}")
            return Decision("threshold", threshold=float(threshold))
        if not full_is_top:
            raise InputError("the decision cannot be determined: the target is not the model's greedy "
                             "continuation of the full input; give a log-prob threshold (decision_threshold)")
        return Decision("top1")

    def outcome(self, value: float, is_top: bool) -> int | None:
        """The decision on one input as a number two models can compare: 1/0 (greedy or not)."""
        return int(bool(is_top))

    # --- serialisation ------------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dict(self) -> dict:
        extra = {k: v for k, v in self._fields().items() if k not in ("texts", "ids")}
        return {"kind": self.kind, "texts": list(self.texts), "ids": [list(i) for i in self.ids], **extra}

    @staticmethod
    def from_dict(d: dict) -> Target:
        cls = TARGETS.get(d["kind"])
        extra = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()
                 if k not in ("kind", "texts", "ids")}
        return cls(texts=tuple(d["texts"]), ids=tuple(tuple(i) for i in d["ids"]), **extra)


def token_offsets(model: LanguageModel, ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """Character span of each token of ``ids`` (an encoding of ``text``) in ``text``: the ends of
    its decoded prefixes, shifted by whatever the decoder drops at the start (a leading space)."""
    ends = [len(model.decode(ids[:t + 1])) for t in range(len(ids))]
    shift = len(text) - ends[-1] if ends else 0
    ends = [min(len(text), e + shift) for e in ends]
    starts = [shift if shift > 0 else 0, *ends[:-1]]
    return [(min(s, e), e) for s, e in zip(starts, ends)]


TARGETS: Registry[type[Target]] = Registry("target kind")


def resolve_target(model: LanguageModel, target: Any, prompt_ids: tuple[int, ...],
                   max_new_tokens: int = 5) -> Target:
    """Turn the user's ``target`` into token ids: the first registered kind that accepts it."""
    if isinstance(target, Target):
        return target
    for name in TARGETS.names():
        cls = TARGETS.get(name)
        if cls.accepts(target):
            return cls.resolve(model, target, prompt_ids, max_new_tokens)
    raise InputError(f"target must be a string, a pair of strings, a span, or None; got {target!r}")
