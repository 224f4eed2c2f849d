"""The result type: one immutable, versioned, JSON-round-trippable explanation."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from whyllm._version import READABLE_SCHEMAS, SCHEMA_VERSION, __version__
from whyllm.cost import Cost
from whyllm.errors import InputError
from whyllm.features.prompt_input import Feature
from whyllm.fits import Fit, NoFit, fit_from_dict
from whyllm.models.base import ModelInfo
from whyllm.registry import VIEWS, render
from whyllm.targets import Output, Target


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` as a JSON object, or an :class:`InputError` that says it is not ``what``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"not {what}: the JSON is not an object")
    return data


def _floats(values) -> tuple[float, ...] | None:
    """A JSON list as floats (null as NaN: an unknown error), or None."""
    return None if values is None else tuple(float("nan") if v is None else float(v) for v in values)


def json_safe(d: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON would give them back (tuples -> lists), so round-trips are exact."""
    return json.loads(json.dumps(d))


@dataclass(frozen=True)
class Explanation:
    """Why the model produced ``target`` after ``prompt``: one value per feature of ``text``.

    ``base_value`` is the target value with every feature removed, ``full_value`` with none removed;
    for KernelSHAP ``base_value + sum(values) == full_value``. ``fit`` holds the surrogate's quality
    (LIME's weighted R^2, KernelSHAP's exactness), ``cost`` the model work, ``params`` everything
    needed to reproduce the run together with ``seed`` and ``model``.

    Schema 2: a multi-output method (LIME, KernelSHAP, occlusion) also gives ``matrix``, features x
    outputs (the target's answer tokens, described by ``outputs``), computed from the same samples;
    its row sums are ``values``, and ``base_columns``/``full_columns`` are each output's base and
    full value (KernelSHAP's efficiency holds per column). Schema-1 files load with no matrix.

    Schema 3: how sure the values are (:mod:`whyllm.uncertainty`). ``stderr`` and ``interval`` (95 %)
    per value, ``matrix_stderr`` per matrix cell, ``certain_top`` the largest k whose top-k set is
    certain at 95 %, and ``uncertainty`` the source (``exact``, ``sandwich``, ``bootstrap``,
    ``completeness``), the estimand, each top-k set's probability and, under ``budget="auto"``, why
    sampling stopped. All None/empty for a method that states no uncertainty (a rule) and in
    schema-1/2 files.
    """

    text: str
    template: str | None
    feature_kind: str
    features: tuple[Feature, ...]
    values: tuple[float, ...]
    base_value: float
    full_value: float
    target: Target
    method: str
    params: dict[str, Any]
    seed: int | None
    model: ModelInfo
    fit: Fit = field(default_factory=NoFit)
    cost: Cost = field(default_factory=Cost)
    metrics: dict[str, Any] = field(default_factory=dict)
    matrix: tuple[tuple[float, ...], ...] | None = None
    outputs: tuple[Output, ...] = ()
    base_columns: tuple[float, ...] | None = None
    full_columns: tuple[float, ...] | None = None
    stderr: tuple[float, ...] | None = None
    interval: tuple[tuple[float, float], ...] | None = None
    certain_top: int | None = None
    matrix_stderr: tuple[tuple[float, ...], ...] | None = None
    uncertainty: dict[str, Any] = field(default_factory=dict)
    version: str = __version__
    schema_version: int = SCHEMA_VERSION

    @property
    def prompt(self) -> str:
        """The full prompt the model saw (template with the text in its slot)."""
        if self.template is None:
            return self.text
        return self.template.replace("{text}", self.text, 1)

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)

    @property
    def matrix_array(self) -> np.ndarray | None:
        """``matrix`` as a (features, outputs) array, or None."""
        return None if self.matrix is None else np.asarray(self.matrix, dtype=np.float64)

    @property
    def stderr_array(self) -> np.ndarray | None:
        return None if self.stderr is None else np.asarray(self.stderr, dtype=np.float64)

    @property
    def exact(self) -> bool:
        """The values are not estimates (a complete enumeration, or a deterministic method)."""
        return self.uncertainty.get("kind") == "exact"

    def top_certain(self, k: int) -> bool | None:
        """Whether the top-``k`` set is certain at 95 % (None: no uncertainty stated)."""
        sets = self.uncertainty.get("top_sets")
        if not sets:
            return None if self.certain_top is None else k <= self.certain_top
        return k <= len(sets) and sets[k - 1] >= self.uncertainty.get("level", 0.95)

    def ranking(self) -> np.ndarray:
        """Feature indices from the most to the least supportive of the target (stable on ties)."""
        return np.argsort(-self.array, kind="stable")

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        return [(self.features[i].text, self.values[i]) for i in self.ranking()[:k]]

    def with_metrics(self, metrics: dict[str, Any]) -> Explanation:
        return replace(self, metrics={**self.metrics, **metrics})

    # --- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = [f.to_dict() for f in self.features]
        d["target"] = self.target.to_dict()
        d["fit"] = self.fit.to_dict()
        return d

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Explanation:
        if d.get("schema_version") not in READABLE_SCHEMAS:
            raise InputError(f"unsupported explanation schema version {d.get('schema_version')!r} "
                             f"(this whyllm reads versions {', '.join(map(str, READABLE_SCHEMAS))})")
        exp = cls._from_fields(d)
        if len(exp.values) != len(exp.features):
            raise InputError(f"not a whyllm explanation: {len(exp.values)} values for {len(exp.features)} "
                             "features")
        for name in ("stderr", "interval"):
            got = getattr(exp, name)
            if got is not None and len(got) != len(exp.features):
                raise InputError(f"not a whyllm explanation: {len(got)} {name} entries for "
                                 f"{len(exp.features)} features")
        if exp.matrix is not None and len(exp.matrix) != len(exp.features):
            raise InputError(f"not a whyllm explanation: a matrix of {len(exp.matrix)} rows for "
                             f"{len(exp.features)} features")
        return exp

    @classmethod
    def _from_fields(cls, d: dict[str, Any]) -> Explanation:
        try:
            matrix = d.get("matrix")
            base_cols, full_cols = d.get("base_columns"), d.get("full_columns")
            return cls(
                text=d["text"], template=d["template"], feature_kind=d["feature_kind"],
                features=tuple(Feature(**f) for f in d["features"]),
                values=tuple(float(v) for v in d["values"]),
                base_value=float(d["base_value"]), full_value=float(d["full_value"]),
                target=Target.from_dict(d["target"]), method=d["method"], params=dict(d["params"]),
                seed=d["seed"], model=ModelInfo(**d["model"]), fit=fit_from_dict(dict(d["fit"]), d["method"]),
                cost=Cost(**d["cost"]), metrics=dict(d.get("metrics", {})),
                matrix=None if matrix is None else tuple(tuple(float(v) for v in row) for row in matrix),
                outputs=tuple(Output(**o) for o in d.get("outputs", ())),
                base_columns=None if base_cols is None else tuple(float(v) for v in base_cols),
                full_columns=None if full_cols is None else tuple(float(v) for v in full_cols),
                stderr=_floats(d.get("stderr")),
                interval=None if d.get("interval") is None else tuple(
                    (float(lo), float(hi)) for lo, hi in d["interval"]),
                certain_top=None if d.get("certain_top") is None else int(d["certain_top"]),
                matrix_stderr=None if d.get("matrix_stderr") is None else tuple(
                    tuple(float(v) for v in row) for row in d["matrix_stderr"]),
                uncertainty=dict(d.get("uncertainty") or {}),
                version=d["version"], schema_version=SCHEMA_VERSION,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a whyllm explanation: missing or malformed field ({exc})") from exc

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        return cls.from_dict(parse_json_object(text, "a whyllm explanation"))

    # --- views -----------------------------------------------------------------------------
    def to_frame(self):
        """One row per feature: text, span, value, its standard error and 95 % interval (NaN where
        the method states none), rank (1 = most supportive) and whether it is in the certain top-k."""
        import pandas as pd

        rank = np.empty(len(self.values), dtype=int)
        rank[self.ranking()] = np.arange(1, len(self.values) + 1)
        nan = [float("nan")] * len(self.values)
        return pd.DataFrame({
            "feature": [f.text for f in self.features],
            "start": [f.start for f in self.features],
            "end": [f.end for f in self.features],
            "value": list(self.values),
            "stderr": list(self.stderr) if self.stderr is not None else nan,
            "ci_low": [lo for lo, _ in self.interval] if self.interval is not None else nan,
            "ci_high": [hi for _, hi in self.interval] if self.interval is not None else nan,
            "rank": rank,
            "certain_top": [bool(self.certain_top and r <= self.certain_top) for r in rank],
        })

    def matrix_frame(self):
        """The matrix in long format: one row per (feature, output) with both spans and the value."""
        import pandas as pd

        if self.matrix is None:
            raise InputError(f"this explanation has no per-output matrix ({self.method} is scalar-only)")
        from whyllm.uncertainty import z_value

        z = z_value(self.uncertainty.get("level", 0.95), self.uncertainty.get("df"))
        se = self.matrix_stderr
        rows = []
        for i, f in enumerate(self.features):
            for j, o in enumerate(self.outputs):
                v = self.matrix[i][j]
                s = float("nan") if se is None else se[i][j]
                rows.append({"feature": f.text, "feature_index": i, "output": o.text, "output_index": j,
                             "output_start": o.start, "output_end": o.end, "part": o.part, "value": v,
                             "stderr": s, "ci_low": v - z * s, "ci_high": v + z * s})
        return pd.DataFrame(rows)

    def narrate(self, model, max_new_tokens: int = 160):
        """A chat model's two- or three-sentence account of this explanation, every claim checked
        against the numbers (:mod:`whyllm.report.narration`)."""
        return VIEWS.get("narrate")(self, model, max_new_tokens=max_new_tokens)

    def to_html(self, path: str | None = None) -> str:
        return render("html", self, path)

    def _repr_html_(self) -> str:
        return VIEWS.get("fragment")(self)

    def print(self, console=None) -> None:
        VIEWS.get("terminal")(self, console)
