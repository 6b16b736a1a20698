"""A simple built-in waveform for the emulators: quiet noise with occasional events.

Used by ``ugs-gateway hil`` and ``demo`` when no scenario or recording is given. Samples are a
pure function of ``(seed, index)``: any read of any range gives the same values, so a test or
a replay can ask for sample ``k`` again and get it bit for bit.

An *event* is a damped sinusoid on every channel (with a random gain per channel) on top of
a constant baseline and Gaussian noise: a knock on the ground for the geophone, a body
crossing the two pyroelectric elements for the PIR (a slow bipolar swing), a passing car's
bump for the magnetometer.
"""

from __future__ import annotations

import importlib
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from drivers.kinds import kind_of
from hil.emulators.source import Samples

CHUNK_S = 1.0  # samples are generated per chunk of this many seconds
_CACHE_CHUNKS = 8


@dataclass(frozen=True)
class EventShape:
    amplitude: float
    """Peak of the damped sinusoid, in raw counts."""
    freq_hz: float
    decay_s: float
    every_s: float
    """Mean time between events (Poisson)."""


@dataclass(frozen=True)
class Waveform:
    """What an emulator plays when it is given nothing else, in the raw counts it takes.

    Each emulator module defines its kind's as ``WAVEFORM`` (found through the kind's
    descriptor, :func:`waveform`).
    """

    baseline: tuple[float, ...]
    """Level of each channel; as many channels as the ambient waveform has."""
    noise: float
    """Standard deviation of the noise, in counts."""
    event: EventShape
    quiet_rate: float
    """Rate of the quiet background played for a kind a recording lacks."""
    quiet_noise: float
    quiet_channels: int
    play_channels: int | None = None
    """Columns the emulator plays from a recording (None: all it has); fewer are repeated."""
    holds_level: bool = False
    """After a recording, the background carries on at its last level (a steady field)."""


def waveform(kind: str) -> Waveform:
    """The default waveform of a kind's emulator (the module its descriptor names)."""
    found: Waveform = importlib.import_module(kind_of(kind).emulator).WAVEFORM
    return found


def count_limits(kind: str) -> tuple[int, int]:
    """The signed range of a kind's device samples."""
    bits = kind_of(kind).bits
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


class AmbientSource:
    """Noise + baseline + random events; a :class:`~hil.emulators.source.WaveformSource`."""

    def __init__(
        self,
        rate: float,
        channels: int,
        *,
        seed: int = 0,
        baseline: Sequence[float] | float = 0.0,
        noise: float = 300.0,
        event: EventShape | None = None,
        limits: tuple[int, int] = (-(1 << 31), (1 << 31) - 1),
    ) -> None:
        if rate <= 0 or channels < 1:
            raise ValueError("a source needs a positive rate and at least one channel")
        self._rate = float(rate)
        self._channels = channels
        self.seed = seed
        base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (channels,))
        self._baseline = base.copy()
        self._noise = noise
        self._event = event
        self._limits = limits
        self._chunk = max(1, round(rate * CHUNK_S))
        self._cache: OrderedDict[int, Samples] = OrderedDict()

    @classmethod
    def preset(
        cls, kind: str, rate: float, *, seed: int = 0, channels: int | None = None
    ) -> AmbientSource:
        """The default waveform for one device kind (``seismic``, ``pir``, ``magnetometer``)."""
        wave = waveform(kind)
        n = channels or len(wave.baseline)
        return cls(
            rate, n, seed=seed, baseline=list(wave.baseline[:n]) or [0.0], noise=wave.noise,
            event=wave.event, limits=count_limits(kind),
        )  # fmt: skip

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    def read(self, start: int, n: int) -> Samples:
        if n <= 0:
            return np.zeros((0, self._channels), dtype=np.int32)
        first, last = start // self._chunk, (start + n - 1) // self._chunk
        parts = [self._chunk_samples(k) for k in range(first, last + 1)]
        joined = parts[0] if len(parts) == 1 else np.concatenate(parts)
        offset = start - first * self._chunk
        return joined[offset : offset + n]

    # -- generation --------------------------------------------------------------------------

    def _chunk_samples(self, k: int) -> Samples:
        cached = self._cache.get(k)
        if cached is not None:
            self._cache.move_to_end(k)
            return cached
        size = self._chunk
        rng = np.random.default_rng((self.seed, k, 0))
        values = self._baseline + rng.normal(0.0, self._noise, (size, self._channels))
        if self._event is not None:
            self._add_events(values, k)
        lo, hi = self._limits
        samples = np.clip(np.round(values), lo, hi).astype(np.int32)
        self._cache[k] = samples
        if len(self._cache) > _CACHE_CHUNKS:
            self._cache.popitem(last=False)
        return samples

    def _add_events(self, values: np.ndarray, k: int) -> None:
        event = self._event
        assert event is not None
        size = self._chunk
        length = round(5 * event.decay_s * self._rate)  # an event has died out after 5 decays
        reach = math.ceil(length / size)
        for j in range(k - reach, k + 1):
            if j < 0:
                continue
            rng = np.random.default_rng((self.seed, j, 1))
            count = rng.poisson(size / self._rate / event.every_s)
            for _ in range(count):
                onset = j * size + int(rng.integers(0, size))
                gains = rng.uniform(-1.0, 1.0, self._channels)
                lo = max(onset, k * size)
                hi = min(onset + length, (k + 1) * size)
                if lo >= hi:
                    continue
                t = (np.arange(lo, hi) - onset) / self._rate
                wave = (
                    event.amplitude
                    * np.exp(-t / event.decay_s)
                    * np.sin(2 * np.pi * event.freq_hz * t)
                )
                values[lo - k * size : hi - k * size] += wave[:, None] * gains
