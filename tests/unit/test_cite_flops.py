"""benchmarks/cite_flops.py counts the arithmetic it claims: its per-position counts equal what
torch's FLOP counter sees in a real (tiny, random) Gemma 3 forward, and its prefix-tree count takes
a shared head once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from cite_flops import Arithmetic

from whyllm.models.base import ScoreRequest

LAYERS = ["sliding_attention", "sliding_attention", "full_attention"]


def tiny_gemma():
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=8, sliding_window=4,
                           layer_types=LAYERS, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    return Gemma3ForCausalLM(cfg).eval(), cfg


def test_per_position_counts_match_torchs_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    model, cfg = tiny_gemma()
    arith = Arithmetic(cfg.to_dict())
    assert arith.linear == 2 * 3 * (32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 48)
    assert arith.head == 2 * 32 * 97
    for n in (1, 7, 12):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.arange(1, n + 1)[None])
        # eager attention computes every query-key score (the masks zero the rest), so torch counts
        # n * n per layer where the causal and windowed count is smaller; the rest is matmuls
        eager = arith.attn_unit * n * n * 3
        assert counter.get_total_flops() == arith.full_row(n) - arith.attention(0, n) + eager


def test_attention_counts_causal_keys_and_the_window():
    _, cfg = tiny_gemma()
    arith = Arithmetic(cfg.to_dict())
    full = sum(range(1, 7))  # positions 0..5 see 1..6 keys
    sliding = 1 + 2 + 3 + 4 + 4 + 4  # the last 4 at most
    assert arith.attention(0, 6) == arith.attn_unit * (full + 2 * sliding)
    assert arith.attention(0, 3) + arith.attention(3, 6) == arith.attention(0, 6)


def test_tree_counts_a_shared_head_once_and_reads_only_the_answer():
    _, cfg = tiny_gemma()
    arith = Arithmetic(cfg.to_dict())
    a = ScoreRequest((1, 2, 3, 4, 5), (6,))
    b = ScoreRequest((1, 2, 3, 4, 9), (6,))
    flops, spare, computed = arith.tree([a, b, a])
    assert computed == 6  # 4 shared + 1 + 1
    expected = arith.linear * 6 + arith.attention(0, 4) + 2 * arith.attention(4, 5) + 2 * arith.head
    assert flops == pytest.approx(expected, rel=1e-12)
    # the last layer (full attention here) is needed in full only where a log-prob is read: the two
    # last positions; the 4 shared ones need its keys and values alone
    per_layer_kv = 2 * 2 * 32 * 16
    assert spare == pytest.approx(4 * (arith.linear / 3 - per_layer_kv) + arith.attn_unit * (1 + 2 + 3 + 4),
                                  rel=1e-12)
    assert arith.full_row(5) * 2 > flops
