"""Strategies built on the engine (direct, proxy, focus); importing this package registers them."""

from whyllm.compose import direct, focus, proxy  # noqa: F401  (registration)
from whyllm.compose.base import STRATEGIES, Call, Strategy, choose, method_names, run

__all__ = ["STRATEGIES", "Call", "Strategy", "choose", "method_names", "run"]
