"""Scoring many perturbed prompts under many neuron clamps, cheaply.

Neurons are read and enforced at the *last prompt position* only, so everything before it is the
same under every clamp. :class:`NeuronRunner` therefore runs the prompts' heads (all tokens but the
last) once, through the scorer's plan (:meth:`~whyllm.models.white_box.WhiteBox.prefill`: a prefix
tree over the heads, so that perturbed prompts that begin alike share their computation, in
token-bounded batches), keeps their keys and values, and every later call with another clamp runs
only each row's tail (the last prompt token and the target's tokens) packed on top of them. A plain
mode (whole padded rows every call) serves models without the packed path and checks the fast mode
(they agree to float32 precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from whyllm.cost import CostMeter
from whyllm.models.base import require_white_box
from whyllm.neurons.hooks import Clamp, NeuronHooks
from whyllm.neurons.sites import Sites
from whyllm.targets import Decision, Target


@dataclass
class RunResult:
    """Per prompt: the target value, whether the decision holds, a margin that is > 0 exactly when
    it holds, and optionally every neuron's activation and d margin / d activation."""

    values: np.ndarray
    holds: np.ndarray
    margins: np.ndarray
    acts: np.ndarray | None = None
    grads: np.ndarray | None = None

    @property
    def precision(self) -> float:
        return float(self.holds.mean()) if len(self.holds) else float("nan")


class _Chunk:
    """A batch of prompts (``first`` is the index of its first): its rows (prompt + continuation
    head), and the packed batch of their tails once it is made."""

    def __init__(self, prompts: Sequence[tuple[int, ...]], target: Target, first: int = 0) -> None:
        self.prompts, self.first = list(prompts), first
        rows: list[tuple[int, ...]] = []
        self.row_prompt: list[int] = []
        self.reads: list[list[tuple[int, int, tuple[int, ...]]]] = []  # per prompt: (row, start, cont)
        for j, p in enumerate(self.prompts):
            mine: dict[tuple[int, ...], int] = {}
            reads = []
            for cont in target.ids:
                seq = p + cont[:-1]
                if seq not in mine:
                    mine[seq] = len(rows)
                    rows.append(seq)
                    self.row_prompt.append(j)
                reads.append((mine[seq], len(p) - 1, cont))
            self.reads.append(reads)
        self.rows = rows
        self.first_row = [reads[0][0] for reads in self.reads]
        self.packed = None

    def tails(self) -> list[tuple[int, tuple[int, ...]]]:
        """(prompt index, its last token and the continuation head) of every row: what runs after
        the prompt's head, under the clamps."""
        return [(self.first + j, seq[len(self.prompts[j]) - 1:])
                for j, seq in zip(self.row_prompt, self.rows)]


