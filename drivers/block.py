"""The unit of data that flows from a driver to the pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """Consecutive samples of one sensor, stamped from the device's own sample counter.

    ``data`` holds the raw integers exactly as the device sent them (bit-exact with what an
    emulator was given); ``scale``/``offset`` turn them into physical units. Timestamps come
    from the sample index anchored to the host clock, not from when the bytes arrived.
    """

    sensor: str
    kind: str
    rate: float
    t0: float
    """Host-clock epoch seconds of ``data[0]``."""
    index: int
    """Sample index of ``data[0]`` since the driver's stream began, lost samples included."""
    data: npt.NDArray[np.int32]
    """Shape ``(n, channels)``."""
    gap: int = 0
    """Samples lost immediately before ``data[0]`` (0: contiguous with the previous block)."""
    scale: float = 1.0
    offset: float = 0.0

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def t1(self) -> float:
        """Epoch seconds just after the last sample."""
        return self.t0 + len(self) / self.rate

    def physical(self) -> npt.NDArray[np.float64]:
        """The samples in physical units, ``(raw - offset) * scale``."""
        return (self.data.astype(np.float64) - self.offset) * self.scale


BlockSink = Callable[[SampleBlock], None]
"""Where drivers deliver blocks. Called from I/O threads: it must only enqueue."""
