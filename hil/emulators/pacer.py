"""Pace a sample stream against the monotonic clock, in real time or faster."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Pacer:
    """Says how many samples are due by now for a stream of ``rate`` Hz played at ``speed``×.

    Counting from a fixed start (instead of sleeping one period per sample) keeps the long-run
    rate exact: a late wake-up is caught up on the next call rather than lost.
    """

    def __init__(
        self,
        rate: float,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or speed <= 0:
            raise ValueError("rate and speed must be positive")
        self.rate = rate
        self.speed = speed
        self._clock = clock
        self._start = clock()
        self._paused_at: float | None = None

    def due(self) -> int:
        """Total samples that should have been emitted since the start."""
        now = self._paused_at if self._paused_at is not None else self._clock()
        return math.floor((now - self._start) * self.rate * self.speed)

    def seconds_until(self, sample: int) -> float:
        """Wall-clock seconds until ``sample`` becomes due (<= 0 if already due)."""
        return self._start + sample / (self.rate * self.speed) - self._clock()

    def pause(self) -> None:
        """Stop time for this stream (a stalled device): nothing becomes due."""
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self, *, skip: bool = False) -> None:
        """Continue after a pause; ``skip`` drops the samples that fell due while paused."""
        if self._paused_at is None:
            return
        if not skip:
            self._start += self._clock() - self._paused_at
        self._paused_at = None
