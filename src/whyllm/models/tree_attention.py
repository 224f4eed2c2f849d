"""Attention for a batch of prefix-tree nodes packed into one row (the ``hf`` backend's fast path).

A batch is a set of nodes of a :class:`~whyllm.models.plan.PrefixTree` whose parents are already
computed, packed end to end into a single row: no padding. Each node's tokens attend to (a) the
stored keys/values of its parent chain, shared by all the node's siblings, and (b) its own tokens,
causally. The two parts are computed separately and merged through their log-sum-exp, as Hydragen
does for shared prefixes (Juravsky et al. 2024, "Hydragen: High-Throughput LLM Inference with
Shared Prefixes"): the shared part is one matrix product for every sibling at once, and no head
state is ever copied per row. Sliding-window layers (Gemma 3's local layers) see only the last
``window - 1`` positions of the chain, and only those are stored for them.

The function is registered with transformers' ``AttentionInterface`` under :data:`NAME` and is
active only inside :func:`packed_attention`: the model's own modules compute the projections,
norms and rotary embeddings; only the attention kernel is swapped (nnsight's lesson: work on the
model's own module tree). Score matrices are built in query chunks of at most
:data:`CHUNK_ELEMENTS` entries, so memory stays bounded for a 30,000-token chain.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import torch

from whyllm.models.plan import Node

NAME = "whyllm_packed_tree"
CHUNK_ELEMENTS = 1 << 24
BLOCK = 128  # query rows per block of a node's own causal attention
_ACTIVE: ContextVar[PackedBatch | None] = ContextVar("whyllm_packed_batch", default=None)


class KVStore:
    """Keys and values of computed nodes whose children have not all run yet, per layer."""

    def __init__(self) -> None:
        self._kv: dict[int, dict[int, tuple[torch.Tensor, torch.Tensor]]] = {}

    def put(self, node: Node, layer: int, k: torch.Tensor, v: torch.Tensor, window: int | None) -> None:
        if window:
            k, v = k[:, -(window - 1):], v[:, -(window - 1):]
        self._kv.setdefault(id(node), {})[layer] = (k.clone(), v.clone())

    def context(self, node: Node, layer: int, window: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of positions ``0 .. node.end`` (the last ``window - 1`` for a sliding layer)."""
        ks, vs, n = [], [], 0
        while node is not None and node.tokens:
            k, v = self._kv[id(node)][layer]
            ks.append(k)
            vs.append(v)
            n += k.shape[1]
            if window and n >= window - 1:
                break
            node = node.parent
        k = ks[0] if len(ks) == 1 else torch.cat(ks[::-1], dim=1)
        v = vs[0] if len(vs) == 1 else torch.cat(vs[::-1], dim=1)
        if window:
            k, v = k[:, -(window - 1):], v[:, -(window - 1):]
        return k, v

    def release(self, nodes: Sequence[Node]) -> None:
        for n in nodes:
            self._kv.pop(id(n), None)


class _Group:
    """Sibling nodes (same parent) packed at ``[a, b)`` of the row; they all start at ``start``."""

    def __init__(self, parent: Node | None, nodes: list[Node], a: int, device: torch.device) -> None:
        self.parent, self.nodes, self.a = parent, nodes, a
        self.start = nodes[0].start
        lengths = [len(n) for n in nodes]
        self.b = a + sum(lengths)
        self.smax = max(lengths)
        offs = torch.cat([torch.arange(n, device=device) for n in lengths])
        self.in_node = offs  # each packed token's offset within its own node
        firsts = torch.tensor([0, *lengths[:-1]], device=device).cumsum(0)
        grid = firsts[:, None] + torch.arange(self.smax, device=device)[None, :]
        valid = (torch.arange(self.smax, device=device)[None, :]
                 < torch.tensor(lengths, device=device)[:, None])
        self.grid = torch.where(valid, grid, torch.zeros_like(grid))  # (nodes, smax) packed index
        self.flat = torch.nonzero(valid.reshape(-1), as_tuple=True)[0]  # padded index of each packed token


