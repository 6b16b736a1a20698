"""What the PIR and magnetometer chains share: state, buffers, flags, time keeping.

Subclasses provide the kernel call (``_run``), the open event at end of stream
(``_open_event``) and the event record -> ``SensorEvent`` conversion (``_event``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.config import DspConfig
from dsp.priming import enough, flat_lead, quiet_start, smallest_step
from dsp.records import SensorEvent
from dsp.validity import (
    N_VPARAMS,
    NAN,
    V_INDEX,
    VP_CLIP_DEV,
    VP_CLIP_FLAT_RUN,
    VP_CLIP_RUN,
    VP_DC,
    VP_FLAT_RUN,
    VP_MERGE,
    VP_QUIET_RUN,
    VP_SETTLE,
    close_all,
    start_on_flat,
    validity_state,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
QUIET_FLATLINE_S = 60.0
"""A quiet sensor on a coarse converter (its noise within a step or two) may read one value
for seconds; only this long at its background level makes that a flat line."""

RawFlag = tuple[int, int, int]
"""(kind, first input sample, end input sample)."""


def flat_run(config: DspConfig, rate: float) -> int:
    """Identical samples that make a flat line (a dead sensor or a stuck converter)."""
    return max(config.input.clip_run + 1, round(config.input.flatline_s * rate))


def validity_params(config: DspConfig, rate: float, settle_s: float) -> FloatArray:
    """Input-check parameters for a stream at ``rate`` (see dsp.validity)."""
    inp = config.input
    vp = np.zeros(N_VPARAMS)
    vp[VP_CLIP_RUN] = inp.clip_run
    vp[VP_CLIP_DEV] = math.inf  # seismic sets it once its noise floor is known
    vp[VP_FLAT_RUN] = flat_run(config, rate)
    vp[VP_QUIET_RUN] = max(vp[VP_FLAT_RUN], round(QUIET_FLATLINE_S * rate))
    vp[VP_CLIP_FLAT_RUN] = vp[VP_FLAT_RUN]  # a kind whose swings hold a rail says how long
    vp[VP_MERGE] = max(1, round(inp.merge_s * rate))
    vp[VP_SETTLE] = round(settle_s * rate)
    vp[VP_DC] = 1.0 / (5.0 * rate)
    return vp


class SampleChain:
    kind = ""
    n_state = 0
    n_event_cols = 0

    def __init__(self, name: str, rate: float, config: DspConfig, settle_s: float) -> None:
        self.name = name
        self.rate = float(rate)
        self.vp = validity_params(config, self.rate, settle_s)
        self._events = np.zeros((0, self.n_event_cols))
        self._flags = np.zeros((0, 3), dtype=np.int64)
        self.reset(0)

    def reset(self, at_index: int) -> None:
        """Start afresh at input sample ``at_index`` (after a long gap)."""
        self.st = np.zeros(self.n_state)
        self.vs = validity_state(at_index)
        self._reset_filters()
        self.primed = False

    @property
    def next_index(self) -> int:
        return int(self.vs[V_INDEX])

    def time(self, index: float) -> float:
        """Seconds from stream start of input sample ``index``."""
        return index / self.rate

    def feed(self, x: FloatArray, bad_kind: int = NAN) -> tuple[list[SensorEvent], list[RawFlag]]:
        n = x.shape[0]
        # Worst case one event per sample (a crossing is at least hold + 1 samples long).
        if self._events.shape[0] < n + 2:
            self._events = np.zeros((n + 2, self.n_event_cols))
        if self._flags.shape[0] < n + 8:
            self._flags = np.zeros((n + 8, 3), dtype=np.int64)
        n_ev, n_fl = self._run(x, bad_kind)
        if not (n_ev or n_fl):
            return [], []
        events = [self._event(self._events[i]) for i in range(n_ev)]
        flags = [(int(k), int(a), int(b)) for k, a, b in self._flags[:n_fl]]
        return events, flags

    def close(self) -> tuple[list[SensorEvent], list[RawFlag]]:
        """End of stream (or before a reset): the open event and flagged stretches."""
        row = self._open_event()
        events = [self._event(row)] if row is not None else []
        for ev in events:
            ev.truncated = True
        flags = np.zeros((8, 3), dtype=np.int64)
        n = close_all(self.vs, flags)
        return events, [(int(k), int(a), int(b)) for k, a, b in flags[:n]]

    def prime(self, x: FloatArray) -> bool:
        """Learn the noise level from the quiet parts of ``x``, the input about to be fed
        (dsp.priming), so that an event in it is seen from its start; False (and the chain
        warms up as it goes) when ``x`` is too short or holds nothing to learn from."""
        lead = flat_lead(x, int(self.vp[VP_FLAT_RUN]))
        probe = self._probe(x)
        step = smallest_step(probe[lead:]) if lead else 0.0
        quiet = bool(lead) and quiet_start(float(probe[0]), probe[lead:], step)
        # A quiet converter's flat start is its background and is learnt from; a dead one
        # is not, and is flagged from its first sample, so that the level learnt from what
        # follows is not dragged by a second of it first.
        rest = x[lead:] if lead and not quiet else x
        if self.primed or not enough(rest.shape[0], self.rate):
            return False
        finite = np.isfinite(rest) if rest.ndim == 1 else np.isfinite(rest).all(axis=1)
        if not enough(int(np.count_nonzero(finite)), self.rate):
            return False
        self.primed = self._prime(np.ascontiguousarray(rest[finite]))
        if self.primed and lead:
            start_on_flat(self.vs, self.vp, float(probe[0]), probe[lead:], step, quiet)
        return self.primed

    def _probe(self, x: FloatArray) -> FloatArray:
        """What the input checks look at of each sample of ``x`` (its single value)."""
        return x if x.ndim == 1 else x[:, 0]

    # -- subclass hooks -----------------------------------------------------------------------

    def _prime(self, x: FloatArray) -> bool:
        raise NotImplementedError

    def _reset_filters(self) -> None:
        raise NotImplementedError

    def _run(self, x: FloatArray, bad_kind: int) -> tuple[int, int]:
        raise NotImplementedError

    def open_since(self) -> float | None:
        """Start (seconds from stream start) of the event open now, if any."""
        raise NotImplementedError

    def open_until(self) -> float:
        """The earliest the open event can end (just after its last active sample)."""
        raise NotImplementedError

    def next_from(self) -> float | None:
        """Events here are never cut in pieces: the next one starts after the current
        time (the fusion's own margin covers its trigger)."""
        return None

    def open_continues(self) -> bool:
        """Events here are never cut in pieces: an open one began at its trigger."""
        return False

    def _open_event(self) -> FloatArray | None:
        raise NotImplementedError

    def _event(self, row: FloatArray) -> SensorEvent:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        raise NotImplementedError
