"""Segmenters and token-id-space perturbation."""

from __future__ import annotations

import numpy as np
import pytest

from whyllm.features import PromptInput


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
