"""The geophone chain of one sensor: state, kernel calls, events with their features."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from dsp.chains import register_chain
from dsp.config import DspConfig
from dsp.design import butter_sos, rational_ratio, resampling_filter
from dsp.features import seismic_features
from dsp.filters import polyphase, resampler_state
from dsp.priming import QUIET_WINDOW_S, enough, flat_lead, quiet_level, quiet_start
from dsp.records import SensorEvent, SensorSpec
from dsp.sample_chain import RawFlag, validity_params
from dsp.seismic_kernel import (
    B_FLOOR,
    B_LEAST,
    B_LTA,
    B_STA,
    F_BB,
    F_OK,
    F_PEAK,
    F_RATIO,
    F_SNR,
    K_TRIGGER,
    N_BAND_STATE,
    N_EVENT_COLS,
    N_FRAME_EXTRA,
    N_PARAMS,
    N_STATE,
    P_CDOWN,
    P_CEIL,
    P_CLIP_FACTOR,
    P_CLTA,
    P_CREEP,
    P_CSTA,
    P_DROP,
    P_FRAME,
    P_HOLD,
    P_IMP_OFF,
    P_IMP_ON,
    P_LOG_CEIL,
    P_LONG,
    P_LONG_DEPTH,
    P_MAXF,
    P_NSTA,
    P_OFF,
    P_ON,
    P_PLATEAU,
    P_RELEARN,
    P_SMOOTH,
    P_SPLIT_DEPTH,
    P_SPLIT_LEVEL,
    P_SPLIT_MIN,
    P_WARM,
    S_BB_STA,
    S_BG,
    S_EV_LAST,
    S_FRAME,
    S_IN_EVENT,
    S_NOISE,
    S_NOISE_LEAST,
    S_P_ABOVE,
    S_P_FALL,
    S_P_KIND,
    S_P_START,
    S_V_POS,
    S_WARM,
    seismic_block,
)
from dsp.validity import (
    NAN,
    V_INDEX,
    V_STEP,
    VP_CLIP_DEV,
    VP_FLAT_RUN,
    close_all,
    start_on_flat,
    validity_state,
)
from dsp.windows import LOUDNESS_SMOOTH_S

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


CHUNK_S = 10.0
"""Longest slice of input processed in one kernel call."""
SLOWEST_HZ = 60.0
"""Below 60 Hz the band where footsteps are loudest (10-30 Hz) is no longer whole and the
bands above it are empty: that looks like nothing the model was taught (units of 100 Hz and
up), and plain white noise gets reported as footsteps (at 30-50 Hz)."""

# The valley search that cuts an open event into pieces (seismic_kernel._valley); the depths
# and the time it may take are ``[dsp.seismic] split_depth_db``, ``split_level_db``, ``hold_s``.
SPLIT_MIN_S = 2.0
"""No piece shorter than this is cut off the start of a piece."""
LONG_PIECE_S = 40.0
LONG_DEPTH_DB = 3.0
"""A piece longer than ``LONG_PIECE_S`` is cut at a valley of only ``LONG_DEPTH_DB`` near
the event's loudness floor: sources back to back in gusty wind."""
FLOOR_CREEP_DB_S = 0.5
"""How fast an open event's running loudness floor may rise (dB/s): wind that picks up
during an event is background, a vehicle's slow approach is not."""


CALIBRATION_S = 120.0
"""Noise a chain is run over to learn how its quiet level relates to its noise floor."""

STEP_NOISE = 0.5
"""A converter that reads one value while all is quiet hides a background of up to about
half its step (rms): the level a chain takes when its quiet part measured nothing."""

NOTHING = 1e-6
"""The lowest a noise floor may sink, as a share of the converter's step noise (energy):
below it the input stood on one value, and what the filters show is their ring dying away."""

_WHITE: dict[tuple[float, str], tuple[FloatArray, FloatArray]] = {}


