"""Host-clock timestamps for a device that counts its own samples.

The device takes sample ``k`` at ``a + k * period`` on the host clock, for an unknown ``a``.
Each poll gives hard bounds on ``a``: the device answered at some moment ``s`` between
sending the request and receiving the reply, and had then taken ``n`` samples, so sample
``n - 1`` was taken at or before ``s`` and sample ``n`` after it:

    sent - n * period  <  a  <=  received - (n - 1) * period

The intersection of these bounds over recent polls pins ``a`` down to about the round trip,
independently of when bytes happened to arrive (polls are dithered so their phase against
the sample grid varies). Slow drift between the device's oscillator and the host clock moves
the bounds a little at a time and ``a`` follows; a jump (the device stalled, restarted, or the
host clock was stepped) is larger than ``step_limit`` and re-anchors the clock.
"""

from __future__ import annotations

import math
from collections import deque


class SampleClock:
    """Maps stream sample indices to host epoch seconds."""

    def __init__(self, rate: float, *, window: int = 64, step_limit_s: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.period = 1.0 / rate
        self.step_limit = step_limit_s if step_limit_s is not None else max(2 * self.period, 0.02)
        self._bounds: deque[tuple[float, float]] = deque(maxlen=window)
        self._a: float | None = None
        self._first: tuple[float, float] | None = None  # (host time, a) after (re-)anchoring
        self.reanchors = 0
        """Times the clock had to jump (stall, restart, host clock step)."""

    @property
    def anchored(self) -> bool:
        return self._a is not None

    def time_of(self, index: int) -> float:
        """Host epoch seconds at which stream sample ``index`` was taken."""
        if self._a is None:
            raise RuntimeError("the sample clock has not seen a poll yet")
        return self._a + index * self.period

    def observe(self, sent: float, received: float, taken: int, *, running: bool = True) -> int:
        """Feed one poll: between ``sent`` and ``received`` the device answered, having taken
        stream samples ``0 .. taken - 1``.

        Returns how many sample slots to skip before the stream continues (> 0 when the
        device's samples now come later than this clock expects, as after a stall or a
        restart that lost time). The caller adds them to its stream index; this observation
        is taken as already shifted by them.

        ``running=False`` says the device had stopped sampling when it answered: sample
        ``taken`` may never come, so only the bound from the samples it did take holds.
        """
        period = self.period
        lo = sent - taken * period if running else -math.inf
        hi = received - (taken - 1) * period
        a = self._a
        if a is None:
            self._reset(max(lo, hi - period), hi, received)
            return 0
        if lo - a > self.step_limit:
            skip = max(0, round(((lo + hi) / 2 - a) / period))
            self._reset(lo - skip * period, hi - skip * period, received, keep=a)
            return skip
        if a - hi > self.step_limit:
            # Samples came earlier than expected: the host clock went back, or the device
            # runs far off its nominal rate. Timestamps cannot be kept continuous.
            self._reset(lo, hi, received)
            return 0
        self._bounds.append((lo, hi))
        low, high = self._extent()
        while low > high and len(self._bounds) > 1:
            # Older bounds no longer agree: the device oscillator drifted against the host.
            self._bounds.popleft()
            low, high = self._extent()
        a = min(max(a, low), high)
        # Settle towards the middle of what is possible, slowly enough that consecutive
        # blocks' timestamps stay continuous to well under a sample period.
        self._a = a + 0.5 * ((low + high) / 2 - a)
        return 0

    def drift_ppm(self, now: float, min_span_s: float = 60.0) -> float | None:
        """How much longer the device's sample period is than nominal, in parts per million,
        once enough time has passed since the last anchoring to say."""
        if self._a is None or self._first is None:
            return None
        t_first, a_first = self._first
        span = now - t_first
        if span < min_span_s:
            return None
        return (self._a - a_first) / span * 1e6

    def _extent(self) -> tuple[float, float]:
        return max(b[0] for b in self._bounds), min(b[1] for b in self._bounds)

    def _reset(self, lo: float, hi: float, now: float, keep: float | None = None) -> None:
        if self._a is not None:
            self.reanchors += 1
        self._bounds.clear()
        self._bounds.append((lo, hi))
        self._a = min(max(keep, lo), hi) if keep is not None else (lo + hi) / 2
        self._first = (now, self._a)
