"""Many short rows, each continuing its own stored head, in one packed forward.

:class:`~whyllm.models.tree_attention.PackedBatch` groups its nodes by parent and attends group by
group: right for a prefix tree, where siblings share their parent chain. The neuron search asks the
opposite: dozens of one- or two-token tails (a prompt's last token and the answer's head), each on
its own prompt's head, run again under every clamp. :class:`TailBatch` packs them as one group for
their own causal part and attends to every parent chain at once, the chains padded to the longest and
masked; the padded chains are gathered from the :class:`~whyllm.models.tree_attention.KVStore` once per
layer and kept for the next call. The two parts are merged by log-sum-exp, as in Hydragen (Juravsky
et al. 2024), so the result is the same attention the per-group path computes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from whyllm.models.plan import Node
from whyllm.models.tree_attention import KVStore, PackedBatch, _Group, _own, _scores


class TailBatch(PackedBatch):
    """``nodes`` (each with a stored parent chain) packed into one row, attending as one group."""

    def __init__(self, nodes: Sequence[Node], store: KVStore, device: torch.device) -> None:
        self.store, self.keep, self.nodes = store, False, list(nodes)
        self.groups = [_Group(None, self.nodes, 0, device)]
        self.length = self.groups[0].b
        self.offsets, pos = {}, 0
        for n in self.nodes:
            self.offsets[id(n)] = pos
            pos += len(n)
        self.ids = torch.tensor([[t for n in self.nodes for t in n.tokens]], dtype=torch.long, device=device)
        self.positions = torch.cat([torch.arange(n.start, n.end, device=device) for n in self.nodes])[None]
        self.starts = torch.tensor([n.start for n in self.nodes], device=device)
        self._chains: dict[tuple[int, int | None], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def chains(self, layer: int, window: int | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every node's parent chain at ``layer``: keys and values (Hkv, N, C, D) padded to the
        longest, and each chain's length (N,)."""
        key = (layer, window)
        if key not in self._chains:
            parts = [self.store.context(n.parent, layer, window) for n in self.nodes]
            longest = max(k.shape[1] for k, _ in parts)
            pad = torch.nn.functional.pad
            ks = torch.stack([pad(k, (0, 0, 0, longest - k.shape[1])) for k, _ in parts], 1)
            vs = torch.stack([pad(v, (0, 0, 0, longest - v.shape[1])) for _, v in parts], 1)
            lengths = torch.tensor([k.shape[1] for k, _ in parts], device=ks.device)
            self._chains[key] = (ks, vs, lengths)
        return self._chains[key]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
               window: int | None, softcap: float | None) -> torch.Tensor:
        g = self.groups[0]
        lse, o = _own(q, k, v, g, scale, window, softcap)
        lse1, o1 = self._to_chains(q, g, *self.chains(layer, window), scale, window, softcap)
        both = torch.logaddexp(lse, lse1)
        out = torch.exp(lse - both)[..., None] * o + torch.exp(lse1 - both)[..., None] * o1
        return out.to(q.dtype)

    def _to_chains(self, q, g: _Group, ck, cv, lengths, scale, window, softcap):
        """Attention of each node's queries to its own parent chain: (lse (H, T), output (H, T, D))."""
        h, _, d = q.shape
        hkv, n, c = ck.shape[0], ck.shape[1], ck.shape[2]
        rep, s = h // hkv, g.smax
        qs = q[:, g.grid].reshape(hkv, rep, n, s, d).permute(0, 2, 1, 3, 4)  # (hkv, n, rep, s, d)
        sc = _scores(qs, ck[:, :, None], scale, softcap)  # (hkv, n, rep, s, c)
        j = torch.arange(c, device=q.device)
        visible = (j[None, :] < lengths[:, None])[:, None, :]  # (n, 1, c)
        if window:  # a query at start + i sees chain keys at positions > start + i - window
            key_pos = self.starts[:, None] - lengths[:, None] + j[None, :]  # (n, c)
            query_pos = self.starts[:, None] + torch.arange(s, device=q.device)[None, :]  # (n, s)
            visible = visible & (key_pos[:, None, :] > query_pos[:, :, None] - window)
        sc = sc.masked_fill(~visible[None, :, None], -math.inf)
        lse = torch.logsumexp(sc, dim=-1)  # -inf where a query sees no key of its chain
        p = torch.exp(sc - lse.clamp_min(-1e30)[..., None])
        o = torch.matmul(p.to(cv.dtype), cv[:, :, None]).float()  # (hkv, n, rep, s, d)
        lse = lse.permute(0, 2, 1, 3).reshape(h, n * s)[:, g.flat]
        o = o.permute(0, 2, 1, 3, 4).reshape(h, n * s, d)[:, g.flat]
        return lse, o