class NeuronRunner:
    """Runs ``prompts`` (token ids, BOS included) with the target's continuations under clamps."""

    def __init__(self, lm, sites: Sites, target: Target, decision: Decision,
                 prompts: Sequence[tuple[int, ...]], meter: CostMeter | None = None, batch_size: int = 32,
                 reuse_prefix: bool = True) -> None:
        self.box = require_white_box(lm, "neuron explanations")
        self.sites, self.target, self.decision = sites, target, decision
        self.meter = meter if meter is not None else CostMeter()
        self.prompts, self.n, self.batch_size = list(prompts), len(prompts), batch_size
        self.reuse_prefix = reuse_prefix and min(len(p) for p in prompts) >= 2
        self._prefix = None
        self._chunks: list[_Chunk] | None = None

    # --- the plan ---------------------------------------------------------------------------
    @property
    def chunks(self) -> list[_Chunk]:
        """Padded batches of ``batch_size`` prompts for whole rows; for tails over the heads stored
        by the scorer's plan (``reuse_prefix``), batches of at most the scorer's token budget."""
        if self._chunks is not None:
            return self._chunks
        if self.reuse_prefix and self._prefix is None:
            self._prefix = self.box.prefill([p[:-1] for p in self.prompts], self.meter)
            self.reuse_prefix = self._prefix is not None
        if not self.reuse_prefix:
            size = self.batch_size
            self._chunks = [_Chunk(self.prompts[i:i + size], self.target, i) for i in range(0, self.n, size)]
            return self._chunks
        per_prompt = 1 + max(len(c) for c in self.target.ids) - 1  # the tail tokens of one row, at most
        rows_per_prompt = len(self.target.ids)
        size = max(1, self.box.max_batch_tokens // max(1, per_prompt * rows_per_prompt))
        self._chunks = [_Chunk(self.prompts[i:i + size], self.target, i) for i in range(0, self.n, size)]
        return self._chunks

    # --- one chunk -------------------------------------------------------------------------
    def _hidden(self, chunk: _Chunk, clamp: Clamp | None, record: bool, grad: bool):
        """Hidden states, and for each row where it is held and where its last prompt token is."""
        starts = [len(chunk.prompts[j]) - 1 for j in chunk.row_prompt]
        if clamp is not None:
            clamp = clamp.rows(np.asarray(chunk.row_prompt)) if clamp.values.ndim == 2 else clamp
        if self.reuse_prefix:
            if chunk.packed is None:
                chunk.packed = self.box.pack(self._prefix, chunk.tails())
            packed = chunk.packed
            row_ids = torch.zeros(len(chunk.rows), dtype=torch.long)
            offsets = torch.tensor(packed.starts, dtype=torch.long)
            hooks = NeuronHooks(self.box, self.sites, (row_ids, offsets), clamp, record, grad)
            with hooks:
                hidden = self.box.forward_packed(packed)
            self.meter.tokens += packed.length
        else:
            width = max(len(r) for r in chunk.rows)
            ids, mask = self.box.pad(chunk.rows, width)
            row_ids, offsets = torch.arange(len(chunk.rows)), torch.tensor(starts)
            hooks = NeuronHooks(self.box, self.sites, offsets, clamp, record, grad)
            with hooks:
                hidden = self.box.forward(ids=ids, attention_mask=mask).hidden
            self.meter.tokens += sum(len(r) for r in chunk.rows)
        self.meter.forward_passes += 1
        self.meter.sequences += len(chunk.rows)
        return hidden, row_ids, offsets, hooks

    def _margins(self, chunk: _Chunk, hidden: torch.Tensor, row_ids: torch.Tensor, offsets: torch.Tensor):
        """(values, margins) per prompt of the chunk, as differentiable tensors.

        All read positions go through the output layer in one product (one pass over its weight);
        a difference of one-token continuations (a contrast) needs only those rows of it, since
        log p(a) - log p(b) = logit(a) - logit(b) there.
        """
        rows, pos, toks, owner = [], [], [], []
        for j, reads in enumerate(chunk.reads):
            for r, (row, _, cont) in enumerate(reads):
                for t, tok in enumerate(cont):
                    rows.append(int(row_ids[row]))
                    pos.append(int(offsets[row]) + t)
                    toks.append(tok)
                    owner.append((j, r))
        h = hidden[torch.tensor(rows), torch.tensor(pos)]
        n_prompts, n_conts = len(chunk.reads), len(self.target.ids)
        sums = [[[] for _ in range(n_conts)] for _ in range(n_prompts)]
        tops = [[[] for _ in range(n_conts)] for _ in range(n_prompts)]
        signs = self.target.signs
        if len(signs) == 2 and sum(signs) == 0 and all(len(c) == 1 for c in self.target.ids):
            both = torch.tensor([c[0] for c in self.target.ids])
            logits = self.box.token_logits(h, both).float()  # (reads, 2)
            for k, (j, r) in enumerate(owner):
                sums[j][r].append(logits[k, r])
        else:
            logits = self.box.logits(h).float()
            toks_t = torch.tensor(toks)
            lp = torch.log_softmax(logits, dim=-1)[torch.arange(len(toks)), toks_t]
            own = logits[torch.arange(len(toks)), toks_t]
            rival = logits.scatter(1, toks_t[:, None], float("-inf")).max(dim=-1).values
            for k, (j, r) in enumerate(owner):
                sums[j][r].append(lp[k])
                tops[j][r].append(own[k] - rival[k])
        lp_sum = torch.stack([torch.stack([torch.stack(c).sum() for c in per]) for per in sums])
        values = lp_sum[:, 0] if len(signs) == 1 else sum(s * lp_sum[:, i] for i, s in enumerate(signs))
        d = self.decision
        if d.kind == "sign":
            margins = values * d.sign
        elif d.kind == "threshold":
            margins = values - d.threshold
        else:
            margins = torch.stack([torch.stack(per[0]).min() for per in tops])
        return values, margins

    # --- public ----------------------------------------------------------------------------
    def run(self, clamp: Clamp | None = None, record: bool = False, grad: bool = False) -> RunResult:
        """Score every prompt with ``clamp`` enforced; ``record``/``grad`` also return activations and
        d margin / d activation of every neuron at the last prompt position."""
        values, margins, acts, grads = [], [], [], []
        done = 0
        for chunk in self.chunks:
            ctx = torch.enable_grad() if grad else torch.no_grad()
            with torch.inference_mode(False), ctx:
                hidden, row_ids, offsets, hooks = self._hidden(chunk, clamp, record or grad, grad)
                v, m = self._margins(chunk, hidden, row_ids, offsets)
                if grad:
                    per_site = [hooks.records[si] for si in range(len(self.sites))]
                    g = torch.autograd.grad(m.sum(), per_site, allow_unused=True)
                    g = torch.cat([torch.zeros_like(a) if gi is None else gi
                                   for a, gi in zip(per_site, g)], 1)
                    # rows of one prompt share the last-position activations: their gradients add up
                    summed = torch.zeros(len(chunk.prompts), g.shape[1]).index_add_(
                        0, torch.tensor(chunk.row_prompt), g.detach().float().cpu())
                    grads.append(summed.numpy())
                if record or grad:
                    acts.append(hooks.recorded().detach()[chunk.first_row].float().cpu().numpy())
            values.append(v.detach().double().numpy())
            margins.append(m.detach().double().numpy())
            done += len(chunk.prompts)
        margins_all = np.concatenate(margins)
        return RunResult(np.concatenate(values), margins_all > 0, margins_all,
                         np.concatenate(acts) if acts else None, np.concatenate(grads) if grads else None)

