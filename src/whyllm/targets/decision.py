"""What "the output stays" means, for rules (Anchors, LORE) and neuron sets: a :class:`Decision`.

Each target makes its own (see its ``decision`` method): a contrast's is the sign of
log p(a) - log p(b); a continuation's is "stays the greedy choice at every token" (top-1), or, with a
user ``threshold``, "its log-prob stays at or above it".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    kind: str  # "sign" | "top1" | "threshold"
    sign: int = 0
    threshold: float | None = None

    @property
    def needs_top(self) -> bool:
        return self.kind == "top1"

    def holds(self, value: float, is_top: bool) -> bool:
        if self.kind == "sign":
            return value * self.sign > 0
        if self.kind == "threshold":
            return value >= self.threshold
        return is_top

    def describe(self, target) -> str:
        if self.kind == "sign":
            win, lose = target.texts if self.sign > 0 else target.texts[::-1]
            return f"{win!r} stays more likely than {lose!r}"
        if self.kind == "threshold":
            return f"log p({target.texts[0]!r}) stays >= {self.threshold:g}"
        return f"{target.texts[0]!r} stays the model's greedy continuation"
