"""Split the prompt into display chunks: fixed template text, gaps, and features with values."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whyllm.explanation import Explanation


@dataclass(frozen=True)
class Chunk:
    text: str
    index: int | None  # feature index, None for fixed text
    value: float | None
    intensity: float  # |value| / max |value|, 0 for fixed text
    name: str | None = None  # the concept a piece belongs to (concept features only)


def concept_pieces(exp: Explanation, peak: float) -> list[Chunk]:
    """The text cut at every concept span's ends; each piece coloured by the concept covering it
    (the one of largest |value| where concepts overlap), so a concept's pieces share one colour."""
    cuts = sorted({0, len(exp.text), *(b for f in exp.features for sp in f.pieces() for b in sp)})
    out = []
    for a, b in pairwise(cuts):
        owners = [i for i, f in enumerate(exp.features) if any(s <= a and b <= e for s, e in f.pieces())]
        if not owners:
            out.append(Chunk(exp.text[a:b], None, None, 0.0))
            continue
        i = max(owners, key=lambda j: abs(exp.values[j]))
        v = exp.values[i]
        out.append(Chunk(exp.text[a:b], i, v, min(1.0, abs(v) / peak), exp.features[i].text))
    return out


def prompt_chunks(exp: Explanation) -> list[Chunk]:
    prefix, suffix = ("", "") if exp.template is None else exp.template.split("{text}", 1)
    peak = max((abs(v) for v in exp.values), default=0.0) or 1.0
    out = [Chunk(prefix, None, None, 0.0)] if prefix else []
    if exp.feature_kind == "concepts":
        return out + concept_pieces(exp, peak) + ([Chunk(suffix, None, None, 0.0)] if suffix else [])
    pos = 0
    for i, (f, v) in enumerate(zip(exp.features, exp.values)):
        if f.start > pos:
            out.append(Chunk(exp.text[pos:f.start], None, None, 0.0))
        out.append(Chunk(exp.text[f.start:f.end], i, v, min(1.0, abs(v) / peak)))
        pos = max(pos, f.end)
    if pos < len(exp.text):
        out.append(Chunk(exp.text[pos:], None, None, 0.0))
    if suffix:
        out.append(Chunk(suffix, None, None, 0.0))
    return out
