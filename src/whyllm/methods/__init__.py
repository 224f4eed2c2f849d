"""Attribution methods; importing this package registers them all."""

from whyllm.methods import (  # noqa: F401  (registration)
    anchors,
    contextcite,
    gradients,
    kernelshap,
    lime,
    llm_icl,
    lore,
    occlusion,
)
from whyllm.methods.base import METHODS, Attribution, Method

__all__ = ["METHODS", "Attribution", "Method"]
