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
from dsp.priming import background_of, enough, flat_lead, smallest_step
from dsp.records import SensorEvent
from dsp.validity import (
    N_VPARAMS,
    NAN,
    QUIET_STEPS,
    V_INDEX,
    V_STEP,
    VP_CLIP_DEV,
    VP_CLIP_RUN,
    VP_DC,
    VP_FLAT_RUN,
    VP_MERGE,
    VP_QUIET_RUN,
    VP_SETTLE,
    close_all,
    continue_flat_line,
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
        step = self._quiet_lead(x, lead) if lead else 0.0
        dead = lead > 0 and not step
        # A quiet converter's flat start is its background and is learnt from; a dead one
        # is not.
        rest = x[lead:] if dead else x
        if self.primed or not enough(rest.shape[0], self.rate):
            return False
        finite = np.isfinite(rest) if rest.ndim == 1 else np.isfinite(rest).all(axis=1)
        if not enough(int(np.count_nonzero(finite)), self.rate):
            return False
        self.primed = self._prime(np.ascontiguousarray(rest[finite]))
        if self.primed and step:
            # The input checks know the converter's step from the start: its quiet reading
            # one value is no flat line.
            self.vs[V_STEP] = min(self.vs[V_STEP], step)
        if self.primed and dead:
            # A flat line from its first sample: the level just learnt from what follows
            # must not be dragged by a second of it first.
            probe = self._probe(x)
            level = float(np.median(probe[lead:][np.isfinite(probe[lead:])]))
            continue_flat_line(self.vs, float(probe[0]), level, self.vp)
        return self.primed

    def _quiet_lead(self, x: FloatArray, lead: int) -> float:
        """The converter's step if the first ``lead`` samples of ``x``, one value, are the
        background of what follows as the input checks see it; else 0 (a dead start)."""
        probe = self._probe(x)
        rest = probe[lead:][np.isfinite(probe[lead:])]
        step = smallest_step(rest)
        quiet = step > 0.0 and background_of(float(probe[0]), rest, QUIET_STEPS * step)
        return step if quiet else 0.0

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

    def _open_event(self) -> FloatArray | None:
        raise NotImplementedError

    def _event(self, row: FloatArray) -> SensorEvent:
        raise NotImplementedError

    def status(self) -> dict[str, Any]:
        raise NotImplementedError
