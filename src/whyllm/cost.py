"""What an explanation cost: model forward passes, sequences, tokens, seconds, cache hits."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Cost:
    """Immutable record of the model work behind one result.

    ``forward_passes`` counts batched calls of the network, ``sequences`` the distinct rows scored in
    them, ``sample_tokens`` the tokens those rows contain (what one forward per row would compute),
    ``tokens`` the token positions actually run through the network (a shared head counts once),
    ``requests`` the (prompt, continuation) pairs asked for, ``cache_hits`` those answered from the
    score cache or deduplicated, and ``seconds`` the wall time spent.
    """

    forward_passes: int = 0
    sequences: int = 0
    tokens: int = 0
    requests: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    sample_tokens: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(**{k: getattr(self, k) + getattr(other, k) for k in asdict(self)})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class CostMeter:
    """Mutable counter the scorer adds to; ``snapshot()`` freezes it into a :class:`Cost`."""

    def __init__(self) -> None:
        self.forward_passes = 0
        self.sequences = 0
        self.tokens = 0
        self.requests = 0
        self.cache_hits = 0
        self.sample_tokens = 0
        self._started = time.perf_counter()

    def snapshot(self) -> Cost:
        return Cost(
            forward_passes=self.forward_passes,
            sequences=self.sequences,
            tokens=self.tokens,
            requests=self.requests,
            cache_hits=self.cache_hits,
            sample_tokens=self.sample_tokens,
            seconds=round(time.perf_counter() - self._started, 6),
        )


class GeneratorCost:
    """A generating model's own work beside the target's (a concept extractor, a rewriter, an LLM
    explainer): calls, prompt and generated tokens, seconds."""

    def __init__(self) -> None:
        self.calls = 0
        self.prompt_tokens = 0
        self.generated_tokens = 0
        self._started = time.perf_counter()

    def add(self, prompt_tokens: int, generated_tokens: int = 0) -> None:
        self.calls += 1
        self.prompt_tokens += int(prompt_tokens)
        self.generated_tokens += int(generated_tokens)

    def to_dict(self) -> dict[str, float]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "generated_tokens": self.generated_tokens,
                "seconds": round(time.perf_counter() - self._started, 6)}
