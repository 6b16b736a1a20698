"""Waveform sources that feed the device emulators.

A source hands out raw device integers by sample index, so an emulator can pace them in real
time (or faster) and a test can compare what a driver received with exactly what was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int32]


class WaveformSource(Protocol):
    """Raw samples of one device, shape ``(n, channels)``, addressed by sample index."""

    @property
    def rate(self) -> float: ...

    @property
    def channels(self) -> int: ...

    def read(self, start: int, n: int) -> Samples:
        """Samples ``start .. start+n``; fewer (possibly none) once the source has ended."""
        ...


class ArraySource:
    """A fixed array of samples, optionally repeated forever."""

    def __init__(self, data: npt.ArrayLike, rate: float, *, loop: bool = False) -> None:
        array = np.asarray(data)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[0] == 0:
            raise ValueError("a source needs a non-empty (n,) or (n, channels) array")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError("a source holds raw device integers; scale floats first")
        self._data: Samples = np.ascontiguousarray(array, dtype=np.int32)
        self._rate = float(rate)
        self._loop = loop

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def channels(self) -> int:
        return int(self._data.shape[1])

    def __len__(self) -> int:
        return int(self._data.shape[0])

    def read(self, start: int, n: int) -> Samples:
        total = len(self)
        if not self._loop:
            return self._data[start : start + n]
        idx = np.arange(start, start + n) % total
        return self._data[idx]


class FunctionSource:
    """Samples computed from time: ``fn(t_seconds) -> (n,) or (n, channels)`` raw values."""

    def __init__(
        self,
        fn: Callable[[npt.NDArray[np.float64]], npt.ArrayLike],
        rate: float,
        channels: int = 1,
        duration_s: float | None = None,
    ) -> None:
        self._fn = fn
        self._rate = float(rate)
        self._channels = channels
        self._end = None if duration_s is None else round(duration_s * rate)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def channels(self) -> int:
        return self._channels

    def read(self, start: int, n: int) -> Samples:
        if self._end is not None:
            n = max(0, min(n, self._end - start))
        t = np.arange(start, start + n, dtype=np.float64) / self._rate
        values = np.asarray(self._fn(t))
        values = values.reshape(n, self._channels)
        return np.ascontiguousarray(np.round(values), dtype=np.int32)
