"""Successive FIFO reads of one device -> one gap-accounted, timestamped sample stream.

Each read (docs/registers.md) holds the device's counter and its newest samples. The stream
index of a sample counts samples since the stream began, lost ones included, so that
``index / rate`` keeps time: samples the FIFO no longer held become a gap of exactly that
many, and a device whose sampling stopped for a while (stall, restart) gets a gap as long as
the time it lost (from :class:`~drivers.timebase.SampleClock`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.modbus.registers import (
    COUNTER_MODULUS,
    STATUS_ACQUIRING,
    FifoBlock,
    counter_advance,
)
from drivers.timebase import SampleClock


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one read adds to the stream."""

    index: int
    """Stream index of ``data[0]``."""
    data: npt.NDArray[np.int32]
    """New samples, oldest first, ``(n, channels)`` (n may be 0)."""
    gap: int
    """Samples lost just before ``data[0]``."""


class FifoStream:
    """The stream of one device, fed with its FIFO reads in order."""

    def __init__(self, rate: float) -> None:
        self.clock = SampleClock(rate)
        self.counter: int | None = None
        """Device counter after the newest sample taken into the stream (None: no read yet)."""
        self.next_index = 0
        """Stream index the next sample will have."""

    def pending(self, counter: int) -> int | None:
        """Samples a read with ``counter`` would bring; None on the first read or for a
        counter that went back (a late reply)."""
        if self.counter is None:
            return None
        advance = counter_advance(self.counter, counter)
        return None if advance >= COUNTER_MODULUS // 2 else advance

    def restarted(self) -> None:
        """The device restarted: its counter began again at zero."""
        if self.counter is not None:
            self.counter = 0

    def take(
        self, block: FifoBlock, sent: float, received: float, *, trusted: bool = True
    ) -> Delivery | None:
        """Add a read made between ``sent`` and ``received`` (host clock). ``trusted=False``
        for a reply that may answer an earlier request (after a timeout on RTU, which has no
        transaction ids). Returns None for a late reply whose counter went back."""
        window = block.newest_first.shape[0]
        if self.counter is None:
            # The first read: everything the FIFO still holds starts the stream.
            advance = fresh = min(window, block.counter)
            lost = 0
        else:
            pending = self.pending(block.counter)
            if pending is None:
                return None
            advance = pending
            fresh = min(advance, window)
            lost = advance - fresh
        # Only reads that bring samples move the clock: while a device is stalled its next
        # sample is late by an amount nobody knows until it samples again. A reply that may
        # be late, or from a device that says it stopped, bounds the time from above only.
        running = bool(block.status & STATUS_ACQUIRING) and trusted
        taken = self.next_index + advance
        skip = self.clock.observe(sent, received, taken, running=running) if fresh else 0
        index = self.next_index + skip + lost
        self.next_index += skip + advance
        self.counter = block.counter
        data = np.ascontiguousarray(block.newest_first[:fresh][::-1], dtype=np.int32)
        return Delivery(index=index, data=data, gap=skip + lost)
