"""The arithmetic floor of a scoring run: GEMM rate of the model's own shapes, measured in the same
process, times the FLOPs the computed tokens need.

FLOPs counted (multiply-add = 2): the body's linear layers (2 x non-embedding weights per computed
token), attention (QK^T and PV: 4 x heads x head_dim per key, each computed token attending to the
positions before it, or to the last ``sliding_window`` in a local layer) and the output layer at
each position whose log-prob is read (2 x hidden x vocab). Everything else (norms, rotary, GELU,
softmax) is left out, so the bound is optimistic.
"""

from __future__ import annotations

import time

import torch

from whyllm.models.plan import PrefixTree


def body_params(model: torch.nn.Module) -> int:
    emb = model.get_input_embeddings().weight.numel()
    return sum(p.numel() for n, p in model.named_parameters() if "norm" not in n) - emb


def gemm_rate(model: torch.nn.Module, dtype: torch.dtype, tokens: int = 1024, repeats: int = 3) -> float:
    """FLOP/s of the body's linear layers applied to ``tokens`` rows (the model's own weights)."""
    linears = [m for m in model.base_model.modules() if isinstance(m, torch.nn.Linear)]
    xs = {}
    for lin in linears:
        xs.setdefault(lin.in_features, torch.randn(tokens, lin.in_features, dtype=dtype))
    flops = sum(2 * tokens * lin.in_features * lin.out_features for lin in linears)
    weights = [lin.weight.detach().to(dtype) for lin in linears]
    with torch.inference_mode():
        for w in weights:  # warm up
            xs[w.shape[1]] @ w.T
        t = time.perf_counter()
        for _ in range(repeats):
            for w in weights:
                xs[w.shape[1]] @ w.T
        return flops * repeats / (time.perf_counter() - t)


def tree_flops(requests, config, params: int, max_segment: int | None, share: bool = True) -> dict:
    """FLOPs of the tokens whyllm's prefix tree computes for ``requests`` (and of the heads)."""
    tree = PrefixTree(requests, share=share, max_segment=max_segment)
    heads, dim = config.num_attention_heads, config.head_dim
    window = getattr(config, "sliding_window", None) or 10**9
    kinds = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    n_full = sum(k == "full_attention" for k in kinds)
    n_local = len(kinds) - n_full
    attn = 0
    outputs = 0
    for node in tree.nodes:
        for p in range(node.start, node.end):
            attn += 4 * heads * dim * (n_full * (p + 1) + n_local * min(p + 1, window))
        outputs += len({o.offset for o in node.outputs})  # the output layer runs once per position
    body = 2 * params * tree.tokens
    head = 2 * config.hidden_size * config.vocab_size * outputs
    return {"computed_tokens": tree.tokens, "sample_tokens": tree.row_tokens, "body": body,
            "attention": attn, "head": head, "total": body + attn + head}
