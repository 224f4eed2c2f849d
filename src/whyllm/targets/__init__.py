"""Targets (which number is explained); importing this package registers every kind."""

from whyllm.targets import continuation, contrast, greedy  # noqa: F401  (registration)
from whyllm.targets import span as _span  # noqa: F401  (registration)
from whyllm.targets.base import TARGETS, Output, Target, resolve_target
from whyllm.targets.continuation import Continuation
from whyllm.targets.contrast import Contrast
from whyllm.targets.decision import Decision
from whyllm.targets.greedy import Greedy
from whyllm.targets.span import Span, SpanSpec, span

__all__ = ["TARGETS", "Continuation", "Contrast", "Decision", "Greedy", "Output", "Span", "SpanSpec",
           "Target", "resolve_target", "span"]
