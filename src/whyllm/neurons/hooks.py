"""Reading and enforcing neuron activations with forward pre-hooks on the model's own modules.

Nothing of the architecture is re-implemented: a pre-hook on each site's ``down_proj`` sees the
neuron vector, optionally records it at one position per row and optionally overwrites chosen
neurons there. Every hook is removed when the ``with`` block ends (also on errors), so the model
computes exactly what it computed before (a tested guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from whyllm.models.white_box import WhiteBox
from whyllm.neurons.sites import Sites


@dataclass(frozen=True)
class Clamp:
    """Neurons to enforce: flat ``indices`` (k,), ``values`` (k,) or per row (rows, k).

    ``ops`` (k,) of +1 / -1 turns a clamp into predicates: +1 enforces ``activation >= value``
    (raises it only when lower), -1 enforces ``activation <= value``; without ``ops`` the neurons are
    set to ``values``.
    """

    indices: np.ndarray
    values: np.ndarray
    ops: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def rows(self, keep: np.ndarray) -> Clamp:
        """The clamp for a subset of rows (per-row values are sliced, shared ones kept)."""
        values = self.values[keep] if self.values.ndim == 2 else self.values
        return Clamp(self.indices, values, self.ops)


class NeuronHooks:
    """``with NeuronHooks(box, sites, positions, clamp, record=True) as h: box.forward(...)``.

    ``positions`` (rows,) says where in each row's current input the neurons are read and enforced;
    a pair (batch rows, positions) names the places directly (several in one packed row); None means
    the last position of every forward call (for generation). With ``grad=True`` the
    recorded activations stay in the autograd graph (the input embeddings are made to require
    gradients), so derivatives with respect to every neuron can be taken after the forward pass.
    """

    def __init__(self, box: WhiteBox, sites: Sites,
                 positions: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
                 clamp: Clamp | None = None, record: bool = False, grad: bool = False) -> None:
        self.box, self.sites, self.positions, self.record, self.grad = box, sites, positions, record, grad
        self.records: dict[int, torch.Tensor] = {}
        self._clamps: dict[int, tuple] = {}
        if clamp is not None and len(clamp):
            for si, site in enumerate(sites):
                sel = (clamp.indices >= site.offset) & (clamp.indices < site.offset + site.width)
                if sel.any():
                    idx = torch.as_tensor(clamp.indices[sel] - site.offset, dtype=torch.long)
                    vals = torch.as_tensor(clamp.values[..., sel], dtype=torch.float32)
                    ops = None if clamp.ops is None else torch.as_tensor(clamp.ops[sel], dtype=torch.float32)
                    self._clamps[si] = (idx, vals, ops)
        self._held = None

    def __enter__(self) -> NeuronHooks:
        pre = [(site.module, self._hook(si)) for si, site in enumerate(self.sites)
               if self.record or si in self._clamps]
        post = [(self.box.embedding_layer, lambda mod, args, out: out.detach().requires_grad_(True))
                ] if self.grad else []
        self._held = self.box.hooks(pre, post)
        self._held.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(*exc)

    def _hook(self, si: int):
        def hook(module, args):
            x = args[0]
            if isinstance(self.positions, tuple):
                rows, pos = (p.to(x.device) for p in self.positions)
            else:
                rows = torch.arange(x.shape[0], device=x.device)
                pos = (self.positions.to(x.device) if self.positions is not None
                       else torch.full((x.shape[0],), x.shape[1] - 1, device=x.device))
            at = x[rows, pos]
            if si in self._clamps:
                idx, vals, ops = self._clamps[si]
                vals = vals.to(x.dtype)
                at = at.clone()
                if ops is None:
                    at[:, idx] = vals
                else:
                    cur = at[:, idx]
                    at[:, idx] = torch.where(ops > 0, torch.maximum(cur, vals), torch.minimum(cur, vals))
            if si in self._clamps or self.grad:
                # out of place, so that the rest of the pass depends on `at` (gradients reach it)
                x = x.index_put((rows, pos), at)
            if self.record:
                self.records[si] = at if self.grad else at.detach()
            return (x, *args[1:])
        return hook

    def recorded(self) -> torch.Tensor:
        """(rows, total neurons): the recorded activations of every site, concatenated in order."""
        return torch.cat([self.records[si] for si in range(len(self.sites))], dim=1)
