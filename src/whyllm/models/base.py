"""The model axis: one hot call, ``score(requests) -> per-token log-probs``.

A request is (prompt token ids, continuation token ids). :meth:`LanguageModel.score` deduplicates
identical requests, answers what it can from the score cache, and hands the rest to the backend:
as a prefix tree run in token-bounded batches (``hf``, ``toy``; see :mod:`whyllm.models.plan`) or
as request chunks for ``_score_batch`` (``openai``). Everything upstream of it is model-agnostic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from whyllm.cost import CostMeter
from whyllm.errors import ContextLengthError, InputError, ModelError
from whyllm.models.cache import ScoreCache
from whyllm.models.score_request import ScoreRequest

if TYPE_CHECKING:
    from whyllm.models.white_box import WhiteBox


@dataclass(frozen=True)
class Encoding:
    """Token ids of a text and each token's character span in it (special tokens get (0, 0))."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of the model behind a result: which weights, in which precision, on which kind of
    device (``cpu``, ``cuda``, ``mps``; ``remote`` for a served model)."""

    backend: str
    model_id: str
    revision: str
    dtype: str = "float32"
    device: str = "cpu"
    #: for a tokenizer that adds no BOS of its own: the token an empty context is scored after
    #: (see :meth:`LanguageModel.context_start`); None where the tokenizer starts every text itself
    empty_context: str | None = None


class LanguageModel(ABC):
    """A causal language model that scores continuations; subclasses implement the backend parts."""

    backend: str = "base"

    def __init__(self, model_id: str, revision: str, max_context: int, batch_size: int | None = 32,
                 cache: ScoreCache | None = None) -> None:
        self.model_id = model_id
        self.revision = revision
        self.max_context = max_context
        self.batch_size = batch_size
        self.cache = cache

    @property
    def info(self) -> ModelInfo:
        start = None if self.adds_bos else self.context_start()
        return ModelInfo(self.backend, self.model_id, self.revision, self.dtype_name, self.device_kind,
                         None if start is None else self.decode([start]))

    @property
    def adds_bos(self) -> bool:
        """Whether the tokenizer starts every text with a special token of its own (Gemma's
        ``<bos>``): then no prompt is ever empty, whatever features are removed."""
        if "_adds_bos" not in self.__dict__:
            enc = self.encode("a")
            self.__dict__["_adds_bos"] = bool(enc.special[:1] == (True,))
        return self.__dict__["_adds_bos"]

    def bos_like_token(self) -> int | None:
        """The tokenizer's beginning-of-sequence token, else its end-of-text token (GPT-2's
        ``<|endoftext|>`` is both), else None; backends with a tokenizer override it."""
        return None

    def context_start(self) -> int | None:
        """The token an empty context is scored after.

        With every feature removed, a text without a template leaves no prompt at all for a
        tokenizer that adds no BOS (SmolLM2, GPT-2, Qwen), yet the first answer token needs
        something to be predicted from. As transformers' ``generate`` does for an empty input, the
        answer is then scored after the tokenizer's BOS-like token (:meth:`bos_like_token`); the
        explanation records which, in ``model.empty_context``."""
        return self.bos_like_token()

    def white_box(self) -> WhiteBox | None:
        """The model's tensor interface (:class:`~whyllm.models.white_box.WhiteBox`) for gradients,
        attention, neurons and steering; None for a model that only scores text (served models)."""
        return None

    dtype_name: str = "float32"
    device_kind: str = "cpu"

    # --- tokenizer -------------------------------------------------------------------------
    @abstractmethod
    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        """Tokenize ``text`` with character offsets."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Turn token ids back into text."""

    def encode_continuation(self, text: str) -> tuple[int, ...]:
        """Token ids of a continuation (no special tokens); raises if it tokenizes to nothing."""
        if not isinstance(text, str) or text == "":
            raise InputError("the target continuation is empty; give the text the model should produce")
        ids = self.encode(text, add_special_tokens=False).ids
        if not ids:
            raise InputError(f"the target {text!r} is empty after tokenization")
        return ids

    # --- scoring ---------------------------------------------------------------------------
    def _score_batch(self, requests: Sequence[ScoreRequest], meter: CostMeter, shared_prefix: int = 0
                     ) -> list[np.ndarray]:
        """Per-token log-probs of each request, computed by the network (no cache, no dedupe), for a
        backend that does not run prefix trees (``openai``).

        ``shared_prefix`` tokens are common to every request of the whole ``score`` call, so a
        backend can encode them once for all its batches."""
        raise NotImplementedError(f"the {self.backend} backend scores prefix trees")

    @abstractmethod
    def generate(self, prompt: Sequence[int], max_new_tokens: int, stop_at_newline: bool = True
                 ) -> tuple[int, ...]:
        """Greedy continuation of ``prompt``."""

    def _top_next_tokens(self, prefixes: Sequence[tuple[int, ...]], k: int, meter: CostMeter
                         ) -> list[list[int]]:
        """The ``k`` most likely next tokens after each prefix, best first."""
        raise InputError(f"the {self.backend} backend cannot propose replacement words")

    def word_candidates(self, prefixes: Sequence[tuple[int, ...]], originals: Sequence[int], k: int,
                        meter: CostMeter | None = None) -> list[tuple[int, ...]]:
        """For each slot, ``k`` plausible replacement tokens for ``originals[i]`` after
        ``prefixes[i]``: whole words like the original (same leading space, no line break), the
        original itself excluded. Computed in one batch and remembered per (prefix, original)."""
        memo = self.__dict__.setdefault("_word_memo", {})
        todo = [i for i, key in enumerate(zip(prefixes, originals)) if key not in memo]
        if todo:
            ranked = self._top_next_tokens([prefixes[i] for i in todo], 8 * k,
                                           meter if meter is not None else CostMeter())
            for i, options in zip(todo, ranked):
                memo[(prefixes[i], originals[i])] = self._filter_words(options, originals[i], k)
        return [memo[key] for key in zip(prefixes, originals)]

    def _filter_words(self, options: Sequence[int], original: int, k: int) -> tuple[int, ...]:
        spaced = self.decode([original]).startswith(" ")
        keep = []
        for tok in options:
            word = self.decode([tok])
            if tok != original and word.strip() and "\n" not in word and word.startswith(" ") == spaced:
                keep.append(tok)
            if len(keep) == k:
                break
        return tuple(keep) or tuple(t for t in options if t != original)[:k] or (original,)

    def check_fits(self, request: ScoreRequest) -> None:
        n = len(request.prompt) + len(request.continuation)
        if n > self.max_context:
            raise ContextLengthError(
                f"prompt + continuation is {n} tokens; the model's context window is {self.max_context}"
            )

    def score(self, requests: Sequence[ScoreRequest], meter: CostMeter | None = None,
              progress: bool = False) -> list[np.ndarray]:
        """Per-token log-probs (float64 arrays) for each request, in order.

        Identical requests are computed once and cached ones are not recomputed. A backend that runs
        prefix trees (``hf``, ``toy``) gets the rest as a :class:`~whyllm.models.plan.PrefixTree` in
        batches of at most ``max_batch_tokens`` tokens; every request is written to the cache as soon
        as its log-probs are read (the ``hf`` backend reads them at least every 1,024 computed
        tokens), so a killed run loses little. Other backends get chunks of ``batch_size``
        requests.
        """
        meter = meter if meter is not None else CostMeter()
        meter.requests += len(requests)
        requests = self._with_context(requests)
        for r in requests:
            self.check_fits(r)
        unique = list(dict.fromkeys(requests))
        meter.cache_hits += len(requests) - len(unique)
        found = self.cache.get_many(self._cache_key(), unique) if self.cache is not None else {}
        meter.cache_hits += len(found)
        todo = [r for r in unique if r not in found]
        if todo:
            run = self._score_tree if self.runs_trees else self._score_chunks
            run(todo, found, meter, progress)
        return [found[r] for r in requests]

    def _with_context(self, requests: Sequence[ScoreRequest]) -> list[ScoreRequest]:
        """Each request, an empty prompt replaced by :meth:`context_start` (same order)."""
        if all(r.prompt for r in requests):
            return list(requests)
        start = self.context_start()
        if start is None:
            raise ModelError(f"{self.model_id}'s tokenizer has no BOS-like token, so an answer after an "
                             "empty context (every feature removed) cannot be scored; give a --template, "
                             "or --perturbation replace")
        return [r if r.prompt else ScoreRequest((start,), r.continuation, r.top) for r in requests]

    def _store(self, found: dict, computed: dict) -> None:
        found.update(computed)
        if self.cache is not None and computed:
            self.cache.put_many(self._cache_key(), computed)

    def _score_chunks(self, todo: list[ScoreRequest], found: dict, meter: CostMeter, progress: bool) -> None:
        todo = sorted(todo, key=lambda r: (r.prompt[:1], len(r.prompt) + len(r.continuation)))
        shared = shared_prefix_len(todo)
        size = self.batch_size or 32
        bar = tqdm(total=len(todo), desc="scoring", unit="seq", leave=False,
                   disable=not progress or len(todo) <= size)
        try:
            for start in range(0, len(todo), size):
                chunk = todo[start:start + size]
                meter.sample_tokens += sum(len(r.prompt) + len(r.continuation) - 1 for r in chunk)
                self._store(found, dict(zip(chunk, self._score_batch(chunk, meter, shared))))
                bar.update(len(chunk))
        finally:
            bar.close()

    def _score_tree(self, todo: list[ScoreRequest], found: dict, meter: CostMeter, progress: bool) -> None:
        from whyllm.models.plan import PrefixTree, Schedule

        share, segment = self.tree_options()
        tree = PrefixTree(todo, share=share, max_segment=segment)
        meter.sequences += tree.n_rows
        meter.sample_tokens += tree.row_tokens
        schedule = Schedule(tree, self.max_batch_tokens, self.batch_size)
        values: dict[tuple[int, int], tuple[float, float]] = {}
        bar = tqdm(total=len(todo), desc="scoring", unit="seq", leave=False,
                   disable=not progress or tree.tokens <= self.max_batch_tokens)
        pending: list[int] = []

        def complete(final: bool = False) -> None:
            ready = [k for k in pending
                     if final or all((k, j) in values for j in range(len(todo[k].continuation)))]
            self._store(found, {todo[k]: _assemble(todo[k], k, values) for k in ready})
            bar.update(len(ready))
            written = set(ready)
            pending[:] = [k for k in pending if k not in written]

        try:
            with self._tree_runner() as runner:
                for batch in schedule:
                    values.update(runner.run(batch, meter))
                    meter.forward_passes += 1
                    runner.release(schedule.done(batch))
                    pending.extend(schedule.finished())
                    complete()
                values.update(runner.flush())
                complete(final=True)
        finally:
            bar.close()

    # --- what a backend that runs prefix trees provides ------------------------------------------
    runs_trees: bool = False
    max_batch_tokens: int = 2048

    def tree_options(self) -> tuple[bool, int | None]:
        """(share heads, longest segment): whether rows share their heads' state, and the chunk
        length of a long row (None: rows are never cut)."""
        return True, self.max_batch_tokens

    def _tree_runner(self):
        """A context manager whose value has ``run(batch, meter) -> {(request, index): (logprob,
        top logprob)}`` (what is ready; a runner may hold some back), ``flush()`` (the rest) and
        ``release(nodes)`` (their stored state is no longer needed)."""
        raise NotImplementedError

    def _cache_key(self) -> str:
        """What determines a score: the weights, their precision and the kind of device (a bfloat16
        score never answers a float32 request)."""
        return f"{self.backend}:{self.model_id}@{self.revision}:{self.dtype_name}:{self.device_kind}"


