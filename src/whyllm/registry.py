"""A small named registry: one line adds a method, segmenter, backend or target kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from whyllm.errors import UnknownNameError

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
