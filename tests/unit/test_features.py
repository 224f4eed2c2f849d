"""Segmenters and token-id-space perturbation."""

from __future__ import annotations

import numpy as np
import pytest

from whyllm.errors import InputError
from whyllm.features import SEGMENTERS, PromptInput
from whyllm.models import ToyModel


def texts(kind: str, text: str) -> list[str]:
    return [text[s:e] for s, e in SEGMENTERS.get(kind)(text)]


def test_words_keep_punctuation():
    assert texts("words", "the acting was superb, though") == ["the", "acting", "was", "superb,", "though"]


def test_sentences():
    t = "It rained. We stayed in!  Was it fun? Yes\nNew line here"
    assert texts("sentences", t) == ["It rained.", "We stayed in!", "Was it fun?", "Yes", "New line here"]


def test_paragraphs():
    text = "first one\nstill\n\n  second\n\n\nthird"
    assert texts("paragraphs", text) == ["first one\nstill", "second", "third"]


def test_list_items():
    assert texts("items", "CD3D, CD3E, IL7R") == ["CD3D", "CD3E", "IL7R"]
    assert texts("items", "- MS4A1\n- CD79A\n- CD19") == ["MS4A1", "CD79A", "CD19"]
    assert texts("items", "LYZ; S100A8 and CD14") == ["LYZ", "S100A8", "CD14"]


@pytest.fixture
def toy():
    return ToyModel(lambda ws: {"yes": 0.0})


def test_template_parts_are_fixed(toy):
    inp = PromptInput(toy, "a b c", template="Q: {text} A:", features="words")
    assert [f.text for f in inp.features] == ["a", "b", "c"]
    full = inp.ids_for(np.ones(3, bool))
    none = inp.ids_for(np.zeros(3, bool))
    assert toy.decode(full) == "Q: a b c A:"
    assert toy.decode(none) == "Q: A:"
    assert toy.decode(inp.ids_for(np.array([True, False, True]))) == "Q: a c A:"








def test_bad_templates(toy):
    with pytest.raises(InputError, match="exactly once"):
        PromptInput(toy, "a", template="no slot here")
    with pytest.raises(InputError, match="exactly once"):
        PromptInput(toy, "a", template="{text} and {text}")
