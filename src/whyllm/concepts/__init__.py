"""Concept extractors for ``features="concepts"`` (see :mod:`whyllm.features.concepts`)."""

from whyllm.concepts import clusters, lexicon, llm  # noqa: F401  (registers the extractors)
from whyllm.concepts.base import EXTRACTORS, OPTIONS, Extractor, ExtractorCost, extract

__all__ = ["EXTRACTORS", "OPTIONS", "Extractor", "ExtractorCost", "extract"]
