"""The one question a model is asked: log-probs of a continuation after a prompt (token ids)."""

from __future__ import annotations

from dataclasses import dataclass


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
