"""Drivers registered by sensor kind: one file, one class, one name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from drivers.kinds import KINDS

T = TypeVar("T")

_DRIVERS: dict[str, type] = {}


def _load_builtin() -> None:
    # Each kind's descriptor names the module whose import registers its driver.
    for kind in KINDS.values():
        importlib.import_module(kind.driver)


def register(kind: str) -> Callable[[type[T]], type[T]]:
    """Class decorator: ``@register("pir")`` makes the class the driver for that kind."""

    def decorate(cls: type[T]) -> type[T]:
        if kind in _DRIVERS and _DRIVERS[kind] is not cls:
            raise RuntimeError(f"two drivers registered for {kind!r}")
        _DRIVERS[kind] = cls
        return cls

    return decorate


def driver_class(kind: str) -> type:
    """The driver class for a sensor kind (importing the built-in drivers first)."""
    _load_builtin()
    try:
        return _DRIVERS[kind]
    except KeyError:
        raise KeyError(f"no driver for sensor kind {kind!r}") from None


def registered_kinds() -> list[str]:
    _load_builtin()
    return sorted(_DRIVERS)
