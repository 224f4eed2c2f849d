"""The ``hf`` backend: a local transformers causal LM on the CPU or a GPU, in float32 or bfloat16.

Scoring runs the prefix tree of :mod:`whyllm.models.plan` (rows that share a head share its
key/value state; batches bounded by tokens; long rows prefilled in chunks) through the packed
attention of :mod:`whyllm.models.tree_attention`. The output layer (262k x 640 for Gemma 3, more
arithmetic per position than the whole body) is applied only at the positions whose log-probs are
asked for, a few at a time. A probe at load time checks the packed path against a plain
``model(input_ids)`` forward; an architecture where it disagrees (or whose attention does not go
through transformers' ``AttentionInterface``) is scored row by row in token-bounded, length-sorted
batches instead.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from whyllm.cost import CostMeter
from whyllm.errors import ModelError
from whyllm.models.base import LanguageModel, ScoreRequest
from whyllm.models.cache import ScoreCache
from whyllm.models.fingerprint import weights_fingerprint
from whyllm.models.hf_white_box import HFWhiteBox, cache_argument, head_logits, returned_cache
from whyllm.models.precision import default_max_batch_tokens
from whyllm.models.tokenizer import TokenizedByHF
from whyllm.models.tree_attention import KVStore, PackedBatch, packed_attention, register

log = logging.getLogger(__name__)
HEAD_CHUNK = 256  # output-layer positions per matrix product (256 x 262k floats = 268 MB)
FLUSH_TOKENS = 1024  # computed tokens after which buffered output positions are read anyway
PROBE_TOLERANCE = 1e-4


class HFModel(TokenizedByHF, LanguageModel):
    """A transformers ``AutoModelForCausalLM`` + fast tokenizer."""

    backend = "hf"
    runs_trees = True

    def __init__(self, model: torch.nn.Module, tokenizer, model_id: str, revision: str,
                 batch_size: int | None = None, cache: ScoreCache | None = None, probe: bool = True,
                 max_batch_tokens: int | None = None) -> None:
        max_ctx = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        super().__init__(model_id, revision, max_ctx, batch_size=batch_size, cache=cache)
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError("whyllm needs a fast tokenizer (character offsets) for this model")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._cache_arg = cache_argument(model)
        self._sync_placement()
        self.max_batch_tokens = int(max_batch_tokens) if max_batch_tokens else default_max_batch_tokens(
            model.config, self.device, torch.finfo(self.dtype).bits // 8)
        if self.max_batch_tokens < 1:
            raise ModelError(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
        self.reuse_prefix = True  # switch off only to measure what sharing heads saves
        self.path = "packed" if _has_attention_interface(model) else "rows"
        if probe and self.path == "packed":
            self.path = self._probe_packed_path()

    def _sync_placement(self) -> None:
        param = next(self.model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.dtype_name = str(self.dtype).removeprefix("torch.")
        self.device_kind = self.device.type

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> HFModel:
        """Move or cast the network in place (its provenance and cache key follow)."""
        self.model.to(device=device, dtype=dtype)
        self._sync_placement()
        return self

    # --- the white box ---------------------------------------------------------------------
    def white_box(self) -> HFWhiteBox:
        """Tensor access for gradients, attention, neurons and steering (:mod:`whyllm.models.white_box`)."""
        return HFWhiteBox(self.model, self.pad_id, self.tokenizer.eos_token_id, packed=self.path == "packed",
                          max_batch_tokens=self.max_batch_tokens)

    def read_logprobs(self, hidden: torch.Tensor, rows: torch.Tensor, tokens: torch.Tensor
                      ) -> tuple[np.ndarray, np.ndarray]:
        """log p(tokens[i]) at hidden row ``rows[i]`` and the largest log-prob there, for ``hidden``
        (N, d). The output layer runs once per distinct row, :data:`HEAD_CHUNK` rows at a time, in
        float32 (a contrast's two continuations are read from one row of logits)."""
        uniq, inverse = torch.unique(rows, return_inverse=True)
        best_all = []
        picks = torch.empty(len(rows), dtype=torch.float64, device="cpu")  # results go to the host
        for a in range(0, len(uniq), HEAD_CHUNK):
            logits = head_logits(self.model, hidden[uniq[a:a + HEAD_CHUNK]]).float()
            lse = torch.logsumexp(logits, dim=-1)
            best_all.append(logits.amax(dim=-1) - lse)
            mine = torch.nonzero((inverse >= a) & (inverse < a + HEAD_CHUNK), as_tuple=True)[0]
            local = inverse[mine] - a
            picks[mine.cpu()] = (logits[local, tokens[mine]] - lse[local]).double().cpu()
        best = torch.cat(best_all).double().cpu()[inverse.cpu()]
        return picks.numpy(), best.numpy()

    # --- scoring ---------------------------------------------------------------------------
    def tree_options(self) -> tuple[bool, int | None]:
        if self.path == "packed":
            return self.reuse_prefix, self.max_batch_tokens
        return False, None  # whole rows, each from position 0

    def _tree_runner(self):
        return contextlib.nullcontext(_PackedRunner(self) if self.path == "packed" else _RowRunner(self))

    @torch.inference_mode()
    def _top_next_tokens(self, prefixes, k: int, meter: CostMeter) -> list[list[int]]:
        """Right-padded plain forwards over length-sorted prefixes, ``max_batch_tokens`` at a time."""
        order = sorted(range(len(prefixes)), key=lambda i: len(prefixes[i]))
        ranked: dict[int, list[int]] = {}
        while order:
            take = 1
            while take < len(order) and (take + 1) * len(prefixes[order[take]]) <= self.max_batch_tokens:
                take += 1
            chunk, order = order[:take], order[take:]
            width = len(prefixes[chunk[-1]])
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long, device=self.device)
            for r, i in enumerate(chunk):
                ids[r, :len(prefixes[i])] = torch.tensor(prefixes[i], dtype=torch.long, device=self.device)
            rows = torch.arange(len(chunk), device=self.device)
            last = torch.tensor([len(prefixes[i]) - 1 for i in chunk], dtype=torch.long, device=self.device)
            hidden = self.model.base_model(input_ids=ids, use_cache=False).last_hidden_state[rows, last]
            for i, top in zip(chunk, head_logits(self.model, hidden).topk(k, dim=-1).indices.tolist()):
                ranked[i] = top
            meter.forward_passes += 1
            meter.sequences += len(chunk)
            meter.tokens += len(chunk) * width
        return [ranked[i] for i in range(len(prefixes))]

    def plain_logprobs(self, prompt: Sequence[int], continuation: Sequence[int]) -> np.ndarray:
        """Reference path: one unbatched ``model(input_ids)`` forward with the model's own attention,
        no cache, no tricks; only the continuation's positions go through the output layer
        (``logits_to_keep``), as any forward that reads k log-probs would do."""
        seq = list(prompt) + list(continuation[:-1])
        k = len(continuation)
        with torch.inference_mode():
            ids = torch.tensor([seq], dtype=torch.long, device=self.device)
            takes_keep = "logits_to_keep" in inspect.signature(self.model.forward).parameters
            keep = {"logits_to_keep": k} if takes_keep else {}
            logits = self.model(input_ids=ids, use_cache=False, **keep).logits[0, -k:].float()
        lp = torch.log_softmax(logits, dim=-1)
        return np.asarray([lp[j, t].item() for j, t in enumerate(continuation)], dtype=np.float64)

    def _probe_packed_path(self) -> str:
        """alibi-style fail-fast probe: shared heads, several groups and a chunked chain must agree
        with plain forwards, else rows are scored one by one."""
        ids = self.encode("The quick brown fox jumps over the lazy dog near the river bank today").ids
        reqs = [ScoreRequest(ids[:6], ids[6:9]), ScoreRequest(ids[:8], ids[8:10], top=True),
                ScoreRequest(ids[:3] + ids[5:9], ids[9:11]), ScoreRequest(ids[:12], ids[12:14])]
        keep = self.max_batch_tokens
        self.max_batch_tokens = 5  # cut rows into chains and spread them over several batches
        try:
            got = {}
            self._score_tree(reqs, got, CostMeter(), False)
        except Exception as exc:  # an architecture without the pieces the packed path uses
            log.warning("packed scoring path unavailable (%s); scoring rows one by one", exc)
            return "rows"
        finally:
            self.max_batch_tokens = keep
        ok = all(np.allclose(got[r][:len(r.continuation)], self.plain_logprobs(r.prompt, r.continuation),
                             atol=PROBE_TOLERANCE) for r in reqs)
        if not ok:
            log.warning("packed scoring path disagrees with a plain forward; scoring rows one by one")
        return "packed" if ok else "rows"

    @torch.inference_mode()
    def generate(self, prompt: Sequence[int], max_new_tokens: int, stop_at_newline: bool = True
                 ) -> tuple[int, ...]:
        eos = self.tokenizer.eos_token_id
        past = None
        new: list[int] = []
        inp = torch.tensor([list(prompt)], dtype=torch.long, device=self.device)
        for _ in range(max_new_tokens):
            out = self.model(input_ids=inp, use_cache=True, logits_to_keep=1, **{self._cache_arg: past})
            past = returned_cache(out)
            tok = int(out.logits[0, -1].argmax())
            if tok == eos or (stop_at_newline and new and "\n" in self.decode([tok])):
                break
            new.append(tok)
            inp = torch.tensor([[tok]], dtype=torch.long, device=self.device)
        return tuple(new)


