"""The ``toy`` backend: word-level models whose attributions are known in closed form.

Each whitespace-separated word is one token. A toy model is a function from the words so far to
scores of candidate next words. With ``normalize=False`` the scores are used as log-probs as they
are, so a model whose score is a sum of word weights is exactly additive, and its Shapley values are
the weights themselves (Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions").
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from whyllm.cost import CostMeter
from whyllm.models.base import Encoding, LanguageModel
from whyllm.models.cache import ScoreCache

ScoreFn = Callable[[tuple[str, ...]], dict[str, float]]
BOS = "<bos>"
EOS = "<eos>"


class ToyModel(LanguageModel):
    """A word-level model given by ``score_fn(words) -> {next word: score}`` (exact and fast)."""

    backend = "toy"
    runs_trees = True
    dtype_name = "float64"

    def __init__(self, score_fn: ScoreFn, name: str = "toy", max_context: int = 256,
                 normalize: bool = False, batch_size: int | None = 32, cache: ScoreCache | None = None,
                 max_batch_tokens: int = 2048, share_prefixes: bool = True) -> None:
        super().__init__(name, "0", max_context, batch_size=batch_size, cache=cache)
        self.max_batch_tokens = max_batch_tokens
        self.share_prefixes = share_prefixes
        self.score_fn = score_fn
        self.normalize = normalize
        self._vocab: dict[str, int] = {BOS: 0, EOS: 1}
        self._words: list[str] = [BOS, EOS]
        self.rows_scored = 0

    def _id(self, word: str) -> int:
        if word not in self._vocab:
            self._vocab[word] = len(self._words)
            self._words.append(word)
        return self._vocab[word]

    def encode(self, text: str, add_special_tokens: bool = True) -> Encoding:
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        ids = [self._id(text[s:e]) for s, e in spans]
        special = [False] * len(ids)
        if add_special_tokens:
            ids, spans, special = [0, *ids], [(0, 0), *spans], [True, *special]
        return Encoding(tuple(ids), tuple(spans), tuple(special))

    def bos_like_token(self) -> int | None:
        return 0

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self._words[i] for i in ids if i != 0)

    def _scores(self, words: tuple[str, ...]) -> dict[str, float]:
        scores = self.score_fn(words)
        if self.normalize:
            vals = np.array(list(scores.values()), dtype=np.float64)
            lse = float(np.log(np.exp(vals - vals.max()).sum()) + vals.max())
            scores = {w: v - lse for w, v in scores.items()}
        return scores

    def tree_options(self) -> tuple[bool, int | None]:
        return self.share_prefixes, self.max_batch_tokens

    def _tree_runner(self):
        return contextlib.nullcontext(_ToyRunner(self))

    def _next(self, row: Sequence[int], token: int) -> tuple[float, float]:
        """(score of ``token``, best score) after the tokens of ``row``."""
        scores = self._scores(tuple(self._words[i] for i in row if i != 0))
        return scores.get(self._words[token], -1e9), max(scores.values())

    def _top_next_tokens(self, prefixes, k: int, meter: CostMeter) -> list[list[int]]:
        meter.forward_passes += 1
        out = []
        for p in prefixes:
            scores = self._scores(tuple(self._words[i] for i in p if i != 0))
            ranked = sorted(scores, key=lambda w: (-scores[w], w))
            out.append([self._id(w) for w in ranked if w not in (BOS, EOS)][:k])
            meter.sequences += 1
        return out

    def generate(self, prompt: Sequence[int], max_new_tokens: int, stop_at_newline: bool = True
                 ) -> tuple[int, ...]:
        words = tuple(self._words[i] for i in prompt if i != 0)
        new: list[int] = []
        for _ in range(max_new_tokens):
            scores = self._scores(words)
            best = max(sorted(scores), key=lambda w: scores[w])
            if best == EOS:
                break
            new.append(self._id(best))
            words = (*words, best)
        return tuple(new)


class _ToyRunner:
    """Runs prefix-tree batches exactly: each output is ``score_fn`` of the words before it."""

    def __init__(self, model: ToyModel) -> None:
        self.model = model

    def run(self, batch, meter: CostMeter) -> dict[tuple[int, int], tuple[float, float]]:
        out = {}
        for node in batch:
            row = node.row()
            meter.tokens += len(node)
            for o in node.outputs:
                out[o.request, o.index] = self.model._next(row[:node.start + o.offset + 1], o.token)
        self.model.rows_scored += len({k for k, _ in out})
        return out

    def flush(self) -> dict:
        return {}

    def release(self, nodes) -> None:
        pass


def additive_model(weights: dict[str, float], bias: float = 0.0, target: str = "yes",
                   other: str = "no", **kwargs) -> ToyModel:
    """score(target) = bias + sum of the weights of the words present; score(other) = 0.

    The Shapley value of each word (with deletion as removal) is exactly its weight, and
    ``other`` then ``<eos>`` end generation after one word.
    """

    def score(words: tuple[str, ...]) -> dict[str, float]:
        if words and words[-1] in (target, other):
            return {EOS: 0.0, target: -1e9, other: -1e9}
        return {target: bias + sum(weights.get(w, 0.0) for w in words), other: 0.0, EOS: -1e9}

    return ToyModel(score, name=f"toy-additive-{target}", **kwargs)


def planted_model(required: Iterable[str], strength: float = 4.0, target: str = "yes",
                  other: str = "no", **kwargs) -> ToyModel:
    """``target`` wins (score +strength vs -strength) iff every ``required`` word is present."""
    need = frozenset(required)

    def score(words: tuple[str, ...]) -> dict[str, float]:
        if words and words[-1] in (target, other):
            return {EOS: 0.0}
        hit = need.issubset(words)
        return {target: strength if hit else -strength, other: 0.0}

    return ToyModel(score, name=f"toy-planted-{'+'.join(sorted(need))}", normalize=True, **kwargs)
