"""Concepts as features: binary predicates "the input expresses concept c" (ConLUX, Zhao et al.
2024, arXiv 2410.12439, now "Beyond Attribution: Unified Concept-Level Explanations", UnCLE).

A concept is a name and the pieces of the text that express it. Concepts may overlap, and a word
may be in no concept (it then stays, whatever the mask). Switching a concept off removes the tokens
of all its pieces, in token-id space (``delete``: nothing takes their place; ``replace``: one filler
per run of removed tokens), so the text outside stays token for token. A token shared by two
concepts goes when either is off. Methods see masks over concepts only, so every method (occlusion,
LIME, KernelSHAP, Anchors, LORE) and every wrapper runs over them unchanged.

The concepts themselves come from an extractor (:mod:`whyllm.concepts`); :class:`ConceptSet` is
the resolved result that the input, the explanation and a re-scoring (``objective_for``) share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from whyllm.cost import CostMeter
from whyllm.errors import ContextLengthError, InputError
from whyllm.features.perturbations import DEFAULT_FILLER, PERTURBATIONS, Perturbation
from whyllm.features.prompt_input import Feature, check_text, split_template
from whyllm.features.protocol import without_features
from whyllm.models.base import LanguageModel

KIND = "concepts"
PERTURBATIONS_FOR_CONCEPTS = ("delete", "replace", "rewrite")


@dataclass(frozen=True)
class Concept:
    """A named concept and the [start, end) character spans of the text that express it."""

    name: str
    spans: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError("a concept needs a name")
        spans = tuple(sorted((int(s), int(e)) for s, e in self.spans))
        if not spans or any(e <= s or s < 0 for s, e in spans):
            raise InputError(f"concept {self.name!r} needs non-empty spans, got {list(self.spans)!r}")
        object.__setattr__(self, "spans", spans)

    def texts(self, text: str) -> list[str]:
        return [text[s:e] for s, e in self.spans]

    def feature(self) -> Feature:
        return Feature(self.name, self.spans[0][0], max(e for _, e in self.spans), self.spans)


@dataclass(frozen=True)
class ConceptSet:
    """Concepts resolved on one text: what the input, the explanation and re-scoring share.
    ``record`` says how they were found (the extractor, its options and its own cost)."""

    concepts: tuple[Concept, ...]
    extractor: str = "spans"
    record: dict[str, Any] = field(default_factory=dict)
    #: realises masks as rewritten texts (``perturbation="rewrite"``; see :mod:`whyllm.concepts.rewrite`)
    rewriter: Any = field(default=None, compare=False, repr=False)

    kind = KIND

    def __post_init__(self) -> None:
        if not self.concepts:
            raise InputError("no concepts to attribute to (the extractor found none in the text)")
        names = [c.name for c in self.concepts]
        if len(set(names)) != len(names):
            raise InputError(f"concept names must be distinct, got {names}")

    def check(self, text: str) -> None:
        for c in self.concepts:
            if c.spans[-1][1] > len(text):
                raise InputError(f"concept {c.name!r} has a span past the end of the text "
                                 f"({len(text)} characters)")

    @classmethod
    def from_features(cls, features: Sequence[Feature], record: dict[str, Any] | None = None) -> ConceptSet:
        record = dict(record or {})
        concepts = tuple(Concept(f.text, f.pieces()) for f in features)
        return cls(concepts, record.get("extractor", "spans"), record)


def token_position(prompt: str, start: int, end: int) -> int:
    """Where a token's text begins, past any leading space."""
    chars = prompt[start:end]
    return start + (len(chars) - len(chars.lstrip())) if chars.strip() else start


class ConceptInput:
    """A prompt whose features are concepts (see the module docstring); implements
    :class:`~whyllm.features.protocol.InterpretableInput`."""

    def __init__(self, model: LanguageModel, text: str, concepts: ConceptSet, template: str | None = None,
                 perturbation: str = "delete", filler: str = DEFAULT_FILLER,
                 meter: CostMeter | None = None) -> None:
        check_text(text)
        if perturbation not in PERTURBATIONS_FOR_CONCEPTS:
            raise InputError(f"concepts are removed with {', '.join(PERTURBATIONS_FOR_CONCEPTS)}; "
                             f"got {perturbation!r}")
        if perturbation == "rewrite" and concepts.rewriter is None:
            raise InputError("perturbation='rewrite' needs a generator (generator=..., verifier=...)")
        concepts.check(text)
        prefix, suffix = split_template(template)
        self.text, self.template, self.kind, self.perturbation = text, template, KIND, perturbation
        self.concepts = concepts
        self.prompt = prefix + text + suffix
        enc = model.encode(self.prompt)
        if len(enc.ids) > model.max_context:
            raise ContextLengthError(f"the prompt is {len(enc.ids)} tokens; the model's context window "
                                     f"is {model.max_context}")
        self.ids = enc.ids
        lo, hi = len(prefix), len(prefix) + len(text)
        starts = [None if sp or e <= s else token_position(self.prompt, s, e) - lo
                  for (s, e), sp in zip(enc.offsets, enc.special)]
        self.groups: list[list[int]] = []
        for c in concepts.concepts:
            group = [t for t, p in enumerate(starts)
                     if p is not None and 0 <= p < hi - lo and any(s <= p < e for s, e in c.spans)]
            if not group:
                raise InputError(f"concept {c.name!r} covers no token of the text")
            self.groups.append(group)
        self.features = tuple(c.feature() for c in concepts.concepts)
        self.prefix, self.suffix = prefix, suffix
        self.model = model
        # a rewrite's texts come from the generator; deletion and replacement work on token ids
        if perturbation == "rewrite":
            self.perturber: Perturbation | Any = concepts.rewriter
        else:
            strategy = PERTURBATIONS.get(perturbation)
            self.perturber = strategy.build(model, self.ids, self.groups, filler, meter)

    def sample_weights(self, masks: np.ndarray) -> np.ndarray:
        """Each sample's weight in a surrogate: 1, or the rewrite's compliance (see ``rewrite``)."""
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        if self.perturbation != "rewrite":
            return np.ones(len(masks))
        return np.array([self.perturber.weight(m) for m in masks], dtype=np.float64)

    @property
    def candidates(self) -> list[tuple[int, ...]]:
        return []

    def choice_counts(self) -> list[int] | None:
        return None

    @property
    def n_features(self) -> int:
        return len(self.groups)

    def ids_for(self, keep: np.ndarray, choice: np.ndarray | None = None) -> tuple[int, ...]:
        """Token ids with every token of a switched-off concept removed (one replacement per run), or
        of the generator's rewrite of the text without them."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_features,):
            raise ValueError(f"mask has shape {keep.shape}, expected ({self.n_features},)")
        if self.perturbation == "rewrite" and not keep.all():
            return self.model.encode(self.prefix + self.perturber.rewrite(keep) + self.suffix).ids
        return without_features(self.ids, self.groups, np.flatnonzero(~keep),
                                lambda c: self.perturber.replacement(c), merge_runs=True)
