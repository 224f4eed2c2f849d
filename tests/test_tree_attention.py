"""The packed prefix-tree attention: its fused flash-attention path (full-attention layers on the CPU)
gives what the explicit scores give, and what a plain forward gives, on a real transformers Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whyllm.cost import CostMeter
from whyllm.models import ScoreRequest, load_model
from whyllm.models import tree_attention as ta
from whyllm.models.tiny import word_tokenizer

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "home"]


class _N:  # the two fields of a prefix-tree node a group reads
    def __init__(self, start: int, length: int) -> None:
        self.start, self._len = start, length

    def __len__(self) -> int:
        return self._len


@pytest.mark.parametrize("lengths", [[37], [40, 33, 29]], ids=["one node", "padded siblings"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_parts_equal_the_explicit_scores(lengths, dtype, monkeypatch):
    if ta._FLASH_CPU is None:
        pytest.skip("this torch has no fused CPU kernel")
    g = torch.Generator().manual_seed(0)
    h, hkv, d, chain = 6, 2, 16, 50
    t = sum(lengths)
    q, k, v = (torch.randn(n, t, d, generator=g).to(dtype) for n in (h, hkv, hkv))
    ck, cv = (torch.randn(hkv, chain, d, generator=g).to(dtype) for _ in range(2))
    group = ta._Group(None, [_N(chain, n) for n in lengths], 0, torch.device("cpu"))
    fused = ta._own(q, k, v, group, 0.25, None, None), ta._shared(q, ck, cv, group, 0.25, None, None)
    monkeypatch.setattr(ta, "_FLASH_CPU", None)
    explicit = ta._own(q, k, v, group, 0.25, None, None), ta._shared(q, ck, cv, group, 0.25, None, None)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    for (lse_f, o_f), (lse_e, o_e) in zip(fused, explicit):
        assert lse_f.shape == lse_e.shape and o_f.shape == o_e.shape
        torch.testing.assert_close(lse_f, lse_e, atol=tol, rtol=tol)
        torch.testing.assert_close(o_f, o_e, atol=tol, rtol=tol)


@pytest.fixture
def llama(tmp_path, monkeypatch):
    """A real (small, random) transformers Llama with grouped-query heads and two layers."""
    from transformers import LlamaConfig, LlamaForCausalLM

    monkeypatch.setenv("WHYLLM_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=20, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=2, eos_token_id=1, pad_token_id=0)
    folder = tmp_path / "llama"
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    word_tokenizer(WORDS).save_pretrained(folder)
    return load_model(folder, dtype="float32", device="cpu", cache=False)


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
