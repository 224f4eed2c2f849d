"""Where neurons live: the MLP blocks of a transformers causal LM, addressed by stable names.

A *site* is one MLP block, named ``layers.<l>.mlp``; its neurons are the inputs of the block's
output projection (``down_proj``), i.e. ``act(gate_proj(x)) * up_proj(x)`` in gated MLPs (Gemma,
Llama, Qwen, Mistral). Neuron ``j`` of layer ``l`` is named ``layers.<l>.mlp:<j>`` and has a flat
index ``offset(l) + j`` over all sites, which is how the search addresses it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from whyllm.errors import InputError
from whyllm.models.white_box import WhiteBox

_NEURON_NAME = re.compile(r"^layers\.(\d+)\.mlp:(\d+)$")


@dataclass(frozen=True)
class Site:
    """One MLP block: its layer, the module whose input holds the neurons, and the flat offset."""

    layer: int
    module: torch.nn.Module
    width: int
    offset: int

    @property
    def name(self) -> str:
        return f"layers.{self.layer}.mlp"


class Sites:
    """All MLP neuron sites of a model (its :class:`~whyllm.models.white_box.WhiteBox`), in layer order."""

    def __init__(self, box: WhiteBox) -> None:
        found = box.mlp_blocks()
        sites, offset = [], 0
        for layer, proj in found:
            sites.append(Site(layer, proj, proj.in_features, offset))
            offset += proj.in_features
        self.sites: tuple[Site, ...] = tuple(sites)
        self.total = offset

    def __len__(self) -> int:
        return len(self.sites)

    def __iter__(self):
        return iter(self.sites)

    def locate(self, flat: int) -> tuple[Site, int]:
        """The site and the within-site index of flat neuron index ``flat``."""
        if not 0 <= flat < self.total:
            raise InputError(f"neuron index {flat} is out of range (the model has {self.total} MLP neurons)")
        for site in reversed(self.sites):
            if flat >= site.offset:
                return site, flat - site.offset
        raise AssertionError("unreachable")

    def name(self, flat: int) -> str:
        site, j = self.locate(flat)
        return f"{site.name}:{j}"

    def flat(self, name: str) -> int:
        """Flat index of a neuron name such as ``layers.6.mlp:1234``."""
        m = _NEURON_NAME.match(name.strip())
        if not m:
            raise InputError(f"bad neuron name {name!r}: expected 'layers.<layer>.mlp:<index>'")
        layer, j = int(m.group(1)), int(m.group(2))
        for site in self.sites:
            if site.layer == layer:
                if j >= site.width:
                    raise InputError(f"{name}: layer {layer} has {site.width} neurons")
                return site.offset + j
        raise InputError(f"{name}: the model has no MLP layer {layer}")

    def random_like(self, chosen: Sequence[int], rng: np.random.Generator) -> list[int]:
        """As many distinct random neurons as ``chosen``, each from the layer of its counterpart and
        none in ``chosen`` (the control for a found set), as sorted flat indices."""
        taken, picked = set(int(c) for c in chosen), set()
        for c in chosen:
            site, _ = self.locate(int(c))
            while True:
                r = site.offset + int(rng.integers(site.width))
                if r not in taken and r not in picked:
                    picked.add(r)
                    break
        return sorted(picked)

    def layer_of(self, flat: int) -> int:
        return self.locate(flat)[0].layer
