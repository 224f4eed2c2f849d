"""``lexicon`` and ``spans``: concepts the user names.

* ``lexicon``: each concept is a name and its words or phrases (``concepts={"acting": ["acting",
  "performances"], ...}``, or the path of a JSON file of that object); every whole-word,
  case-insensitive occurrence in the text is one of its spans. Concepts may share words; a concept
  that does not occur in the text is left out (``absent`` in the record).
* ``spans``: each concept is a name and its [start, end) character spans, or its exact substrings
  (every occurrence), as given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from whyllm.concepts.base import EXTRACTORS, Extractor, ExtractorCost
from whyllm.errors import InputError
from whyllm.features.concepts import Concept
from whyllm.models.base import LanguageModel


def read_concepts(concepts: Any) -> dict[str, list]:
    """A ``{name: [...]}`` object, given as such, as its JSON text, or as the path of a JSON file."""
    if isinstance(concepts, str) and concepts.lstrip().startswith("{"):
        try:
            concepts = json.loads(concepts)
        except json.JSONDecodeError as exc:
            raise InputError(f"concepts= is not a JSON object: {exc}") from exc
    if isinstance(concepts, (str, Path)):
        path = Path(concepts)
        if not path.is_file():
            raise InputError(f"no such concepts file: {concepts}")
        try:
            concepts = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(concepts, dict) or not concepts:
        raise InputError("concepts= takes an object {name: [words or spans]} (or its JSON file)")
    for name, items in concepts.items():
        if not isinstance(items, (list, tuple)) or not items:
            raise InputError(f"concept {name!r} needs a list of words, phrases or spans")
    return {str(k): list(v) for k, v in concepts.items()}


def occurrences(text: str, phrase: str, whole_words: bool = True) -> list[tuple[int, int]]:
    """Every [start, end) where ``phrase`` occurs in ``text`` (case-insensitive)."""
    phrase = phrase.strip()
    if not phrase:
        return []
    body = re.escape(phrase).replace(r"\ ", r"\s+")
    pattern = rf"(?<!\w){body}(?!\w)" if whole_words else body
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


@EXTRACTORS.register("lexicon")
class Lexicon(Extractor):
    name = "lexicon"

    def __init__(self, concepts: Any = None) -> None:
        if concepts is None:
            raise InputError("the lexicon extractor needs concepts={name: [words or phrases]}")
        self.concepts = read_concepts(concepts)
        self.notes: dict[str, Any] = {}

    def find(self, model: LanguageModel, text: str, template: str | None,
             cost: ExtractorCost) -> list[Concept]:
        out, absent = [], []
        for name, phrases in self.concepts.items():
            if not all(isinstance(p, str) for p in phrases):
                raise InputError(f"lexicon concept {name!r} lists words or phrases (strings)")
            spans = sorted({sp for p in phrases for sp in occurrences(text, p)})
            if spans:
                out.append(Concept(name, tuple(spans)))
            else:
                absent.append(name)
        self.notes = {"absent": absent}
        return out

    def recorded(self) -> dict[str, Any]:
        return {"concepts": self.concepts}


@EXTRACTORS.register("spans")
class Spans(Extractor):
    name = "spans"

    def __init__(self, concepts: Any = None) -> None:
        if concepts is None:
            raise InputError("the spans extractor needs concepts={name: [[start, end], ...] or [substrings]}")
        self.concepts = read_concepts(concepts)

    def find(self, model: LanguageModel, text: str, template: str | None,
             cost: ExtractorCost) -> list[Concept]:
        out = []
        for name, items in self.concepts.items():
            spans: list[tuple[int, int]] = []
            for item in items:
                if isinstance(item, str):
                    found = occurrences(text, item, whole_words=False)
                    if not found:
                        raise InputError(f"concept {name!r}: {item!r} does not occur in the text")
                    spans += found
                elif isinstance(item, (list, tuple)) and len(item) == 2:
                    s, e = int(item[0]), int(item[1])
                    if not 0 <= s < e <= len(text):
                        raise InputError(f"concept {name!r}: span {[s, e]} is outside the text "
                                         f"(0..{len(text)})")
                    spans.append((s, e))
                else:
                    raise InputError(f"concept {name!r}: {item!r} is neither [start, end] nor a substring")
            out.append(Concept(name, tuple(sorted(set(spans)))))
        return out

    def recorded(self) -> dict[str, Any]:
        return {"concepts": self.concepts}
