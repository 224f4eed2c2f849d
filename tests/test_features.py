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


@pytest.mark.gemma
def test_removal_keeps_other_tokens_exactly(gemma):
    inp = PromptInput(gemma, "the acting was superb, though the ending dragged.",
                      template="Review: {text}\nSentiment:", features="words")
    assert [f.text for f in inp.features][:4] == ["the", "acting", "was", "superb,"]
    mask = np.ones(inp.n_features, bool)
    mask[3] = False
    kept = inp.ids_for(mask)
    drop = set(inp.groups[3])
    assert kept == tuple(t for i, t in enumerate(inp.ids) if i not in drop)
    assert "superb" not in gemma.decode(kept) and "acting was though" in gemma.decode(kept)


@pytest.mark.gemma
def test_token_features_and_replacement(gemma):
    inp = PromptInput(gemma, "Paris is nice", features="tokens", perturbation="replace", filler=" _")
    assert [f.text for f in inp.features] == ["Paris", " is", " nice"]
    out = gemma.decode(inp.ids_for(np.array([True, False, True])))
    assert out == "<bos>Paris _ nice"


@pytest.mark.gemma
def test_items_on_real_tokenizer(gemma):
    inp = PromptInput(gemma, "CD3D, CD3E, IL7R", template="Markers: {text}. Cell type:", features="items")
    assert [f.text for f in inp.features] == ["CD3D", "CD3E", "IL7R"]
    assert gemma.decode(inp.ids_for(np.array([True, False, True]))).startswith("<bos>Markers: CD3D, IL7R")


def test_bad_templates(toy):
    with pytest.raises(InputError, match="exactly once"):
        PromptInput(toy, "a", template="no slot here")
    with pytest.raises(InputError, match="exactly once"):
        PromptInput(toy, "a", template="{text} and {text}")
