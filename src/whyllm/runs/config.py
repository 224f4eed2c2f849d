"""What a dataset run computes: the model, the template, the columns, and one or more methods side by
side, from command-line flags or a small TOML file.

    model = "gemma-3-270m"            # a load_model spec, or "py:module:function" (a model factory)
    dtype = "float32"
    template = "Review: {text}\\nSentiment:"
    evaluate = true                   # also store each explanation's faithfulness

    [columns]
    text = "sentence"
    label = "label"
    target = [" positive", " negative"]   # one target for every row (or target_column = "answer")

    [[methods]]
    method = "kernelshap"
    budget = 64

    [[methods]]
    name = "lime-64"
    method = "lime"
    budget = 64
    options = { kernel_width = 25.0 }

Each method's **configuration hash** (SHA-256 of everything that determines its explanations: the
model spec and dtype, the template, the target mapping, the method, features, budget, seed and
options) is part of a stored row's key, so a changed setting is computed anew and never mixed up
with old rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from whyllm.errors import InputError
from whyllm.runs.dataset import Columns


@dataclass(frozen=True)
class MethodSpec:
    method: str = "kernelshap"
    name: str | None = None
    features: str = "words"
    budget: int | None = None
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.method


@dataclass(frozen=True)
class RunConfig:
    columns: Columns
    methods: tuple[MethodSpec, ...]
    model: str | None = None
    dtype: str = "auto"
    template: str | None = None
    evaluate: bool = False
    max_new_tokens: int = 5

    def __post_init__(self) -> None:
        if not self.methods:
            raise InputError("a run needs at least one method")
        labels = [m.label for m in self.methods]
        if len(set(labels)) != len(labels):
            raise InputError(f"two methods share a name ({labels}); give each a distinct name")

    def config_hash(self, spec: MethodSpec) -> str:
        what = {"model": self.model, "dtype": self.dtype, "template": self.template,
                "target": [self.columns.target, self.columns.fixed_target], "text": self.columns.text,
                "max_new_tokens": self.max_new_tokens, "evaluate": self.evaluate, "method": asdict(spec)}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


#: the keys of a ``[columns]`` table (``target`` is one target for every row, ``target_column`` a column)
COLUMN_KEYS = ("text", "label", "id", "target", "target_column")


def read_config(path: str | Path) -> dict[str, Any]:
    """The TOML file as a dict (validated when the run config is built)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the run config {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"the run config {path} is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not TOML: {exc}") from exc


def method_spec(d: dict[str, Any]) -> MethodSpec:
    known = {"method", "name", "features", "budget", "seed", "options"}
    extra = set(d) - known
    if extra:
        raise InputError(f"a [[methods]] entry takes {', '.join(sorted(known))}; "
                         f"not {', '.join(sorted(extra))}")
    return MethodSpec(**{k: (dict(v) if k == "options" else v) for k, v in d.items()})


def build_config(toml: dict[str, Any] | None = None, **flags: Any) -> RunConfig:
    """The run's configuration: the TOML file's settings, overridden by the flags that were given."""
    toml = dict(toml or {})
    cols = toml.pop("columns", {})
    if not isinstance(cols, dict):
        raise InputError("[columns] in the run config is a table of column names")
    cols = dict(cols)
    target = cols.pop("target", None)
    fixed = tuple(target) if isinstance(target, list) else target
    for key, flag in (("text", "text_column"), ("label", "label_column"), ("id", "id_column")):
        if flags.get(flag) is not None:
            cols[key] = flags[flag]
    if "target_column" in cols:
        cols["target"] = cols.pop("target_column")
    if flags.get("target_column") is not None:
        cols["target"] = flags["target_column"]
    if flags.get("target") is not None:
        fixed = flags["target"] if flags.get("against") is None else (flags["target"], flags["against"])
    unknown = set(cols) - {"text", "label", "id", "target"}  # target_column is renamed target above
    if unknown:
        raise InputError(f"unknown keys under [columns]: {', '.join(sorted(unknown))} (it takes "
                         f"{', '.join(COLUMN_KEYS)})")
    columns = Columns(fixed_target=fixed, **cols)
    methods = [method_spec(m) for m in toml.pop("methods", [])]
    if flags.get("method") is not None or not methods:
        methods = [MethodSpec(method=flags.get("method") or "kernelshap",
                              features=flags.get("features") or "words",
                              budget=flags.get("budget"), seed=flags.get("seed") or 0,
                              options=dict(flags.get("options") or {}))]
    keys = ("model", "dtype", "template", "evaluate", "max_new_tokens")
    settings = {k: toml.pop(k) for k in keys if k in toml}
    if toml:
        raise InputError(f"unknown run config keys: {', '.join(sorted(toml))}")
    for key in ("model", "dtype", "template", "evaluate"):
        if flags.get(key) not in (None, False):
            settings[key] = flags[key]
    return RunConfig(columns=columns, methods=tuple(methods), **settings)
