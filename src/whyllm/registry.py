"""A small named registry: one line adds a method, segmenter, backend or target kind."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from whyllm.errors import InputError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to implementations of one axis (``what`` names the axis in error messages)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        if not isinstance(name, str) or name not in self._items:
            raise UnknownNameError(
                f"unknown {self.what} {name!r}; choose one of: {', '.join(sorted(self._items))}"
            )
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items


def check_params(owner: str, params: dict[str, Any], valid: tuple[str, ...]) -> None:
    """Refuse a parameter ``owner`` does not take, naming the closest valid one and all of them."""
    for key in params:
        if key in valid:
            continue
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        takes = ", ".join(valid) if valid else "no parameters"
        raise InputError(f"{owner} has no parameter {key!r}{hint} (it takes: {takes})")


def init_param_names(cls: type) -> tuple[str, ...]:
    """The keyword arguments of ``cls.__init__`` (scikit-learn's rule for what a parameter is)."""
    sig = inspect.signature(cls.__init__)
    return tuple(p.name for p in list(sig.parameters.values())[1:]
                 if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def render(view: str, result: Any, path: str | None = None) -> str:
    """The page the registered ``view`` makes of ``result``, also written to ``path`` if given."""
    page = VIEWS.get(view)(result)
    if path is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    return page


# how results are shown: ``html``, ``fragment``, ``terminal``, ``narrate`` (an Explanation) and
# ``neurons-html``, ``neurons-terminal`` (a NeuronSet). The report package fills it when ``whyllm`` is
# imported, so the result types reach their views without importing the layer above them.
VIEWS: Registry[Callable] = Registry("view")
