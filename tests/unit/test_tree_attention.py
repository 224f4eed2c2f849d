"""The packed prefix-tree attention gives what a plain forward gives on a real transformers Llama
(grouped-query heads, full attention in every layer)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_models import save_random_llama
from whyllm.cost import CostMeter
from whyllm.models import ScoreRequest, load_model

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "home"]


@pytest.fixture
def llama(tmp_path, monkeypatch):
    """A real (small, random) transformers Llama with grouped-query heads and two layers."""
    monkeypatch.setenv("WHYLLM_CACHE", str(tmp_path / "cache"))
    save_random_llama(tmp_path / "llama", WORDS, vocab_size=20, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256)
    return load_model(tmp_path / "llama", dtype="float32", device="cpu", cache=False)


def test_packed_tree_scores_equal_plain_forwards_on_llama(llama):
    assert llama.path == "packed"
    rng = np.random.default_rng(1)
    head = [int(x) for x in rng.integers(4, 20, size=60)]
    reqs = [ScoreRequest(tuple(head[:j] + head[j + 3:]), (5, 6, 7)) for j in range(0, 57, 7)]
    reqs.append(ScoreRequest(tuple(head), (5, 6, 7)))
    llama.max_batch_tokens = 48  # rows cut into chains over several batches
    got = llama.score(reqs, CostMeter())
    for r, lp in zip(reqs, got):
        np.testing.assert_allclose(lp, llama.plain_logprobs(r.prompt, r.continuation), atol=1e-4)
