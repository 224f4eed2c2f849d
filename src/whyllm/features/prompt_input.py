"""What a feature is: a :class:`PromptInput` holds the tokenized prompt (template with the text in
its ``{text}`` slot) and the token indices of each feature (cf. captum's ``InterpretableInput``;
it implements :class:`~whyllm.features.protocol.InterpretableInput`). Methods only see boolean masks
(True = keep); the input turns a mask into token ids with its perturbation strategy
(:mod:`whyllm.features.perturbations`: ``delete``, ``replace`` with a filler, ``model-words``). It
works in token-id space: untouched text keeps its exact tokens (no decode/re-tokenize drift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import ContextLengthError, InputError
from whyllm.features.perturbations import DEFAULT_FILLER, PERTURBATIONS, Perturbation
from whyllm.features.protocol import without_features
from whyllm.features.segmenters import SEGMENTERS, STRICT
from whyllm.models.base import LanguageModel

SLOT = "{text}"


@dataclass(frozen=True)
class Feature:
    """One interpretable feature: its text and character span within the text slot.

    A concept (:mod:`whyllm.features.concepts`) is one feature over several pieces of the text:
    ``text`` is its name, ``spans`` its pieces' [start, end) (``start``/``end`` bound them all).
    Every other feature has no ``spans``."""

    text: str
    start: int
    end: int
    spans: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:  # JSON gives lists; keep the value hashable and comparable
        object.__setattr__(self, "spans", tuple((int(s), int(e)) for s, e in self.spans))

    def pieces(self) -> tuple[tuple[int, int], ...]:
        """The character spans the feature covers: its ``spans``, or its one [start, end)."""
        return self.spans or ((self.start, self.end),)

    def to_dict(self) -> dict:
        d = {"text": self.text, "start": self.start, "end": self.end}
        if self.spans:
            d["spans"] = [list(sp) for sp in self.spans]
        return d


def check_text(text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError("the prompt is empty; give the text to explain")


def split_template(template: str | None) -> tuple[str, str]:
    if template is None:
        return "", ""
    if not isinstance(template, str) or template.count(SLOT) != 1:
        raise InputError(f"the template must contain the slot {SLOT} exactly once, got {template!r}")
    prefix, suffix = template.split(SLOT)
    return prefix, suffix


class PromptInput:
    """A prompt split into fixed template tokens and removable features."""

    def __init__(self, model: LanguageModel, text: str, template: str | None = None,
                 features: str = "words", perturbation: str = "delete", filler: str = DEFAULT_FILLER,
                 meter: CostMeter | None = None) -> None:
        check_text(text)
        segment = SEGMENTERS.get(features)
        PERTURBATIONS.get(perturbation)
        prefix, suffix = split_template(template)
        self.text, self.template, self.kind, self.perturbation = text, template, features, perturbation
        self.prompt = prefix + text + suffix
        lo, hi = len(prefix), len(prefix) + len(text)
        enc = model.encode(self.prompt)
        if len(enc.ids) > model.max_context:
            raise ContextLengthError(f"the prompt is {len(enc.ids)} tokens; the model's context window "
                                     f"is {model.max_context}")
        self.ids = enc.ids
        spans = segment(text)
        owner = self._owners(enc.offsets, enc.special, lo, hi, spans, strict=features in STRICT)
        self.groups, self.features = self._group(owner, enc.offsets, lo, spans)
        if not self.groups:
            raise InputError(f"the text has no {features} to attribute to")
        self.perturber: Perturbation = PERTURBATIONS.get(perturbation).build(model, self.ids, self.groups,
                                                                             filler, meter)

    @property
    def candidates(self) -> list[tuple[int, ...]]:
        """The model's replacement words per feature (``model-words``; empty otherwise)."""
        return list(getattr(self.perturber, "candidates", []))

    def choice_counts(self) -> list[int] | None:
        return self.perturber.choice_counts()

    def _owners(self, offsets, special, lo, hi, spans, strict: bool = False) -> list[int | None]:
        """Feature index (into ``spans``, or token rank for ``tokens``) of each token, None if fixed."""
        owner: list[int | None] = []
        rank = 0
        for (s, e), sp in zip(offsets, special):
            if sp or e <= s:
                owner.append(None)
                continue
            chars = self.prompt[s:e]
            p = s + (len(chars) - len(chars.lstrip())) if chars.strip() else s
            if not lo <= p < hi:
                owner.append(None)
            elif spans is None:
                owner.append(rank)
                rank += 1
            else:
                rel = p - lo
                hit = [i for i, (a, b) in enumerate(spans) if a <= rel < b]
                before = [i for i, (a, _) in enumerate(spans) if a <= rel]
                if strict and not hit:
                    owner.append(None)  # fixed text between the spans (a document's header)
                else:
                    owner.append(hit[0] if hit else (before[-1] if before else 0))
        return owner

    def _group(self, owner, offsets, lo, spans):
        groups: dict[int, list[int]] = {}
        for t, o in enumerate(owner):
            if o is not None:
                groups.setdefault(o, []).append(t)
        order = sorted(groups)
        feats = []
        for o in order:
            if spans is None:
                s, e = offsets[groups[o][0]]
                s, e = s - lo, e - lo
            else:
                s, e = spans[o]
            feats.append(Feature(self.text[max(s, 0):e], max(s, 0), e))
        # a span whose characters all fell into a neighbour's token joins that neighbour's feature
        return [groups[o] for o in order], tuple(feats)

    @property
    def n_features(self) -> int:
        return len(self.groups)

    def ids_for(self, keep: np.ndarray, choice: np.ndarray | None = None) -> tuple[int, ...]:
        """Token ids of the prompt with the features where ``keep`` is False removed.

        ``choice[f]`` picks among the perturbation's options for feature ``f`` (``model-words``:
        which candidate word; default the model's most plausible one)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_features,):
            raise ValueError(f"mask has shape {keep.shape}, expected ({self.n_features},)")

        def replacement(f: int) -> Sequence[int]:
            return self.perturber.replacement(f, None if choice is None else choice[f])

        return without_features(self.ids, self.groups, np.flatnonzero(~keep), replacement)
