"""The model axis: one hot call, ``score(requests) -> per-token log-probs``.

A request is (prompt token ids, continuation token ids). :meth:`LanguageModel.score` deduplicates
identical requests, answers what it can from the score cache, and hands the rest to the backend's
batched ``_score_batch``; everything upstream of it is model-agnostic.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from whyllm.cost import CostMeter
from whyllm.errors import ContextLengthError, InputError
from whyllm.models.cache import ScoreCache


@dataclass(frozen=True)
class ScoreRequest:
    """Log-probabilities of ``continuation`` tokens, each conditioned on ``prompt`` + earlier ones.

    With ``top=True`` the answer has 2k numbers for k continuation tokens: the k log-probs, then the
    k largest log-probs over the whole vocabulary at the same positions (so a caller can tell
    whether the continuation is still the model's greedy choice).
    """

    prompt: tuple[int, ...]
    continuation: tuple[int, ...]
    top: bool = False


@dataclass(frozen=True)
class Encoding:
    """Token ids of a text and each token's character span in it (special tokens get (0, 0))."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    special: tuple[bool, ...]


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of the model behind a result."""

    backend: str
    model_id: str
    revision: str


class LanguageModel(ABC):
    """A causal language model that scores continuations; subclasses implement the backend parts."""

    backend: str = "base"

    def __init__(self, model_id: str, revision: str, max_context: int, batch_size: int = 32,
                 cache: ScoreCache | None = None) -> None:
        self.model_id = model_id
        self.revision = revision
        self.max_context = max_context
        self.batch_size = batch_size
        self.cache = cache

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.backend, self.model_id, self.revision)

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
    @abstractmethod
    def _score_batch(self, requests: Sequence[ScoreRequest], meter: CostMeter, shared_prefix: int = 0
                     ) -> list[np.ndarray]:
        """Per-token log-probs of each request, computed by the network (no cache, no dedupe).

        ``shared_prefix`` tokens are common to every request of the whole ``score`` call, so a
        backend can encode them once for all its batches."""

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

        Identical requests are computed once; cached ones are not recomputed; the rest go to the
        network in batches of ``self.batch_size`` rows, sorted by length to limit padding.
        """
        meter = meter if meter is not None else CostMeter()
        meter.requests += len(requests)
        for r in requests:
            self.check_fits(r)
        unique = list(dict.fromkeys(requests))
        meter.cache_hits += len(requests) - len(unique)
        found = self.cache.get_many(self._cache_key(), unique) if self.cache is not None else {}
        meter.cache_hits += len(found)
        todo = sorted((r for r in unique if r not in found),
                      key=lambda r: (r.prompt[:1], len(r.prompt) + len(r.continuation)))
        shared = shared_prefix_len(todo)
        n_batches = math.ceil(len(todo) / self.batch_size)
        bar = tqdm(total=len(todo), desc="scoring", unit="seq", disable=not progress or n_batches < 2,
                   leave=False)
        try:
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start:start + self.batch_size]
                out = self._score_batch(chunk, meter, shared)
                computed = dict(zip(chunk, out))
                found.update(computed)
                if self.cache is not None:
                    self.cache.put_many(self._cache_key(), computed)
                bar.update(len(chunk))
        finally:
            bar.close()
        return [found[r] for r in requests]

    def _cache_key(self) -> str:
        return f"{self.backend}:{self.model_id}@{self.revision}"


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