def _white_noise(rate: float, config: DspConfig) -> tuple[FloatArray, FloatArray]:
    """Per band (and broadband, last): the noise floors a chain settles on in white noise
    of unit variance, and their ratio to its quiet level (dsp.priming). Measured once per
    rate and setting (deterministic)."""
    key = (float(rate), config.model_dump_json())
    found = _WHITE.get(key)
    if found is None:
        chain = SeismicChain("calibration", rate, config)
        noise = np.random.default_rng(0).standard_normal(round(CALIBRATION_S * rate))
        chain.feed(noise)
        frames = chain._survey_rows(CALIBRATION_S / 2.0)
        window = max(1, round(QUIET_WINDOW_S * chain.frame_rate))
        floors = np.append(np.exp(chain.bst[:, B_LTA]), chain.st[S_NOISE])
        found = _WHITE[key] = (floors, floors / quiet_level(frames, window))
    return found


def quiet_gain(rate: float, config: DspConfig) -> FloatArray:
    """Per band (and broadband, last): the noise floor a chain settles on in steady noise,
    over the quiet level (dsp.priming) of the same noise. How far below its mean the
    quietest windows of a noise lie depends on the band's width; measured on white noise,
    which has the same statistics within a band as any smooth background."""
    return _white_noise(rate, config)[1]


def step_floors(rate: float, config: DspConfig, step: float) -> FloatArray:
    """The lowest noise floors a converter of this ``step`` can show (``STEP_NOISE``): a
    quiet stretch it reads as one value has a background somewhere below them."""
    return _white_noise(rate, config)[0] * (STEP_NOISE * step) ** 2


