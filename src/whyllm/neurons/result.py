"""The result of a neuron search: a :class:`NeuronSet`, its own type (not an attribution).

It records the input and target it was found for, the neurons with the values they are enforced
at, the enforced and unenforced precision on held-out perturbations (:class:`~whyllm.fits.NeuronFit`),
the parameters, the model and the cost. JSON round-trips exactly; ``print`` and ``to_html`` show
the neurons and their precision. Files written by earlier versions as an Explanation with
``method: "neurons"`` (and all-zero values) load too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from whyllm._version import READABLE_SCHEMAS, SCHEMA_VERSION, __version__
from whyllm.cost import Cost
from whyllm.errors import InputError
from whyllm.explanation import parse_json_object
from whyllm.features import Feature
from whyllm.fits import NeuronFit, fit_from_dict
from whyllm.models.base import ModelInfo
from whyllm.registry import VIEWS, render
from whyllm.targets import Target

KIND = "neurons"


@dataclass(frozen=True)
class NeuronSet:
    """MLP neurons that, enforced at the last prompt position, keep ``target``'s decision."""

    text: str
    template: str | None
    feature_kind: str
    features: tuple[Feature, ...]
    base_value: float
    full_value: float
    target: Target
    params: dict[str, Any]
    seed: int | None
    model: ModelInfo
    fit: NeuronFit
    cost: Cost = field(default_factory=Cost)
    method: str = KIND
    version: str = __version__
    schema_version: int = SCHEMA_VERSION

    @property
    def prompt(self) -> str:
        return self.text if self.template is None else self.template.replace("{text}", self.text, 1)

    @property
    def neurons(self) -> list[dict]:
        return self.fit.neurons

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = [f.to_dict() for f in self.features]
        d["target"], d["fit"] = self.target.to_dict(), self.fit.to_dict()
        return d

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeuronSet:
        if d.get("schema_version") not in READABLE_SCHEMAS or d.get("method") != KIND:
            raise InputError("not a whyllm neuron set (written by whyllm neurons --json)")
        try:
            return cls(
                text=d["text"], template=d["template"], feature_kind=d["feature_kind"],
                features=tuple(Feature(**f) for f in d["features"]), base_value=float(d["base_value"]),
                full_value=float(d["full_value"]), target=Target.from_dict(d["target"]),
                params=dict(d["params"]), seed=d["seed"], model=ModelInfo(**d["model"]),
                fit=fit_from_dict(dict(d["fit"]), KIND), cost=Cost(**d["cost"]), version=d["version"])
        except (KeyError, TypeError) as exc:
            raise InputError(f"not a whyllm neuron set: missing or malformed field {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> NeuronSet:
        return cls.from_dict(parse_json_object(text, "a whyllm neuron set"))

    def print(self, console=None) -> None:
        VIEWS.get("neurons-terminal")(self, console)

    def to_html(self, path: str | None = None) -> str:
        return render("neurons-html", self, path)