class _PackedRunner:
    """Runs prefix-tree batches packed into one row, heads' keys/values kept in a :class:`KVStore`.

    The output layer streams its whole weight matrix (671 MB in float32 for Gemma 3) whatever the
    number of positions, so the hidden states of asked-for positions are buffered and read in one
    product once :data:`HEAD_CHUNK` positions or :data:`FLUSH_TOKENS` computed tokens have gathered
    (and at the end): short prompts do not pay the stream per batch, long ones still write their
    scores batch by batch."""

    def __init__(self, lm: HFModel) -> None:
        self.lm, self.store = lm, KVStore()
        self._hidden: list[torch.Tensor] = []
        self._rows: list[torch.Tensor] = []
        self._tokens: list[int] = []
        self._keys: list[tuple[int, int]] = []
        self._buffered, self._since = 0, 0

    @torch.inference_mode()
    def run(self, batch, meter: CostMeter) -> dict[tuple[int, int], tuple[float, float]]:
        lm = self.lm
        packed = PackedBatch(batch, self.store, lm.device)
        with packed_attention(lm.model, packed):
            hidden = lm.model.base_model(input_ids=packed.ids, position_ids=packed.positions,
                                         use_cache=False).last_hidden_state[0]
        meter.tokens += packed.length
        self._since += packed.length
        where = []
        for n in packed.nodes:
            at = packed.offsets[id(n)]
            for o in n.outputs:
                where.append(at + o.offset)
                self._tokens.append(o.token)
                self._keys.append((o.request, o.index))
        if where:
            uniq, inverse = torch.unique(torch.tensor(where, dtype=torch.long, device=lm.device),
                                         return_inverse=True)
            self._rows.append(inverse + self._buffered)
            self._hidden.append(hidden[uniq])
            self._buffered += len(uniq)
        if self._buffered >= HEAD_CHUNK or self._since >= FLUSH_TOKENS:
            return self.flush()
        return {}

    @torch.inference_mode()
    def flush(self) -> dict[tuple[int, int], tuple[float, float]]:
        self._since = 0
        if not self._keys:
            return {}
        lm = self.lm
        hidden, rows = torch.cat(self._hidden), torch.cat(self._rows)
        tokens = torch.tensor(self._tokens, dtype=torch.long, device=lm.device)
        lp, top = lm.read_logprobs(hidden, rows, tokens)
        out = {key: (float(a), float(b)) for key, a, b in zip(self._keys, lp, top)}
        self._hidden, self._rows, self._tokens, self._keys, self._buffered = [], [], [], [], 0
        return out

    def release(self, nodes) -> None:
        self.store.release(nodes)