class PackedBatch:
    """Nodes packed into one row, grouped by parent; attends and stores through ``store`` (the nodes
    with children; every node with ``keep``, for rows that later batches continue)."""

    def __init__(self, nodes: Sequence[Node], store: KVStore, device: torch.device, keep: bool = False
                 ) -> None:
        by_parent: dict[int, list[Node]] = {}
        for n in sorted(nodes, key=lambda m: ((m.parent.order if m.parent and m.parent.tokens else -1),
                                              m.order)):
            by_parent.setdefault(id(n.parent), []).append(n)
        self.store, self.groups, self.nodes, self.keep, a = store, [], [], keep, 0
        for members in by_parent.values():
            parent = members[0].parent
            for part in _similar_lengths(members):
                group = _Group(parent if parent is not None and parent.tokens else None, part, a, device)
                self.groups.append(group)
                self.nodes.extend(part)
                a = group.b
        self.length = a
        self.offsets = {}
        pos = 0
        for n in self.nodes:
            self.offsets[id(n)] = pos
            pos += len(n)
        self.ids = torch.tensor([[t for n in self.nodes for t in n.tokens]], dtype=torch.long, device=device)
        self.positions = torch.cat([torch.arange(n.start, n.end, device=device) for n in self.nodes])[None]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
               window: int | None, softcap: float | None) -> torch.Tensor:
        """Attention output (H, T, D) for the packed queries ``q`` (H, T, D), keys/values (Hkv, T, D)."""
        out = torch.empty_like(q)
        contexts: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        for g in self.groups:
            qg, kg, vg = q[:, g.a:g.b], k[:, g.a:g.b], v[:, g.a:g.b]
            lse, o = _own(qg, kg, vg, g, scale, window, softcap)
            if g.parent is not None:
                if id(g.parent) not in contexts:
                    contexts[id(g.parent)] = self.store.context(g.parent, layer, window)
                ck, cv = contexts[id(g.parent)]
                lse1, o1 = _shared(qg, ck, cv, g, scale, window, softcap)
                both = torch.logaddexp(lse, lse1)
                o = torch.exp(lse - both)[..., None] * o + torch.exp(lse1 - both)[..., None] * o1
            out[:, g.a:g.b] = o.to(q.dtype)
            for n in g.nodes:
                if n.children or self.keep:
                    at = self.offsets[id(n)]
                    self.store.put(n, layer, k[:, at:at + len(n)], v[:, at:at + len(n)], window)
        return out


def _similar_lengths(nodes: list[Node], slack: float = 1.25) -> list[list[Node]]:
    """Split siblings into runs of similar length (longest first), so that padding each run to its
    longest node adds at most ``slack - 1`` of its tokens."""
    parts: list[list[Node]] = []
    for n in sorted(nodes, key=len, reverse=True):
        if parts and len(parts[-1][0]) * (len(parts[-1]) + 1) <= slack * (sum(map(len, parts[-1])) + len(n)):
            parts[-1].append(n)
        else:
            parts.append([n])
    return parts


def _scores(q: torch.Tensor, k: torch.Tensor, scale: float, softcap: float | None) -> torch.Tensor:
    s = torch.matmul(q, k.transpose(-1, -2)).float()
    if softcap:
        return torch.tanh(s * (scale / softcap)) * softcap
    return s.mul_(scale)


