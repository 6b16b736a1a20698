"""The outbox's own clock: how old a stored report is, whatever the wall clock does.

A report's age decides when ``max_age`` drops it, and the wall clock cannot be trusted for
that: a unit without a real-time clock boots in the past, NTP or GNSS then steps it, and a
bad fix can step it by days either way. Aged on the wall clock, a forward step larger than
``max_age`` would empty the outbox at once and a backward step would stop ageing altogether.

So each report is stamped (``stored_at``) in *outbox time*: the wall clock read once when
the outbox opens, then carried forward by the monotonic clock, which no step moves. Two
rules keep it sensible across restarts and unset clocks:

- At open it never starts behind the newest report in the file: a wall clock that went
  back (or a unit that booted in 1970) continues from there instead of making every report
  look younger than it is, or "from the future".
- While it reads before :data:`gateway.clock.FLOOR` (the clock was not set when the outbox
  opened), it follows the wall clock as soon as that becomes plausible: the first setting
  of the clock is not a step to guard against. Reports stamped before that have no known
  age and only the byte bounds apply to them (see :mod:`gateway.outbox.bounds`).

What a step does, then: nothing while the service runs. Across a restart, the wall clock
is read again, so a unit that was switched off for a day sees its reports a day older; a
step made while it was running shows only from the next start on, as if it had been off.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.clock import plausible

Clock = Callable[[], float]


class OutboxClock:
    """Outbox time in epoch seconds: see the module doc. Not thread-safe (the outbox's lock)."""

    def __init__(self, wall: Clock = time.time, monotonic: Clock = time.monotonic) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._base = 0.0
        self._since = 0.0
        self.start()

    def start(self, newest_stored: float = 0.0) -> None:
        """Read the wall clock again (a file was opened); never behind ``newest_stored``."""
        self._base = max(self._wall(), newest_stored)
        self._since = self._monotonic()

    def now(self) -> float:
        now = self._base + (self._monotonic() - self._since)
        if not plausible(now):
            wall = self._wall()
            if plausible(wall):  # the clock was just set: not a step, the first real time
                self._base, self._since = wall, self._monotonic()
                return wall
        return now

    def wall(self) -> float:
        """The wall clock itself (for times shown to people, never for ages)."""
        return self._wall()