class _RowRunner:
    """Whole rows, right-padded to the batch's longest (rows come sorted by length), plain forward."""

    def __init__(self, lm: HFModel) -> None:
        self.lm = lm

    @torch.inference_mode()
    def run(self, batch, meter: CostMeter) -> dict[tuple[int, int], tuple[float, float]]:
        lm = self.lm
        width = max(len(n) for n in batch)
        ids = torch.full((len(batch), width), lm.pad_id, dtype=torch.long, device=lm.device)
        for r, n in enumerate(batch):  # right padding: causal attention never sees the pads
            ids[r, :len(n)] = torch.tensor(n.tokens, dtype=torch.long, device=lm.device)
        meter.tokens += len(batch) * width
        rows, cols, toks, keys = [], [], [], []
        for r, n in enumerate(batch):
            for o in n.outputs:
                rows.append(r)
                cols.append(o.offset)
                toks.append(o.token)
                keys.append((o.request, o.index))
        rows_t = torch.tensor(rows, dtype=torch.long, device=lm.device)
        cols_t = torch.tensor(cols, dtype=torch.long, device=lm.device)
        toks_t = torch.tensor(toks, dtype=torch.long, device=lm.device)
        try:
            hidden = lm.model.base_model(input_ids=ids, use_cache=False).last_hidden_state
            lp, top = lm.read_logprobs(hidden.reshape(-1, hidden.shape[-1]), rows_t * width + cols_t, toks_t)
        except (AttributeError, TypeError):  # no separable body: full logits
            logits = lm.model(input_ids=ids).logits[rows_t, cols_t].float()
            lse = torch.logsumexp(logits, dim=-1)
            lp = (logits.gather(1, toks_t[:, None])[:, 0] - lse).double().cpu().numpy()
            top = (logits.amax(dim=-1) - lse).double().cpu().numpy()
        return {key: (float(a), float(b)) for key, a, b in zip(keys, lp, top)}

    def flush(self) -> dict[tuple[int, int], tuple[float, float]]:
        return {}

    def release(self, nodes) -> None:
        pass


def _has_attention_interface(model: torch.nn.Module) -> bool:
    """Whether the model picks its attention kernel from transformers' ``AttentionInterface``."""
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if not isinstance(impl, str):
        return False
    try:
        register()
    except ImportError:
        return False
    return True


def load_hf(path: str | Path, batch_size: int | None = None, cache: ScoreCache | None = None,
            model_id: str | None = None, revision: str | None = None, dtype: str = "float32",
            device: str = "cpu", max_batch_tokens: int | None = None) -> HFModel:
    """Load a local transformers model directory (``dtype`` and ``device`` as in
    :func:`whyllm.models.load_model`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from whyllm.models.precision import check_dtype, resolve_device

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a transformers model directory (no config.json)")
    want, target_device = check_dtype(dtype), resolve_device(device)
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
    lm = HFModel(model, tokenizer, model_id or path.name, revision or weights_fingerprint(path),
                 batch_size=batch_size, cache=cache, max_batch_tokens=max_batch_tokens)
    from whyllm.models.placement import place

    def reload() -> torch.nn.Module:
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)

    place(lm, want, target_device, explicit_max_tokens=max_batch_tokens, reload=reload)
    return lm
