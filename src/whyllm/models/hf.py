"""The ``hf`` backend: a local transformers causal LM on the CPU.

The hot path (:meth:`HFModel._score_batch`) follows three rules:

* rows that need the same input sequence share one row (``' positive'`` and ``' negative'`` after the
  same prompt are read from one forward pass);
* the token prefix shared by every request of a ``score`` call (a template's fixed head, a
  few-shot block) runs once and its key/value cache is reused by every batch, and by later calls;
  a batch whose rows share a longer prefix encodes that one when it saves tokens;
* the output layer (262k x 640 for Gemma 3) is applied only at continuation positions.

A probe at load time checks this fast path against a plain ``model(input_ids)`` forward and falls
back to the plain path for architectures where it disagrees.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from whyllm.cost import CostMeter
from whyllm.errors import ModelError
from whyllm.models.base import Encoding, LanguageModel, ScoreRequest, common_prefix_len
from whyllm.models.cache import ScoreCache
from whyllm.models.tokenizer import hf_encode

log = logging.getLogger(__name__)


class HFModel(LanguageModel):
    """A transformers ``AutoModelForCausalLM`` + fast tokenizer, scored in float32 on the CPU."""

    backend = "hf"

    def __init__(self, model: torch.nn.Module, tokenizer, model_id: str, revision: str,
                 batch_size: int = 32, cache: ScoreCache | None = None, probe: bool = True) -> None:
        max_ctx = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        super().__init__(model_id, revision, max_ctx, batch_size=batch_size, cache=cache)
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError("whyllm needs a fast tokenizer (character offsets) for this model")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._prefix_cache: dict[tuple[int, ...], object] = {}
        self._fast_path = True
        self.reuse_prefix = True  # switch off only to measure what prefix reuse saves
        if probe:
            self._fast_path = self._probe_fast_path()

    # --- tokenizer -------------------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        return hf_encode(self.tokenizer, text, add_special_tokens)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    # --- network ---------------------------------------------------------------------------
    def _logits_from_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.model.get_output_embeddings()(hidden)
        cap = getattr(self.model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def _prefix_state(self, prefix: tuple[int, ...], meter: CostMeter):
        """Key/value cache of ``prefix`` (batch 1), computed once and kept for later batches."""
        if prefix not in self._prefix_cache:
            out = self.model.base_model(input_ids=torch.tensor([prefix]), use_cache=True)
            meter.forward_passes += 1
            meter.tokens += len(prefix)
            if len(self._prefix_cache) >= 4:
                self._prefix_cache.pop(next(iter(self._prefix_cache)))
            self._prefix_cache[prefix] = out.past_key_values
        return self._prefix_cache[prefix]

    @torch.inference_mode()
    def _score_batch(self, requests: Sequence[ScoreRequest], meter: CostMeter, shared_prefix: int = 0
                     ) -> list[np.ndarray]:
        rows = list(dict.fromkeys(r.prompt + r.continuation[:-1] for r in requests))
        row_of = {seq: i for i, seq in enumerate(rows)}
        prefix_len = self._choose_prefix(rows, requests, shared_prefix) if self._fast_path else 0
        prefix = rows[0][:prefix_len]
        suffixes = [seq[prefix_len:] for seq in rows]
        width = max(len(s) for s in suffixes)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        for i, s in enumerate(suffixes):  # right padding: causal attention never sees the pads
            ids[i, :len(s)] = torch.tensor(s)
        meter.forward_passes += 1
        meter.sequences += len(rows)
        meter.tokens += sum(len(s) for s in suffixes)

        # gather (row, position) of every continuation token of every request
        row_idx, pos_idx, tok_idx, owner = [], [], [], []
        for k, r in enumerate(requests):
            row = row_of[r.prompt + r.continuation[:-1]]
            for j, tok in enumerate(r.continuation):
                row_idx.append(row)
                pos_idx.append(len(r.prompt) - 1 + j - prefix_len)
                tok_idx.append(tok)
                owner.append(k)
        rows_t, pos_t = torch.tensor(row_idx), torch.tensor(pos_idx)
        if self._fast_path:
            past = None
            if prefix_len:
                past = copy.deepcopy(self._prefix_state(prefix, meter))
                past.batch_repeat_interleave(len(rows))
            hidden = self.model.base_model(input_ids=ids, past_key_values=past, use_cache=past is not None
                                           ).last_hidden_state
            logits = self._logits_from_hidden(hidden[rows_t, pos_t])
        else:
            logits = self.model(input_ids=ids).logits[rows_t, pos_t]
        all_logprobs = torch.log_softmax(logits.float(), dim=-1)
        values = all_logprobs[torch.arange(len(tok_idx)), torch.tensor(tok_idx)].double().numpy()
        best = all_logprobs.max(dim=-1).values.double().numpy()
        out: list[list[float]] = [[] for _ in requests]
        tops: list[list[float]] = [[] for _ in requests]
        for k, v, b in zip(owner, values, best):
            out[k].append(float(v))
            tops[k].append(float(b))
        return [np.asarray(v + t if r.top else v, dtype=np.float64) for v, t, r in zip(out, tops, requests)]

    def _choose_prefix(self, rows, requests, shared: int) -> int:
        """Prefix to encode once for this batch: the batch's own common prefix when it is cached or
        saves more tokens than its own pass costs, else the prefix shared by the whole call (cached
        after its first batch). It never reaches the first position whose logits are needed."""
        if not self.reuse_prefix:
            return 0
        own = common_prefix_len(rows, limit=min(len(r.prompt) for r in requests) - 1)
        shared = min(shared, own)
        if rows[0][:own] in self._prefix_cache or len(rows) * (own - shared) > own:
            return own
        return shared

    @torch.inference_mode()
    def _top_next_tokens(self, prefixes, k: int, meter: CostMeter) -> list[list[int]]:
        out = []
        for start in range(0, len(prefixes), self.batch_size):
            chunk = [tuple(p) for p in prefixes[start:start + self.batch_size]]
            width = max(len(p) for p in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            for i, p in enumerate(chunk):
                ids[i, :len(p)] = torch.tensor(p)
            rows, last = torch.arange(len(chunk)), torch.tensor([len(p) - 1 for p in chunk])
            if self._fast_path:
                hidden = self.model.base_model(input_ids=ids).last_hidden_state
                logits = self._logits_from_hidden(hidden[rows, last])
            else:
                logits = self.model(input_ids=ids).logits[rows, last]
            out.extend(logits.topk(k, dim=-1).indices.tolist())
            meter.forward_passes += 1
            meter.sequences += len(chunk)
            meter.tokens += sum(len(p) for p in chunk)
        return out

    def plain_logprobs(self, prompt: Sequence[int], continuation: Sequence[int]) -> np.ndarray:
        """Reference path: one unbatched ``model(input_ids)`` forward, no cache or tricks."""
        seq = list(prompt) + list(continuation[:-1])
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([seq])).logits[0].float()
        lp = torch.log_softmax(logits, dim=-1)
        start = len(prompt) - 1
        return np.asarray([lp[start + j, t].item() for j, t in enumerate(continuation)], dtype=np.float64)

    def _probe_fast_path(self) -> bool:
        """alibi-style fail-fast probe: the fast path must agree with a plain forward."""
        probe = self.encode("The quick brown fox jumps over the lazy dog").ids
        reqs = [ScoreRequest(probe[:5], probe[5:8]), ScoreRequest(probe[:7], probe[7:9])]
        try:
            fast = self._score_batch(reqs, CostMeter())
        except Exception as exc:  # architecture without the pieces the fast path uses
            log.warning("fast scoring path unavailable (%s); using plain forwards", exc)
            return False
        finally:
            self._prefix_cache.clear()
        ok = all(np.allclose(f, self.plain_logprobs(r.prompt, r.continuation), atol=1e-4)
                 for f, r in zip(fast, reqs))
        if not ok:
            log.warning("fast scoring path disagrees with a plain forward; using plain forwards")
        return ok

    @torch.inference_mode()
    def generate(self, prompt: Sequence[int], max_new_tokens: int, stop_at_newline: bool = True
                 ) -> tuple[int, ...]:
        eos = self.tokenizer.eos_token_id
        seq = list(prompt)
        past = None
        new: list[int] = []
        inp = torch.tensor([seq])
        for _ in range(max_new_tokens):
            out = self.model(input_ids=inp, past_key_values=past, use_cache=True, logits_to_keep=1)
            past = out.past_key_values
            tok = int(out.logits[0, -1].argmax())
            if tok == eos or (stop_at_newline and new and "\n" in self.decode([tok])):
                break
            new.append(tok)
            inp = torch.tensor([[tok]])
        return tuple(new)


def load_hf(path: str | Path, batch_size: int = 32, cache: ScoreCache | None = None,
            model_id: str | None = None, revision: str | None = None) -> HFModel:
    """Load a local transformers model directory (float32, CPU)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a transformers model directory (no config.json)")
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a float32 copy loads in seconds; no bar needed
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
    except Exception as exc:
        raise ModelError(f"cannot load the model at {path}: {exc}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return HFModel(model, tokenizer, model_id or path.name, revision or _dir_revision(path),
                   batch_size=batch_size, cache=cache)


def _dir_revision(path: Path) -> str:
    import hashlib

    h = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()[:16]
