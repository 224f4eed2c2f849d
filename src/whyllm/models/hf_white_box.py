"""The ``hf`` backend's :class:`~whyllm.models.white_box.WhiteBox`: a transformers causal LM's body,
head, embeddings, MLP blocks and attention, reached through transformers' public model API."""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import torch

from whyllm.errors import ModelError
from whyllm.models.plan import Node, PrefixTree, Schedule
from whyllm.models.score_request import ScoreRequest
from whyllm.models.tail_attention import TailBatch
from whyllm.models.tree_attention import KVStore, PackedBatch, packed_attention
from whyllm.models.white_box import Forward, Packed, Prefix, WhiteBox

_MLP_NAME = re.compile(r"(?:^|\.)layers\.(\d+)\.mlp$")


def cache_argument(model: torch.nn.Module) -> str:
    """The name a model's ``forward`` takes its key/value cache under: ``cache`` from transformers
    5.2x on (``past_key_values`` is deprecated there, to go in 5.40), ``past_key_values`` before."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def returned_cache(output):
    """The key/value cache a forward returned, under either name."""
    found = getattr(output, "cache", None)
    return found if found is not None else getattr(output, "past_key_values", None)


def softcapped(network: torch.nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """``logits`` through the model's final-logit softcapping (Gemma's), if it has one."""
    cap = getattr(network.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits


def head_logits(network: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The output layer of a transformers causal LM at ``hidden``, final-logit softcapping included."""
    return softcapped(network, network.get_output_embeddings()(hidden))


class TreePrefix(Prefix):
    """Heads run through a :class:`~whyllm.models.plan.PrefixTree`; ``ends[i]`` is the node where
    head ``i`` ends, and ``store`` keeps every node's keys and values."""

    def __init__(self, tree: PrefixTree, store: KVStore, ends: list[Node]) -> None:
        self.tree, self.store, self.ends = tree, store, ends


class PackedTails(Packed):
    def __init__(self, batch: TailBatch, starts: list[int]) -> None:
        self.batch, self.starts, self.length = batch, starts, batch.length


def node_ending(tree: PrefixTree, row: tuple[int, ...]) -> Node:
    """The node of ``tree`` at whose end ``row`` ends (each inserted row ends at a node's end)."""
    node, depth = tree.root, 0
    while depth < len(row):
        node = next(c for c in node.children if c.tokens == row[depth:depth + len(c)])
        depth += len(node)
    return node


class HFWhiteBox(WhiteBox):
    """White-box access to a transformers ``AutoModelForCausalLM`` (``network``); ``packed`` says
    whether the scorer's packed prefix-tree path holds for it (probed at load), ``max_batch_tokens``
    the scorer's token budget per forward."""

    def __init__(self, network: torch.nn.Module, pad_id: int, eos_id: int | None, packed: bool = False,
                 max_batch_tokens: int = 2048) -> None:
        self.network = network
        self.device = next(network.parameters()).device
        self.pad_id, self.eos_id = pad_id, eos_id
        self.packed, self.max_batch_tokens = packed, max_batch_tokens
        self._cache_arg = cache_argument(network)

    def prefill(self, heads, meter) -> TreePrefix | None:
        if not self.packed or not heads or min(len(h) for h in heads) < 1:
            return None
        rows = [tuple(int(t) for t in h) for h in heads]
        # rows as they are (a continuation token only marks the row); nothing folded, so that every
        # head ends at a node's end
        tree = PrefixTree([ScoreRequest(r, (0,)) for r in rows], max_segment=self.max_batch_tokens,
                          min_saved=0)
        store = KVStore()
        with torch.no_grad():
            schedule = Schedule(tree, self.max_batch_tokens)
            for batch in schedule:
                packed = PackedBatch(batch, store, self.device, keep=True)
                with packed_attention(self.network, packed):
                    self.network.base_model(input_ids=packed.ids, position_ids=packed.positions,
                                            use_cache=False)
                schedule.done(batch)
                meter.forward_passes += 1
                meter.tokens += packed.length
        return TreePrefix(tree, store, [node_ending(tree, r) for r in rows])

    def pack(self, prefix: TreePrefix, tails) -> PackedTails:
        nodes = []
        for head, tokens in tails:
            end = prefix.ends[head]
            nodes.append(Node(end.end, tuple(int(t) for t in tokens), end))
        batch = TailBatch(nodes, prefix.store, self.device)
        return PackedTails(batch, [batch.offsets[id(n)] for n in nodes])

    def forward_packed(self, packed: PackedTails) -> torch.Tensor:
        with packed_attention(self.network, packed.batch):
            return self.network.base_model(input_ids=packed.batch.ids, position_ids=packed.batch.positions,
                                           use_cache=False).last_hidden_state

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.network.get_input_embeddings()(ids.to(self.device))

    @property
    def embedding_layer(self) -> torch.nn.Module:
        return self.network.get_input_embeddings()

    def forward(self, *, ids=None, embeds=None, attention_mask=None, position_ids=None, cache=None,
                use_cache=False, attentions=False) -> Forward:
        kwargs: dict[str, Any] = {"use_cache": use_cache or cache is not None}
        if cache is not None:
            kwargs[self._cache_arg] = cache
        if attentions:
            kwargs["output_attentions"] = True
        out = self.network.base_model(input_ids=ids, inputs_embeds=embeds, attention_mask=attention_mask,
                                      position_ids=position_ids, **kwargs)
        return Forward(out.last_hidden_state, returned_cache(out), out.attentions if attentions else None)

    @property
    def n_layers(self) -> int:
        return int(self.network.config.get_text_config().num_hidden_layers)

    def layer_states(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.network(input_ids=ids.to(self.device), output_hidden_states=True, use_cache=False)
        return tuple(out.hidden_states)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return head_logits(self.network, hidden)

    def token_logits(self, hidden: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        head = self.network.get_output_embeddings()
        logits = hidden @ head.weight[tokens].T
        if getattr(head, "bias", None) is not None:
            logits = logits + head.bias[tokens]
        return softcapped(self.network, logits)

    def mlp_blocks(self) -> list[tuple[int, torch.nn.Linear]]:
        found = []
        for name, module in self.network.named_modules():
            match = _MLP_NAME.search(name)
            proj = getattr(module, "down_proj", None)
            if match and isinstance(proj, torch.nn.Linear):
                found.append((int(match.group(1)), proj))
        if not found:
            raise ModelError("no MLP neurons found: whyllm.neurons needs a model whose blocks are "
                             "'layers.<l>.mlp' with a 'down_proj' projection (Gemma, Llama, Qwen, Mistral)")
        return sorted(found, key=lambda x: x[0])

    @property
    def sliding_window(self) -> int | None:
        return getattr(self.network.config, "sliding_window", None) or None

    def crop_cache(self, cache, length: int) -> None:
        extra = cache.get_seq_length() - length
        if extra > 0:
            cache.crop(-extra)

    @contextlib.contextmanager
    def eager_attention(self) -> Iterator[None]:
        previous = getattr(self.network.config, "_attn_implementation", None)
        self.network.set_attn_implementation("eager")
        try:
            yield
        finally:
            if previous:
                self.network.set_attn_implementation(previous)
