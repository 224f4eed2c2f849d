"""The segmenter axis: what is a feature? Each segmenter maps text to character spans.

``tokens`` is special-cased by :class:`~whyllm.features.prompt_input.PromptInput` (one feature per
model token); every other kind returns spans, and tokens are then grouped under the span holding
their first non-space character, so removal works on the model's own token ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from whyllm.registry import Registry

Span = tuple[int, int]
SEGMENTERS: Registry[Callable[[str], list[Span] | None]] = Registry("feature kind")


def _trimmed(text: str, pieces: list[Span]) -> list[Span]:
    """Drop surrounding whitespace from each span and drop empty spans."""
    out = []
    for s, e in pieces:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def _split(text: str, boundary: re.Pattern[str], keep_boundary: bool = True) -> list[Span]:
    """Pieces between matches of ``boundary``; the match stays with the piece before it or is dropped."""
    pieces, start = [], 0
    for m in boundary.finditer(text):
        pieces.append((start, m.end() if keep_boundary else m.start()))
        start = m.end()
    pieces.append((start, len(text)))
    return _trimmed(text, pieces)


@SEGMENTERS.register("tokens")
def tokens(text: str) -> None:
    """One feature per model token (resolved against the tokenizer, not here)."""
    return None


@SEGMENTERS.register("words")
def words(text: str) -> list[Span]:
    """Whitespace-separated words, punctuation kept with its word (``superb,``)."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@SEGMENTERS.register("sentences")
def sentences(text: str) -> list[Span]:
    """Sentences ending in ``.``, ``!`` or ``?`` followed by space, or at a line break."""
    return _split(text, _SENTENCE_END)


@SEGMENTERS.register("paragraphs")
def paragraphs(text: str) -> list[Span]:
    """Blocks separated by a blank line."""
    return _split(text, re.compile(r"\n\s*\n"))


_ITEM_SEP = re.compile(r"[,;\n]|\s+(?:and|or)\s+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


@SEGMENTERS.register("items")
def items(text: str) -> list[Span]:
    """List items separated by commas, semicolons or lines (``CD3D, CD3E, IL7R`` -> three);
    a leading bullet or number is kept out of the item."""
    out = []
    for s, e in _split(text, _ITEM_SEP, keep_boundary=False):
        piece = text[s:e]
        m = _BULLET.match(piece)
        if m and m.end() < len(piece):
            s += m.end()
        if e > s:
            out.append((s, e))
    return out


#: the header ``cite`` puts before each document: ``Document [i](Title: t) `` or ``Document [i] ``
DOCUMENT_HEADER = re.compile(r"Document \[\d+\](?:\(Title: .*?\))? ")
#: segmenters whose spans leave text fixed: a token outside every span is never perturbed
#: (elsewhere such a token, whitespace or punctuation, goes with the feature before it)
STRICT = {"documents", "document-sentences"}


def _document_bodies(text: str) -> list[Span]:
    out = []
    for s, e in paragraphs(text):
        m = DOCUMENT_HEADER.match(text, s)
        start = m.end() if m and m.end() < e else s
        out.append((start, e))
    return out


@SEGMENTERS.register("documents")
def documents(text: str) -> list[Span]:
    """The documents of a context (paragraphs), each without its ``Document [i](Title: t)`` header,
    which stays fixed."""
    return _document_bodies(text)


@SEGMENTERS.register("document-sentences")
def document_sentences(text: str) -> list[Span]:
    """The sentences of each document of a context; the headers stay fixed."""
    return [(s + a, s + b) for s, e in _document_bodies(text) for a, b in sentences(text[s:e])]
