"""Concept extractors: where the concepts of ``features="concepts"`` come from.

An extractor is a registered class whose ``__init__`` keywords are its options (checked like a
method's parameters) and whose :meth:`Extractor.find` returns the concepts of one text, as
:class:`~whyllm.features.concepts.Concept` (a name and the character spans that express it).
:func:`extract` runs one and records its options and its own cost (model calls and tokens: never
counted as target calls).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from whyllm.cost import GeneratorCost
from whyllm.errors import InputError
from whyllm.features.concepts import Concept, ConceptSet
from whyllm.models.base import LanguageModel
from whyllm.registry import Registry, check_params, init_param_names

#: every option name an extractor may take (what the engine takes out of the method's parameters)
OPTIONS = ("extractor", "concepts", "k", "layer", "distance", "extractor_model", "on_malformed",
           "retries", "max_concepts", "fallback", "stopwords", "generator", "verifier", "noncompliant",
           "rewrite_cache")
REWRITE_OPTIONS = ("generator", "verifier", "noncompliant", "rewrite_cache")


ExtractorCost = GeneratorCost  # an extractor's own model work


class Extractor(ABC):
    """Base class: subclasses set ``name`` and :meth:`find`."""

    name: ClassVar[str]

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return init_param_names(cls)

    @classmethod
    def create(cls, options: dict[str, Any]) -> Extractor:
        """``cls(**options)``, with an unknown option a clear error."""
        check_params(f"the {cls.name} extractor", options, cls.option_names())
        return cls(**options)

    @abstractmethod
    def find(self, model: LanguageModel, text: str, template: str | None,
             cost: ExtractorCost) -> list[Concept]:
        """The concepts of ``text`` (spans are characters of ``text``)."""

    def recorded(self) -> dict[str, Any]:
        """The options an explanation records (JSON-safe)."""
        return {}


EXTRACTORS: Registry[type[Extractor]] = Registry("concept extractor")


def extract(model: LanguageModel, text: str, template: str | None = None, extractor: str = "clusters",
            perturbation: str = "delete", **options: Any) -> ConceptSet:
    """The concepts of ``text`` by the registered ``extractor`` (its ``options`` checked first);
    with ``perturbation="rewrite"``, the rewriter (``generator``, ``verifier``, ``noncompliant``,
    ``rewrite_cache``) that realises their masks."""
    rewrite = {k: options.pop(k) for k in REWRITE_OPTIONS if k in options}
    if rewrite and perturbation != "rewrite":
        raise InputError(f"{', '.join(rewrite)} go with perturbation='rewrite'")
    ex = EXTRACTORS.get(extractor).create(options)
    cost = ExtractorCost()
    concepts = ex.find(model, text, template, cost)
    record = {"extractor": extractor, "options": ex.recorded(), "extractor_cost": cost.to_dict()}
    record.update(getattr(ex, "notes", {}))
    concept_set = ConceptSet(tuple(concepts), extractor, record)
    if perturbation != "rewrite":
        return concept_set
    from whyllm.concepts.rewrite import rewriter_for

    default_verifier = getattr(ex, "extractor_model", None)
    return rewriter_for(text, concept_set, default_verifier=default_verifier, **rewrite)
