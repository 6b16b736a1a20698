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
    """What the detector asks of a chain (see :class:`dsp.sample_chain.SampleChain`)."""

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

    def status(self) -> dict[str, Any]: ...


ChainFactory = Callable[[SensorSpec, DspConfig], tuple[Chain, int]]
"""``(spec, config) -> (chain, column)``: the column of the sensor's samples the chain
takes (-1: all of them)."""

_CHAINS: dict[str, ChainFactory] = {}


def register_chain(kind: str) -> Callable[[ChainFactory], ChainFactory]:
    """Decorator: ``@register_chain("pir")`` makes the function the factory for that kind."""

    def decorate(factory: ChainFactory) -> ChainFactory:
        if kind in _CHAINS and _CHAINS[kind] is not factory:
            raise RuntimeError(f"two chains registered for sensor kind {kind!r}")
        _CHAINS[kind] = factory
        return factory

    return decorate


def make_chain(spec: SensorSpec, config: DspConfig) -> tuple[Chain, int]:
    for module in BUILTIN_CHAINS:
        importlib.import_module(module)
    factory = _CHAINS.get(spec.kind)
    if factory is None:
        raise ValueError(f"sensor {spec.name!r}: unknown kind {spec.kind!r}")
    return factory(spec, config)
