"""What "the output stays" means, for rules (Anchors, LORE) rather than attributions.

* a contrast target: the same side wins (sign of log p(a) - log p(b));
* a continuation: it stays the model's greedy choice at every token (top-1), or, when the user
  gives ``threshold``, its log-prob stays at or above it.

:func:`make_decision` refuses targets whose decision on the full input cannot be determined: a tied
contrast, a continuation that is not the model's top choice (without a threshold), a full input
already below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from whyllm.errors import InputError
from whyllm.targets import Target


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

    def describe(self, target: Target) -> str:
        if self.kind == "sign":
            win, lose = target.texts if self.sign > 0 else target.texts[::-1]
            return f"{win!r} stays more likely than {lose!r}"
        if self.kind == "threshold":
            return f"log p({target.texts[0]!r}) stays >= {self.threshold:g}"
        return f"{target.texts[0]!r} stays the model's greedy continuation"


def make_decision(target: Target, full_value: float, full_is_top: bool,
                  threshold: float | None = None) -> Decision:
    if target.kind == "contrast":
        if full_value == 0:
            raise InputError("the decision cannot be determined: both contrast targets are equally "
                             "likely on the full input")
        return Decision("sign", sign=1 if full_value > 0 else -1)
    if threshold is not None:
        if full_value < threshold:
            raise InputError(f"the decision cannot be determined: log p(target) is {full_value:.3f} on the "
                             f"full input, already below the threshold {threshold:g}")
        return Decision("threshold", threshold=float(threshold))
    if not full_is_top:
        raise InputError("the decision cannot be determined: the target is not the model's greedy "
                         "continuation of the full input; give a log-prob threshold (decision_threshold)")
    return Decision("top1")