def _assemble(request: ScoreRequest, k: int, values: dict[tuple[int, int], tuple[float, float]]
              ) -> np.ndarray:
    n = len(request.continuation)
    lp = [values[k, j][0] for j in range(n)]
    if request.top:
        lp += [values[k, j][1] for j in range(n)]
    return np.asarray(lp, dtype=np.float64)


def shared_prefix_len(requests: Sequence[ScoreRequest]) -> int:
    """Tokens shared by the start of every request's input (prompt + continuation[:-1]), stopping
    before the first position whose prediction is needed."""
    if not requests:
        return 0
    rows = [r.prompt + r.continuation[:-1] for r in requests]
    return common_prefix_len(rows, limit=min(len(r.prompt) for r in requests) - 1)


def common_prefix_len(rows: Sequence[tuple[int, ...]], limit: int) -> int:
    first = rows[0]
    n = max(0, min(limit, *(len(r) for r in rows)))
    for r in rows[1:]:
        i = 0
        while i < n and r[i] == first[i]:
            i += 1
        n = i
        if n == 0:
            break
    return n


def require_white_box(model: object, purpose: str) -> WhiteBox:
    """The model's declared white-box interface, or a :class:`ModelError` naming ``purpose``."""
    box = model.white_box() if isinstance(model, LanguageModel) else None
    if box is None:
        raise ModelError(f"{purpose} need a local transformers model (the 'hf' backend)")
    return box