class SeismicChain:
    """Resampling, filter bank, trigger and features for one geophone stream.

    Works in input-sample indices; events come out with ``t0``/``t1`` in seconds from the
    stream's first sample (the detector adds its clock anchor).
    """

    kind = "seismic"

    def __init__(self, name: str, rate: float, config: DspConfig) -> None:
        cfg = config.seismic
        inp = config.input
        self.name = name
        self.rate = float(rate)
        self.cfg = cfg
        self.up, self.down = rational_ratio(self.rate, cfg.internal_rate_hz)
        self.fs = self.rate * self.up / self.down  # actual internal rate
        top = max(hi for _, hi in cfg.bands_hz)
        self.h = resampling_filter(self.rate, self.up, self.down, passband_hz=top)
        # FIR delay in input samples: events are moved back by it.
        self.delay_in = (self.h.size - 1) / 2.0 / self.up
        self.frame_len = max(1, round(cfg.frame_s * self.fs))
        self.frame_rate = self.fs / self.frame_len
        self.frame_in = self.frame_len * self.down / self.up  # input samples per frame
        sections = [butter_sos(2, cfg.highpass_hz, self.fs, "highpass")]
        nyq = self.fs / 2.0
        for lo, hi in cfg.bands_hz:
            edges = (lo, min(hi, 0.95 * nyq))
            if edges[0] >= edges[1]:
                edges = (0.45 * nyq, 0.95 * nyq)  # band above this digitizer's reach
            sections.append(butter_sos(cfg.band_order, edges, self.fs, "bandpass"))
        self.sos = np.ascontiguousarray(np.concatenate(sections))
        counts = [s.shape[0] for s in sections]
        firsts = np.cumsum([0, *counts[:-1]])
        self.layout: IntArray = np.ascontiguousarray(np.stack([firsts, counts], axis=1), np.int64)
        self.nb = len(cfg.bands_hz)
        self.hp = polyphase(self.h, self.up)
        prm = np.zeros(N_PARAMS)
        prm[P_NSTA] = max(1, round(cfg.sta_s * self.frame_rate))
        prm[P_CSTA] = 1.0 / prm[P_NSTA]
        prm[P_CLTA] = 1.0 / max(1.0, cfg.lta_s * self.frame_rate)
        prm[P_CDOWN] = 1.0 / max(1.0, cfg.floor_down_s * self.frame_rate)
        prm[P_ON] = cfg.trigger_on
        prm[P_OFF] = cfg.trigger_off
        prm[P_HOLD] = round(cfg.hold_s * self.frame_rate)
        prm[P_MAXF] = max(1, round(cfg.max_event_s * self.frame_rate))
        prm[P_WARM] = round(cfg.warmup_s * self.frame_rate)
        prm[P_CEIL] = cfg.lta_ceiling
        prm[P_LOG_CEIL] = math.log(cfg.lta_ceiling)
        prm[P_FRAME] = self.frame_len
        prm[P_CLIP_FACTOR] = inp.clip_factor
        prm[P_DROP] = 10.0 ** (-cfg.end_drop_db / 10.0)
        prm[P_RELEARN] = round(cfg.relearn_s * self.frame_rate)
        prm[P_IMP_ON] = cfg.impulse_on
        prm[P_IMP_OFF] = cfg.impulse_off
        prm[P_SMOOTH] = max(1, round(LOUDNESS_SMOOTH_S * self.frame_rate))
        prm[P_SPLIT_DEPTH] = cfg.split_depth_db
        prm[P_SPLIT_LEVEL] = cfg.split_level_db
        prm[P_SPLIT_MIN] = round(SPLIT_MIN_S * self.frame_rate)
        prm[P_PLATEAU] = round(cfg.hold_s * self.frame_rate)
        prm[P_LONG] = round(LONG_PIECE_S * self.frame_rate)
        prm[P_LONG_DEPTH] = LONG_DEPTH_DB
        prm[P_CREEP] = FLOOR_CREEP_DB_S / self.frame_rate
        self.prm = prm
        self._config = config
        self.vp = validity_params(config, self.rate, cfg.settle_s)
        self.n_frames_hist = round(cfg.history_s * self.frame_rate)
        self.frame_ring = np.zeros((self.n_frames_hist, 2 * self.nb + N_FRAME_EXTRA))
        self.bb_ring = np.zeros(self.n_frames_hist * self.frame_len)
        self._events = np.zeros((0, N_EVENT_COLS))
        self._flags = np.zeros((0, 3), dtype=np.int64)
        self.reset(0)

    def reset(self, at_index: int) -> None:
        """Start afresh at input sample ``at_index`` (after a long gap): new floor, filters."""
        self.seg_start = at_index
        self.rs_ring, self.rs_cnt = resampler_state(self.hp)
        self.zi = np.zeros((self.sos.shape[0], 2))
        self.st = np.zeros(N_STATE)
        self.bst = np.zeros((self.nb, N_BAND_STATE))
        self.bst[:, B_LEAST] = -math.inf
        self.st[S_NOISE_LEAST] = -math.inf
        self.vs = validity_state(at_index)
        self.vp[VP_CLIP_DEV] = math.inf
        self.frame_ring[:] = 0.0
        self._last_fracs: FloatArray | None = None  # band shares of the piece before
        self.primed = False

    @property
    def next_index(self) -> int:
        return int(self.vs[V_INDEX])

    def prime(self, x: FloatArray) -> bool:
        """Learn the noise floors from the quiet parts of ``x``, the input about to be fed
        (dsp.priming): the floors are set and the chain is armed, so that an event in ``x``
        is seen from its start. False (the chain warms up as it goes, triggers quiet) when
        ``x`` is too short or has no usable quiet part."""
        lead = flat_lead(x, int(self.vp[VP_FLAT_RUN]))
        if self.primed or not enough(x.shape[0] - lead, self.rate):
            return False
        frames, step = self._survey(np.ascontiguousarray(x[lead:], dtype=np.float64))
        window = max(1, round(QUIET_WINDOW_S * self.frame_rate))
        if frames.shape[0] < 4 * window:
            return False
        floors = quiet_level(frames, window) * quiet_gain(self.rate, self._config)
        least = step_floors(self.rate, self._config, step)
        if not np.all(floors > 0.0):
            # A coarse converter reads a quiet floor as one value: its level is then the
            # converter's step noise, not nothing (a 10-bit piezo clip: an event, then flat).
            floors = np.maximum(floors, least)
        lowest = NOTHING * least[: self.nb]
        if step > 0.0 and np.all(lowest > 0.0) and least[self.nb] > 0.0:  # 1e-150 squares to 0
            # Nor may the floors sink below what the converter can resolve as it runs. The
            # broadband one only sets the clip level: no noise is less than the step's.
            floors[: self.nb] = np.maximum(floors[: self.nb], lowest)
            floors[self.nb] = max(floors[self.nb], least[self.nb])
            self.bst[:, B_LEAST] = np.log(lowest)
            self.st[S_NOISE_LEAST] = math.log(least[self.nb])
        if not np.all(floors > 0.0):
            return False  # flat input: nothing to learn (the input checks flag it)
        if lead:
            # A quiet converter's flat start is no flat line; a dead one is flagged from its
            # first sample, so that the floors just learnt are not sunk by a second of
            # nothing before the input checks would see it.
            quiet = quiet_start(float(x[0]), x[lead:], step)
            start_on_flat(self.vs, self.vp, float(x[0]), x[lead:], step, quiet)
        self.bst[:, B_LTA] = np.log(floors[: self.nb])
        self.bst[:, B_FLOOR] = floors[: self.nb]
        self.st[S_NOISE] = floors[self.nb]
        self.st[S_BB_STA] = floors[self.nb]
        self.st[S_BG] = 1.0  # the loudness (energy / floor) of the background, by definition
        self.st[S_WARM] = self.prm[P_WARM]
        self.primed = True
        return True

    def _survey(self, x: FloatArray) -> tuple[FloatArray, float]:
        """Band and broadband energy ``(frames, bands + 1)`` of ``x``'s usable frames, from a
        copy of this chain that never triggers, and the converter's step its input checks
        saw (the smallest change between two samples; 0 if the input never changed)."""
        scratch = copy.deepcopy(self)
        scratch.prm = self.prm.copy()
        scratch.prm[P_WARM] = math.inf
        k0 = int(self.st[S_FRAME])
        scratch.feed(x)
        step = float(scratch.vs[V_STEP])
        rows = scratch._survey_rows((scratch.st[S_FRAME] - k0) / self.frame_rate)
        return rows, step if math.isfinite(step) else 0.0

    def _survey_rows(self, seconds: float) -> FloatArray:
        """Band and broadband energy of the usable frames among the last ``seconds``."""
        k1 = int(self.st[S_FRAME])
        k0 = max(k1 - round(seconds * self.frame_rate), k1 - self.n_frames_hist, 0)
        rows = ring_span(self.frame_ring, k0, k1)
        nb = self.nb
        usable = rows[:, 2 * nb + F_OK] > 0.0
        return np.ascontiguousarray(
            np.concatenate([rows[usable, :nb], rows[usable, 2 * nb + F_BB : 2 * nb + F_BB + 1]], 1)
        )

    def _buffers(self, n: int) -> None:
        if self._flags.shape[0] >= n + 8:
            return  # sized for the largest block so far (events need far fewer rows)
        frames = int(n * self.up / self.down / self.frame_len) + 2
        self._events = np.zeros((2 * frames + 2, N_EVENT_COLS))
        self._flags = np.zeros((n + 8, 3), dtype=np.int64)

    def feed(self, x: FloatArray, bad_kind: int = NAN) -> tuple[list[SensorEvent], list[RawFlag]]:
        """Process raw samples (1-D, contiguous float64) of the chosen component."""
        # Events are read back from the history ring when they close: a huge block is fed
        # in slices so that its early events are still in the ring (same results).
        step = max(1, round(CHUNK_S * self.rate))
        if x.shape[0] <= step:
            return self._feed(x, bad_kind)
        events: list[SensorEvent] = []
        flags: list[RawFlag] = []
        for a in range(0, x.shape[0], step):
            ev, fl = self._feed(x[a : a + step], bad_kind)
            events += ev
            flags += fl
        return events, flags

    def _feed(self, x: FloatArray, bad_kind: int) -> tuple[list[SensorEvent], list[RawFlag]]:
        self._buffers(x.shape[0])
        n_ev, n_fl = seismic_block(
            x,
            bad_kind,
            self.hp,
            self.down,
            self.rs_ring,
            self.rs_cnt,
            self.sos,
            self.layout,
            self.zi,
            self.prm,
            self.vp,
            self.st,
            self.bst,
            self.vs,
            self.frame_ring,
            self.bb_ring,
            self._events,
            self._flags,
        )
        if not (n_ev or n_fl):
            return [], []
        events = [self._event(*self._events[i]) for i in range(n_ev)]
        flags = [(int(k), int(a), int(b)) for k, a, b in self._flags[:n_fl]]
        return events, flags

    def close(self) -> tuple[list[SensorEvent], list[RawFlag]]:
        """End of stream (or before a reset): the open piece and flagged stretches."""
        events = []
        if self.st[S_IN_EVENT]:
            start, end = self.st[S_P_START], self.st[S_EV_LAST] + 1.0
            if end > start:
                st = self.st
                ev = self._event(start, end, 0.0, st[S_P_KIND], st[S_P_ABOVE], st[S_P_FALL])
                ev.truncated = True
                events.append(ev)
            self.st[S_IN_EVENT] = 0.0
        flags = np.zeros((8, 3), dtype=np.int64)
        n = close_all(self.vs, flags)
        return events, [(int(k), int(a), int(b)) for k, a, b in flags[:n]]

    def open_since(self) -> float | None:
        """Start (seconds from stream start) of the piece open now, if any: the start of
        the event, or of the valley where its last piece was cut off."""
        return self.frame_time(self.st[S_P_START]) if self.st[S_IN_EVENT] else None

    def open_until(self) -> float:
        """The earliest the open piece can end: at its last active frame, at the valley now
        waiting for confirmation, or at a valley still to come (the loudness is known up to
        half the smoothing behind the last frame). The next piece would start there."""
        st = self.st
        centre = st[S_FRAME] - float(int(self.prm[P_SMOOTH]) // 2)
        end = min(st[S_EV_LAST] + 1.0, centre)
        if st[S_V_POS] >= 0.0 and centre - 1.0 - st[S_V_POS] <= self.prm[P_PLATEAU]:
            end = min(end, st[S_V_POS])
        return self.frame_time(max(end, st[S_P_START]))

    next_from = open_until
    """Where a piece after the open one may start (None for chains that cannot cut)."""

    def open_continues(self) -> bool:
        """Whether the open piece began at a valley where the one before it was cut, not at
        the event's trigger."""
        return bool(self.st[S_IN_EVENT]) and self.st[S_P_KIND] != K_TRIGGER

    def usable_share(self, t0: float, t1: float) -> float:
        """Share of the frames between ``t0`` and ``t1`` (seconds from stream start, still in
        the history) that were usable: 0 while the noise floor forms, and where the input was
        missing, non-finite or flat. What says whether the geophone could have heard
        something then."""
        st = self.st
        if st[S_WARM] < self.prm[P_WARM]:
            return 0.0
        k_now = int(st[S_FRAME])
        k0 = max(math.floor(self._frame_at(t0)), k_now - self.n_frames_hist + 1, 0)
        k1 = min(math.ceil(self._frame_at(t1)), k_now)
        if k1 <= k0:
            return 0.0
        ok = ring_span(self.frame_ring, k0, k1)[:, 2 * self.nb + F_OK]
        return float(np.count_nonzero(ok > 0.0) / ok.shape[0])

    def _frame_at(self, t: float) -> float:
        """The frame (of the current segment) that begins at ``t`` (``frame_time`` inverted)."""
        return float((t * self.rate + self.delay_in - self.seg_start) / self.frame_in)

    def frame_time(self, frame: float) -> float:
        """Seconds from stream start of the beginning of a frame of the current segment."""
        return (self.seg_start + frame * self.frame_in - self.delay_in) / self.rate

    def _event(
        self, start: float, end: float, forced: float, kind: float, above: float, fall: float
    ) -> SensorEvent:
        """One piece of an event (frames ``start``..``end``) as a sensor event."""
        k0, k1 = int(start), int(end)
        nb = self.nb
        fl = self.frame_len
        nh = self.n_frames_hist
        k_now = int(self.st[S_FRAME])
        # Frames still in the history ring (a piece is never longer than the ring).
        k0 = max(k0, k_now - nh + 1)
        frames = ring_span(self.frame_ring, k0, k1)
        noise_frames = round(self.cfg.noise_before_s * self.frame_rate)
        n0 = max(k0 - noise_frames, k_now - nh + 1, 0)
        peak = float(frames[:, 2 * nb + F_SNR].max())
        feats = seismic_features(
            frames[:, :nb],
            frames[:, nb : 2 * nb],
            frames[:, 2 * nb + F_BB],
            ring_span(self.bb_ring, k0 * fl, k1 * fl),
            ring_span(self.bb_ring, n0 * fl, k0 * fl),
            self.frame_rate,
            self.fs,
            self.cfg.bands_hz,
            peak,
        )
        feats["usable"] = float(frames[:, 2 * nb + F_OK].mean())
        feats["peak"] = float(frames[:, 2 * nb + F_PEAK].max())
        feats["cut"] = float(forced)
        feats.update(self._continuation(k0, frames, feats, kind, above, fall))
        return SensorEvent(
            sensor=self.name,
            kind=self.kind,
            t0=self.frame_time(k0),
            t1=self.frame_time(k1),
            features=feats,
            strength=peak,
        )

    def _continuation(
        self,
        k0: int,
        frames: FloatArray,
        feats: dict[str, float],
        kind: float,
        above: float,
        fall: float,
    ) -> dict[str, float]:
        """How a piece relates to the piece of the same event before it, for the classifier
        to tell a new source from more of the same (which was reported already): whether
        it follows a valley (``cont``: 1 the loudness rose out of it, 2 it stayed low), how
        far below the loudest point before it that valley lay and how far above the event's
        loudness floor (dB), how far the piece rose out of it (dB), and how different its
        band shares are (a vehicle's engine dying down and coming back keeps its spectrum;
        the next source does not)."""
        fracs = np.array([feats[f"band_frac_{i}"] for i in range(self.nb)])
        before, self._last_fracs = self._last_fracs, fracs
        if kind == K_TRIGGER or before is None:
            return dict.fromkeys(("cont", "fall_db", "valley_db", "rise_db", "frac_change"), 0.0)
        width = int(self.prm[P_SMOOTH])
        ratio = ring_span(self.frame_ring, k0 - width + 1, k0 + frames.shape[0])[
            :, 2 * self.nb + F_RATIO
        ]
        loud = np.convolve(ratio, np.ones(width) / width, mode="valid")
        db = 10.0 * np.log10(np.maximum(loud, 1e-12))
        return {
            "cont": float(kind),
            "fall_db": float(fall),
            "valley_db": float(above),
            "rise_db": float(db.max() - db[0]),
            "frac_change": float(np.abs(fracs - before).sum() / 2.0),
        }

    def status(self) -> dict[str, Any]:
        st = self.st
        return {
            "noise_floor": [float(math.exp(v / 2.0)) for v in self.bst[:, B_LTA]],
            "noise_rms": float(math.sqrt(st[S_NOISE])),
            "sta_lta": [
                float(s / self.prm[P_NSTA] / math.exp(f))
                for s, f in zip(self.bst[:, B_STA], self.bst[:, B_LTA], strict=True)
            ],
            "ready": bool(st[S_WARM] >= self.prm[P_WARM]),
            "event_open": bool(st[S_IN_EVENT]),
        }


@register_chain("seismic", slowest_hz=SLOWEST_HZ)
def _chain(spec: SensorSpec, config: DspConfig) -> tuple[SeismicChain, int]:
    column = min(config.seismic.component, max(spec.channels - 1, 0))
    return SeismicChain(spec.name, spec.rate, config), column


def ring_span(ring: FloatArray, start: int, stop: int) -> FloatArray:
    """Rows ``start``..``stop`` (absolute indices) of a ring buffer, as a copy: one slice,
    or two where the span wraps round (rows repeat when it is longer than the ring)."""
    size = ring.shape[0]
    a = start % size
    b = a + (stop - start)
    if b <= size:
        return ring[a:b].copy()
    if b - size <= a:
        return np.concatenate((ring[a:], ring[: b - size]))
    rows: FloatArray = ring[np.arange(start, stop) % size]
    return rows
