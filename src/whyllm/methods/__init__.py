"""Attribution methods; importing this package registers them all."""

from whyllm.methods import anchors, contextcite, kernelshap, lime, lore, occlusion  # noqa: F401  (registration)
from whyllm.methods.base import METHODS, Attribution, Method

__all__ = ["METHODS", "Attribution", "Method"]
