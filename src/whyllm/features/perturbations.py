"""What removing a feature means: perturbation strategies, one class each.

A removed feature's tokens are dropped; what takes their place (once per run of removed tokens of
one feature) is the strategy's ``replacement``:

* ``delete``: nothing;
* ``replace``: a fixed filler (``" _"`` by default);
* ``model-words``: a word the model itself finds plausible in that slot: its top next-token
  guesses after the left context, computed once per feature, so perturbed texts stay natural
  (cf. Ribeiro et al. 2018, "Anchors", which samples replacement words from a language model).

A strategy with several options per feature (``model-words``) says how many (``choice_counts``), so
a sampler can draw among them; the default is the most plausible one. A new strategy is one class
plus its registry line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from whyllm.cost import CostMeter
from whyllm.models.base import LanguageModel
from whyllm.registry import Registry

N_CANDIDATES = 8


#: what ``perturbation="replace"`` puts in a removed feature's place unless told otherwise
DEFAULT_FILLER = " _"

class Perturbation(ABC):
    """Base class: subclasses set ``name`` and :meth:`replacement`."""

    name: ClassVar[str]

    @classmethod
    def build(cls, model: LanguageModel, ids: tuple[int, ...], groups: Sequence[Sequence[int]],
              filler: str, meter: CostMeter | None) -> Perturbation:
        """The strategy for one input (``groups``: each feature's token positions in ``ids``)."""
        return cls()

    @abstractmethod
    def replacement(self, feature: int, choice: int | None = None) -> tuple[int, ...]:
        """The tokens that stand in for removed feature ``feature`` (option ``choice``, if any)."""

    def choice_counts(self) -> list[int] | None:
        """Options per feature, for strategies that have several; None otherwise."""
        return None

    def recorded(self) -> dict[str, Any]:
        """What an explanation records about the strategy besides its name."""
        return {}


PERTURBATIONS: Registry[type[Perturbation]] = Registry("perturbation")


@PERTURBATIONS.register("delete")
class Delete(Perturbation):
    name = "delete"

    def replacement(self, feature: int, choice: int | None = None) -> tuple[int, ...]:
        return ()


@PERTURBATIONS.register("replace")
class Replace(Perturbation):
    name = "replace"

    def __init__(self, filler: str = DEFAULT_FILLER, filler_ids: tuple[int, ...] = ()) -> None:
        self.filler, self.filler_ids = filler, tuple(filler_ids)

    @classmethod
    def build(cls, model, ids, groups, filler, meter) -> Perturbation:
        return cls(filler, model.encode(filler, add_special_tokens=False).ids)

    def replacement(self, feature: int, choice: int | None = None) -> tuple[int, ...]:
        return self.filler_ids

    def recorded(self) -> dict[str, Any]:
        return {"filler": self.filler}


@PERTURBATIONS.register("model-words")
class ModelWords(Perturbation):
    name = "model-words"

    def __init__(self, candidates: Sequence[tuple[int, ...]]) -> None:
        self.candidates = [tuple(c) for c in candidates]

    @classmethod
    def build(cls, model, ids, groups, filler, meter) -> Perturbation:
        prefixes = [ids[:g[0]] for g in groups]
        return cls(model.word_candidates(prefixes, [ids[g[0]] for g in groups], N_CANDIDATES, meter=meter))

    def replacement(self, feature: int, choice: int | None = None) -> tuple[int, ...]:
        options = self.candidates[feature]
        return (options[0 if choice is None else int(choice) % len(options)],)

    def choice_counts(self) -> list[int] | None:
        return [len(c) for c in self.candidates]
