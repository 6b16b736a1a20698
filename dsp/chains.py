"""The detector's per-sensor chains, registered by sensor kind name.

A chain turns one sensor's samples into :class:`~dsp.records.SensorEvent` and flags,
block by block with its state carried across. Each chain module registers a factory for its
kind with :func:`register_chain`; the detector makes its chains with :func:`make_chain`.
dsp knows kinds only by name: the built-in chains are loaded here, and the chain of any other
kind is loaded by whoever knows the kind (its descriptor names the module).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from dsp.config import DspConfig
from dsp.records import SensorEvent, SensorSpec
from dsp.sample_chain import RawFlag

FloatArray = npt.NDArray[np.float64]
Output = tuple[list[SensorEvent], list[RawFlag]]

BUILTIN_CHAINS = ("dsp.seismic", "dsp.pir", "dsp.magnetic")


class Chain(Protocol):
    """What the detector asks of a chain (see :class:`dsp.sample_chain.SampleChain`).

    A chain may also offer ``usable_share(t0, t1) -> float``: the share of that stretch
    (seconds from stream start) it could hear in. A sensor whose share over an event is
    low counts as not working for it (``dsp.detector``; the geophone's chain offers it)."""

    @property
    def next_index(self) -> int: ...

    def feed(
        self, x: FloatArray, bad_kind: int = ...
    ) -> tuple[list[SensorEvent], list[RawFlag]]: ...

    def close(self) -> Output: ...

    def prime(self, x: FloatArray) -> bool: ...

    def reset(self, at_index: int) -> None: ...

    def open_since(self) -> float | None: ...

    def open_until(self) -> float: ...

    def next_from(self) -> float | None: ...

    def open_continues(self) -> bool: ...

    def status(self) -> dict[str, Any]: ...


ChainFactory = Callable[[SensorSpec, DspConfig], tuple[Chain, int]]
"""``(spec, config) -> (chain, column)``: the column of the sensor's samples the chain
takes (-1: all of them)."""

_CHAINS: dict[str, ChainFactory] = {}
_SLOWEST: dict[str, float] = {}


def register_chain(kind: str, slowest_hz: float = 0.0) -> Callable[[ChainFactory], ChainFactory]:
    """Decorator: ``@register_chain("pir", slowest_hz=4.0)`` makes the function the factory
    for that kind, whose chain cannot use samples slower than ``slowest_hz``."""

    def decorate(factory: ChainFactory) -> ChainFactory:
        if kind in _CHAINS and _CHAINS[kind] is not factory:
            raise RuntimeError(f"two chains registered for sensor kind {kind!r}")
        _CHAINS[kind] = factory
        _SLOWEST[kind] = slowest_hz
        return factory

    return decorate


def _load_builtin() -> None:
    for module in BUILTIN_CHAINS:
        importlib.import_module(module)


def slowest_rate(kind: str) -> float:
    """The lowest sample rate (Hz) the chain of ``kind`` can use (0: no limit known)."""
    _load_builtin()
    return _SLOWEST.get(kind, 0.0)


def make_chain(spec: SensorSpec, config: DspConfig) -> tuple[Chain, int]:
    _load_builtin()
    factory = _CHAINS.get(spec.kind)
    if factory is None:
        raise ValueError(f"sensor {spec.name!r}: unknown kind {spec.kind!r}")
    slowest = _SLOWEST.get(spec.kind, 0.0)
    if spec.rate < slowest:
        raise ValueError(
            f"sensor {spec.name!r}: {spec.rate:.4g} Hz is too slow for the {spec.kind} "
            f"detector, which needs at least {slowest:g} Hz"
        )
    return factory(spec, config)
