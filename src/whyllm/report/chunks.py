"""Split the prompt into display chunks: fixed template text, gaps, and features with values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whyllm.explanation import Explanation


@dataclass(frozen=True)
class Chunk:
    text: str
    index: int | None  # feature index, None for fixed text
    value: float | None
    intensity: float  # |value| / max |value|, 0 for fixed text


def prompt_chunks(exp: Explanation) -> list[Chunk]:
    prefix, suffix = ("", "") if exp.template is None else exp.template.split("{text}", 1)
    peak = max((abs(v) for v in exp.values), default=0.0) or 1.0
    out = [Chunk(prefix, None, None, 0.0)] if prefix else []
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