def _softmax_parts(s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-sum-exp and normalised output of masked scores ``s`` (-inf = masked). Every row here
    has at least one key: a node's own part always holds the diagonal, and the shared part is only
    computed for queries that can see the chain."""
    lse = torch.logsumexp(s, dim=-1)
    # in place, unless gradients flow through (logsumexp's backward reads ``s``)
    p = torch.exp(s - lse[..., None] if torch.is_grad_enabled() else s.sub_(lse[..., None]))
    return lse, torch.matmul(p.to(v.dtype), v).float()


def _own(q, k, v, g: _Group, scale, window, softcap):
    """Causal attention of each node's tokens to its own tokens, nodes padded to ``g.smax``, in query
    blocks of :data:`BLOCK` that see only the keys they may attend to (the causal triangle and a
    sliding window's band are skipped, not computed and masked)."""
    h, _, d = q.shape
    hkv = k.shape[0]
    rep, n, s = h // hkv, len(g.nodes), g.smax
    if n == 1:
        qs, ks, vs = q.reshape(hkv, 1, rep, s, d), k[:, None], v[:, None]
    else:
        qs = q[:, g.grid].reshape(hkv, rep, n, s, d).permute(0, 2, 1, 3, 4)  # (hkv, n, rep, s, d)
        ks, vs = k[:, g.grid], v[:, g.grid]  # (hkv, n, s, d)
    lse = torch.empty(hkv, n, rep, s, device=q.device)
    o = torch.empty(hkv, n, rep, s, d, device=q.device)
    idx = torch.arange(s, device=q.device)
    for qa in range(0, s, BLOCK):
        qb = min(s, qa + BLOCK)
        ka = max(0, qa - window + 1) if window else 0
        sc = _scores(qs[:, :, :, qa:qb], ks[:, :, None, ka:qb], scale, softcap)  # (hkv, n, rep, c, keys)
        rel = idx[qa:qb, None] - idx[None, ka:qb]
        hidden = rel < 0 if not window else (rel < 0) | (rel >= window)
        sc.masked_fill_(hidden, -math.inf)
        lse[..., qa:qb], o[..., qa:qb, :] = _softmax_parts(sc, vs[:, :, None, ka:qb])
    if n == 1:
        return lse.reshape(h, s), o.reshape(h, s, d)
    # back to packed order: (h, t)
    lse = lse.permute(0, 2, 1, 3).reshape(h, n * s)[:, g.flat]
    o = o.permute(0, 2, 1, 3, 4).reshape(h, n * s, d)[:, g.flat]
    return lse, o


def _shared(q, ck, cv, g: _Group, scale, window, softcap):
    """Attention of the group's packed queries to the parent chain's keys ``ck`` (Hkv, C, D): one
    matrix product for all siblings. In a sliding layer only a node's first ``window - 1`` tokens
    can see the chain, and only they are computed."""
    h, t, d = q.shape
    hkv, c = ck.shape[0], ck.shape[1]
    rep = h // hkv
    lse = torch.full((h, t), -math.inf, device=q.device)
    o = torch.zeros(h, t, d, device=q.device)
    rows = torch.nonzero(g.in_node < window - 1, as_tuple=True)[0] if window else None
    sub = q if rows is None else q[:, rows]
    n = sub.shape[1]
    if n == 0:
        return lse, o
    qh = sub.reshape(hkv, rep, n, d)
    ll = torch.empty(hkv, rep, n, device=q.device)
    oo = torch.empty(hkv, rep, n, d, device=q.device)
    step = max(1, min(n, CHUNK_ELEMENTS // max(1, h * c)))
    pos = (g.start - c) + torch.arange(c, device=q.device)  # absolute positions of the chain's keys
    for qa in range(0, n, step):
        qb = min(n, qa + step)
        sc = _scores(qh[:, :, qa:qb], ck[:, None], scale, softcap)  # (hkv, rep, c_q, C)
        if window:  # a query at offset i of a node starting at S sees chain positions > S + i - window
            offs = g.in_node[rows[qa:qb]]
            sc.masked_fill_(pos[None, :] <= (g.start + offs[:, None] - window), -math.inf)
        ll[:, :, qa:qb], oo[:, :, qa:qb] = _softmax_parts(sc, cv[:, None])
    if rows is None:
        return ll.reshape(h, t), oo.reshape(h, t, d)
    lse[:, rows], o[:, rows] = ll.reshape(h, n), oo.reshape(h, n, d)
    return lse, o


def packed_attention_forward(module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                             attention_mask=None, dropout: float = 0.0, scaling: float | None = None,
                             sliding_window: int | None = None, softcap: float | None = None, **_):
    """The ``AttentionInterface`` entry: (1, H, T, D) queries -> (1, T, H, D) outputs."""
    batch = _ACTIVE.get()
    if batch is None:
        raise RuntimeError("whyllm's packed attention runs only inside packed_attention()")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = batch.attend(module.layer_idx, query[0], key[0], value[0], scale, sliding_window, softcap)
    return out.transpose(0, 1).unsqueeze(0), None


def register() -> None:
    """Make :data:`NAME` a transformers attention implementation (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_attention_forward)


@contextlib.contextmanager
def packed_attention(model: torch.nn.Module, batch: PackedBatch) -> Iterator[None]:
    """Within the block, ``model``'s attention layers attend as ``batch`` says."""
    config = model.config
    before = config._attn_implementation
    token = _ACTIVE.set(batch)
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before
        _ACTIVE.reset(token)
