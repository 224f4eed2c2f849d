"""Typed fits: what each method reports besides its values, one dataclass per kind.

Views dispatch on the type (an anchor is drawn as a rule, a LIME fit as its R^2), JSON carries the
``kind`` and round-trips exactly, and fields are read as attributes (``exp.fit.r2``; a wrapper's
own fit is ``exp.fit.inner``). Schema-1 files hold untyped dicts; :func:`fit_from_dict` types them
from the explanation's method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from whyllm.registry import Registry

FITS: Registry[type[Fit]] = Registry("fit kind")


def _plain(v: Any) -> Any:
    return json.loads(json.dumps(v))


@dataclass(frozen=True)
class Fit:
    """Base class; ``kind`` names the type in JSON."""

    kind: ClassVar[str] = "none"

    def summary(self) -> dict[str, Any]:
        """The scalar fields, for one summary line or table."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if v is not None and not isinstance(v, (list, dict, Fit))}

    # --- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = v.to_dict() if isinstance(v, Fit) else _plain(v)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Fit:
        cls = FITS.get(d["kind"])
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if isinstance(kw.get("inner"), dict):  # a wrapper's inner fit
            kw["inner"] = Fit.from_dict(kw["inner"])
        return cls(**kw)

    def normalized(self) -> Fit:
        """The fit as JSON gives it back (tuples -> lists, numpy -> Python), so round trips are exact."""
        return Fit.from_dict(_plain(self.to_dict()))


@FITS.register("none")
@dataclass(frozen=True)
class NoFit(Fit):
    """A method with nothing to report besides its values (occlusion)."""


@FITS.register("lime")
@dataclass(frozen=True)
class LimeFit(Fit):
    """LIME's surrogate: weighted R^2, intercept, samples drawn and distinct."""

    r2: float
    intercept: float
    samples: int
    distinct_samples: int
    kind: ClassVar[str] = "lime"


@FITS.register("lasso")
@dataclass(frozen=True)
class LassoFit(LimeFit):
    """ContextCite's LASSO surrogate: R^2 on its ablations, intercept, ablations drawn and distinct."""

    kind: ClassVar[str] = "lasso"


@FITS.register("kernelshap")
@dataclass(frozen=True)
class KernelShapFit(Fit):
    """Whether the coalitions were a complete enumeration (exact Shapley values), and how many."""

    exact: bool
    coalitions: int
    kind: ClassVar[str] = "kernelshap"


@FITS.register("anchor")
@dataclass(frozen=True)
class AnchorFit(Fit):
    """An anchor: its features, precision with KL bounds, coverage, and the decision it keeps."""

    anchor: list[int]
    anchor_words: list[str]
    precision: float
    precision_lb: float
    precision_ub: float
    coverage: float
    samples: int
    samples_drawn: int
    confident: bool
    decision: str
    warning: str | None = None
    kind: ClassVar[str] = "anchor"


@FITS.register("lore")
@dataclass(frozen=True)
class LoreFit(Fit):
    """LORE's rule, verified counterfactuals, fidelity, hit and c-hit."""

    rule: list[dict]
    counterfactuals: list[dict]
    fidelity: float
    hit: bool
    c_hit: float
    neighbourhood: int
    same_outcome: int
    decision: str
    kind: ClassVar[str] = "lore"


@dataclass(frozen=True)
class WrapperFit(Fit):
    """A wrapper's fit (proxy, focus): its own fields, and the inner method's fit as ``inner``."""

    inner: Fit = field(default_factory=NoFit)


@FITS.register("proxy")
@dataclass(frozen=True)
class ProxyFit(WrapperFit):
    """Which model sampled, the screens' verdict, the proxy's cost, and the sampler's own fit."""

    samples_by: str = ""
    screen: dict = field(default_factory=dict)
    proxy_cost: dict = field(default_factory=dict)
    kind: ClassVar[str] = "proxy"

    def summary(self) -> dict[str, Any]:
        return {**self.inner.summary(), "samples_by": self.samples_by}


@FITS.register("focus")
@dataclass(frozen=True)
class FocusFit(WrapperFit):
    """The focused neighbourhood, the coarse pass, which model ran each pass, and the fine fit."""

    focus_units: list[str] = field(default_factory=list)
    focus_spans: list = field(default_factory=list)
    inside: list[int] = field(default_factory=list)
    coarse_values: list[float] = field(default_factory=list)
    coarse_features: list[str] = field(default_factory=list)
    coarse_model: str = ""
    samples_by: dict = field(default_factory=dict)
    coarse_cost: dict | None = None
    screen: dict | None = None
    levels: list = field(default_factory=list)
    kind: ClassVar[str] = "focus"

    def summary(self) -> dict[str, Any]:
        return {"coarse_model": self.coarse_model, **self.inner.summary()}


@FITS.register("neurons")
@dataclass(frozen=True)
class NeuronFit(Fit):
    """A neuron set: the neurons, enforced and unenforced precision on held-out perturbations, the
    decision, the gradient ranking (the baseline) and the search's trace."""

    neurons: list[dict]
    size: int
    precision: float
    precision_lb: float
    precision_unenforced: float
    held_out: int
    decision: str
    gradient_ranking: list[str]
    search_samples: int = 0
    search_precision_unenforced: float = 0.0
    confident: bool = True
    trace: list = field(default_factory=list)
    warning: str | None = None
    kind: ClassVar[str] = "neurons"


#: schema-1 fits were untyped: the explanation's method says which type they are
_BY_METHOD = {"lime": LimeFit, "kernelshap": KernelShapFit, "occlusion": NoFit, "anchors": AnchorFit,
              "lore": LoreFit, "neurons": NeuronFit}


def fit_from_dict(d: dict[str, Any], method: str) -> Fit:
    """A fit from its JSON; a schema-1 dict (no ``kind``) typed by the explanation's ``method``."""
    if "kind" in d:
        return Fit.from_dict(d)
    if method == "focus":
        inner = d.get("inner_fit") or {}
        own = {k: v for k, v in d.items() if k != "inner_fit"}
        return FocusFit(inner=_untyped(inner), **own)
    if "samples_by" in d:  # a proxy's fit: its keys merged into the sampler's
        own = {k: d[k] for k in ("samples_by", "screen", "proxy_cost") if k in d}
        rest = {k: v for k, v in d.items() if k not in own}
        return ProxyFit(inner=fit_from_dict(rest, method), **own)
    cls = _BY_METHOD.get(method)
    return cls(**d) if cls is not None else _untyped(d)


def _untyped(d: dict) -> Fit:
    """A schema-1 inner fit whose method is not recorded: typed by its keys."""
    for cls in (LimeFit, KernelShapFit):
        if set(d) == {f.name for f in fields(cls)}:
            return cls(**d)
    return NoFit()


__all__ = ["FITS", "AnchorFit", "Fit", "FocusFit", "KernelShapFit", "LassoFit", "LimeFit", "LoreFit",
           "NeuronFit", "NoFit", "ProxyFit", "fit_from_dict"]
