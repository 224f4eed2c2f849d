"""The white-box capability of a local model: what gradients, attention, neurons and steering may use.

A backend declares it by returning a :class:`WhiteBox` from
:meth:`~whyllm.models.base.LanguageModel.white_box` (the ``hf`` backend does; served models return
None). Code above ``models`` reaches a network only through this interface: hidden states, the output
layer at chosen positions, input embeddings, MLP blocks and attention weights, and forward hooks held
by a context manager that removes them whatever happens. Nothing outside ``models`` names a
transformers attribute or a private method of a backend, so a second local backend (a GGUF runtime
with tensor access, say) is one class here.

The interface follows captum's and inseq's split between a model wrapper and the attribution
methods (Kokhlikyan et al. 2020, "Captum: A unified and generic model interpretability library for
PyTorch"; Sarti et al. 2023, "Inseq: An Interpretability Toolkit for Sequence Generation Models"),
with the output layer exposed per position because a 262k-token vocabulary costs more than the body.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Forward:
    """What one forward pass of the body returns: the last hidden states (batch, length, dim), the
    key/value cache when one was asked for, and the attention weights when asked for."""

    hidden: torch.Tensor
    cache: Any = None
    attentions: tuple[torch.Tensor, ...] | None = None


class Prefix:
    """Heads computed by :meth:`WhiteBox.prefill`, whose keys and values stay for later rows."""


class Packed:
    """A batch of rows continuing stored heads, packed into one sequence: ``starts[i]`` is where row
    ``i`` begins in it, ``length`` its token count."""

    starts: list[int]
    length: int


class WhiteBox(ABC):
    """Tensor access to a local causal language model."""

    device: torch.device
    pad_id: int
    eos_id: int | None
    max_batch_tokens: int = 2048  # tokens per forward of the scorer's plan

    @abstractmethod
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (batch, length, dim) of token ids (batch, length)."""

    @property
    @abstractmethod
    def embedding_layer(self) -> torch.nn.Module:
        """The module that maps token ids to input embeddings (to hook its output)."""

    @abstractmethod
    def forward(self, *, ids: torch.Tensor | None = None, embeds: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                cache: Any = None, use_cache: bool = False, attentions: bool = False) -> Forward:
        """Run the body (no output layer) on ids or embeddings; ``cache`` continues a cached head."""

    @property
    @abstractmethod
    def n_layers(self) -> int:
        """How many transformer blocks the body has."""

    @abstractmethod
    def layer_states(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Hidden states (batch, length, dim) after each block, index 0 the input embeddings."""

    @abstractmethod
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output layer at the given hidden states (..., dim) -> (..., vocabulary), as the
        model's own head computes it (softcapping included)."""

    @abstractmethod
    def token_logits(self, hidden: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The logits of ``tokens`` only (..., len(tokens)): the head's rows for them."""

    @abstractmethod
    def mlp_blocks(self) -> list[tuple[int, torch.nn.Linear]]:
        """(layer, down projection) of every MLP block, in layer order: the input of the down
        projection holds the block's neurons."""

    @property
    @abstractmethod
    def sliding_window(self) -> int | None:
        """The shortest attention window of any layer, None when every layer sees everything."""

    @abstractmethod
    def crop_cache(self, cache: Any, length: int) -> None:
        """Cut a key/value cache back to its first ``length`` positions."""

    @contextlib.contextmanager
    def hooks(self, pre: Sequence[tuple[torch.nn.Module, Callable]] = (),
              post: Sequence[tuple[torch.nn.Module, Callable]] = ()) -> Iterator[None]:
        """Forward pre-hooks and forward hooks on the network's modules for the ``with`` block; they
        are removed when it ends, also on errors."""
        handles = []
        try:
            for module, fn in pre:
                handles.append(module.register_forward_pre_hook(fn))
            for module, fn in post:
                handles.append(module.register_forward_hook(fn))
            yield
        finally:
            for handle in handles:
                handle.remove()

    @abstractmethod
    def eager_attention(self) -> contextlib.AbstractContextManager[None]:
        """A context in which the attention weights can be returned (eager attention)."""

    def prefill(self, heads: Sequence[Sequence[int]], meter) -> Prefix | None:
        """Run ``heads`` once through the scorer's plan (a prefix tree over them, token-bounded
        batches, shared heads computed once) and keep their keys and values, for :meth:`pack`'s rows
        to continue under many interventions; None where the backend has no such path (then callers
        run whole rows)."""
        return None

    def pack(self, prefix: Prefix, tails: Sequence[tuple[int, Sequence[int]]]) -> Packed:
        """One packed batch of ``tails`` (head index, tokens that follow that head)."""
        raise NotImplementedError

    def forward_packed(self, packed: Packed) -> torch.Tensor:
        """Hidden states (1, tokens, dim) of a packed batch; tail ``i`` starts at ``packed.starts[i]``."""
        raise NotImplementedError

    def pad(self, rows: Sequence[Sequence[int]], width: int | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded ids (rows, width) and their attention mask, on the model's device."""
        width = max(len(r) for r in rows) if width is None else width
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(list(row), dtype=torch.long)
            mask[i, :len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

