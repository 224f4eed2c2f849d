"""A tiny transformers-shaped model with one planted gating neuron (layers.0.mlp:5).

Neuron 5 of layer 0 fires iff the word "great" is in the prompt and alone decides ' yes' over
' no'; neuron 9 is a decoy that fires on the same word but feeds nothing the output reads; every
other neuron carries small random weights away from the output direction.
"""

from __future__ import annotations

import torch

from tests.tiny_models import TinyCausalLM, tiny_hf_model

WORDS = ["review", ":", "verdict", "yes", "no", "the", "movie", "was", "great", "and", "fun", "long", "plot"]
TEMPLATE = "review : {text} verdict"
TEXT = "the movie was great and fun"
GATE, DECOY = 5, 9


def planted_gate_model(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    vocab = len(WORDS) + 4
    net = TinyCausalLM(vocab, dim=8, width=16, layers=2)
    tok_id = {w: i + 4 for i, w in enumerate(WORDS)}
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        emb = net.model.embed_tokens.weight
        emb[:, 2:6] = 0.5 * torch.randn(vocab, 4, generator=g)
        emb[:, 7] = 1.0  # a constant channel
        emb[tok_id["great"], 0] = 1.0
        for layer in net.model.layers:  # small random neurons that write only to dims 2..5
            mlp = layer.mlp
            mlp.gate_proj.weight[:, :6] = 0.3 * torch.randn(16, 6, generator=g)
            mlp.up_proj.weight[:, :6] = 0.3 * torch.randn(16, 6, generator=g)
            mlp.down_proj.weight[2:6] = 0.1 * torch.randn(4, 16, generator=g)
        mlp = net.model.layers[0].mlp
        for n, out_dim in ((GATE, 6), (DECOY, 4)):
            mlp.gate_proj.weight[n] = 0.0
            mlp.gate_proj.weight[n, 0] = 10.0
            mlp.up_proj.weight[n] = 0.0
            mlp.up_proj.weight[n, 7] = 1.0
            mlp.down_proj.weight[:, n] = 0.0
            mlp.down_proj.weight[out_dim, n] = 1.0
        net.lm_head.weight[tok_id["yes"], 6] = 8.0
        net.lm_head.weight[tok_id["no"], 7] = 0.3
    return tiny_hf_model(net.eval(), WORDS, name="tiny-planted-gate")
