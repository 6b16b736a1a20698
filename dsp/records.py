"""Plain records that flow out of the detector: sensor events, flagged stretches, detections."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One input stream: its name, kind (seismic|pir|magnetometer), rate and column count."""

    name: str
    kind: str
    rate: float
    channels: int = 1


@dataclass(slots=True)
class SensorEvent:
    """What one sensor's chain saw: a span and the features measured over it."""

    sensor: str
    kind: str
    t0: float
    t1: float
    features: dict[str, float]
    strength: float
    """Peak signal-to-noise ratio: which of several events of one kind speaks for the group."""
    truncated: bool = False
    """Still going on when its stream ended (or broke off): how long it lasts is unknown."""


@dataclass(frozen=True, slots=True)
class Flag:
    """A stretch of input that was not usable as it stood (``kind`` in FLAG_NAMES)."""

    sensor: str
    kind: str
    t0: float
    t1: float


@dataclass(slots=True)
class Detection:
    """One physical event: class, calibrated confidence, span and the sensors that saw it."""

    cls: str
    conf: float
    t0: float
    t1: float
    sensors: tuple[str, ...]
    features: dict[str, float]
    flags: tuple[str, ...] = ()
