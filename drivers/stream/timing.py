"""Turn the digitizer's sample counter into stream indices and host-clock timestamps.

The counter, not the moment bytes arrive, says when a sample was taken: bytes wait in UART
FIFOs, USB packets and the kernel, and a busy reader picks up several frames at once. So a
frame's time is ``anchor + (index - anchor_index) / rate``, and the host clock only sets the
anchor.

- The first frame anchors the stream: it was complete when it arrived, so its first sample is
  placed ``n / rate`` before its arrival. During the settling window that follows, any frame
  that arrives earlier than predicted lowers the anchor (an arrival is an upper bound on when
  the frame was complete; the earliest one is the best estimate).
- After that the residual (arrival minus predicted end of frame) is tracked. A frame that
  arrives more than ``tolerance`` before it could have been sampled, or a best residual over a
  whole window more than ``tolerance`` late (device clock drift, a device that froze, a host
  clock step), moves the anchor: a *re-anchor*, counted.
- The counter is 32 bits and wraps; a forward jump is samples lost on the way (a *gap*). A
  jump backwards, or the BOOT flag, is a device reset: the stream is re-anchored on the host
  clock and the samples lost meanwhile are estimated from the host time that passed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from drivers.stream.codec import FLAG_BOOT

COUNTER_MOD = 1 << 32
SEQ_MOD = 1 << 16


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one frame goes in the driver's stream."""

    index: int
    """Stream index of the frame's first sample (lost samples included)."""
    t0: float
    """Host-clock seconds of the frame's first sample."""
    gap: int
    """Samples lost just before this frame."""
    reanchored: bool
    reset: bool
    """The device restarted (its counter went back, or it said so)."""


class StreamClock:
    """Places frames of one digitizer stream in index and time."""

    def __init__(self, rate: float, *, tolerance_s: float = 0.05, window_s: float = 2.0) -> None:
        if rate <= 0 or tolerance_s <= 0 or window_s <= 0:
            raise ValueError("rate, tolerance and window must be positive")
        self.rate = float(rate)
        self.tolerance_s = tolerance_s
        self.window_s = window_s
        self.gaps = 0
        self.samples_lost = 0
        self.frames_lost = 0
        self.reanchors = 0
        self.resets = 0
        self._started = False
        self._next_counter = 0  # expected raw counter of the next frame
        self._next_seq = 0
        self._next_index = 0
        self._last_arrival = 0.0
        self._anchor_t = 0.0
        self._anchor_index = 0
        self._anchored_at = 0.0  # arrival time of the last (re-)anchor: settling ends later
        self._window: deque[tuple[float, float]] = deque()  # (arrival, residual), min-queue

    @property
    def started(self) -> bool:
        return self._started

    @property
    def offset_s(self) -> float | None:
        """Best residual over the current window: how late the earliest frames arrive."""
        try:  # read from other threads (status) while the reader changes the window
            return self._window[0][1]
        except IndexError:
            return None

    def time_of(self, index: int) -> float:
        """Host-clock seconds of stream sample ``index`` under the current anchor."""
        return self._anchor_t + (index - self._anchor_index) / self.rate

    def place(self, counter: int, n: int, seq: int, flags: int, arrival: float) -> Placement:
        """Place a frame of ``n`` samples whose first sample has device ``counter``."""
        if not self._started:
            self._started = True
            self._anchor(0, arrival - n / self.rate, arrival)
            return self._advance(
                counter, n, seq, arrival, Placement(0, self._anchor_t, 0, False, False)
            )

        delta = (counter - self._next_counter) % COUNTER_MOD
        too_long = (arrival - self._last_arrival) * self.rate > COUNTER_MOD // 4
        if flags & FLAG_BOOT or delta >= COUNTER_MOD // 2 or too_long:
            # Reset: the counter no longer says how much time passed; the host clock does.
            self.resets += 1
            return self._advance(counter, n, seq, arrival, self._restart(n, arrival, reset=True))

        lost_frames = (seq - self._next_seq) % SEQ_MOD
        index = self._next_index + delta
        t0 = self.time_of(index)
        residual = arrival - (t0 + n / self.rate)
        if residual < -self.tolerance_s:
            # Arrived before it could have been sampled: the anchor is ahead of reality.
            if delta:
                # A counter jump this implausible is a device that restarted elsewhere.
                self.resets += 1
                return self._advance(
                    counter, n, seq, arrival, self._restart(n, arrival, reset=True)
                )
            self.reanchors += 1
            self._anchor(index, t0 + residual, arrival)
            placement = Placement(index, self._anchor_t, 0, True, False)
        else:
            reanchored = self._track(residual, arrival)
            placement = Placement(index, self.time_of(index), delta, reanchored, False)
        if delta:
            self.gaps += 1
            self.samples_lost += delta
            self.frames_lost += lost_frames
        return self._advance(counter, n, seq, arrival, placement)

    # -- internals ---------------------------------------------------------------------------

    def _restart(self, n: int, arrival: float, *, reset: bool) -> Placement:
        t0 = arrival - n / self.rate
        lost = max(0, round((t0 - self.time_of(self._next_index)) * self.rate))
        index = self._next_index + lost
        self.reanchors += 1
        if lost:
            self.gaps += 1
            self.samples_lost += lost
        self._anchor(index, t0, arrival)
        return Placement(index, t0, lost, True, reset)

    def _anchor(self, index: int, t: float, arrival: float) -> None:
        self._anchor_index = index
        self._anchor_t = t
        self._anchored_at = arrival
        self._window.clear()

    def _track(self, residual: float, arrival: float) -> bool:
        """Feed one residual; True if it moved the anchor (a counted re-anchor)."""
        settling = arrival - self._anchored_at < self.window_s
        if settling and residual < 0:
            # Still learning the latency floor: an earlier arrival is a better anchor.
            self._anchor_t += residual
            self._window.clear()
            residual = 0.0
        window = self._window
        while window and window[-1][1] >= residual:
            window.pop()
        window.append((arrival, residual))
        while arrival - window[0][0] > self.window_s:
            window.popleft()
        best = window[0][1]
        if not settling and best > self.tolerance_s:
            self.reanchors += 1
            self._anchor(self._anchor_index, self._anchor_t + best, arrival)
            return True
        return False

    def _advance(
        self, counter: int, n: int, seq: int, arrival: float, placement: Placement
    ) -> Placement:
        self._next_counter = (counter + n) % COUNTER_MOD
        self._next_seq = (seq + 1) % SEQ_MOD
        self._next_index = placement.index + n
        self._last_arrival = arrival
        return placement
