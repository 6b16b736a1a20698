"""The geophone chain of one sensor: state, kernel calls, events with their features."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from dsp.config import DspConfig
from dsp.design import butter_sos, rational_ratio, resampling_filter
from dsp.features import seismic_features
from dsp.filters import polyphase, resampler_state
from dsp.records import SensorEvent
from dsp.seismic_kernel import (
    B_LTA,
    B_STA,
    F_BB,
    F_OK,
    F_PEAK,
    F_SNR,
    N_BAND_STATE,
    N_FRAME_EXTRA,
    N_PARAMS,
    N_STATE,
    P_CDOWN,
    P_CEIL,
    P_CLIP_FACTOR,
    P_CLTA,
    P_CSTA,
    P_DROP,
    P_FRAME,
    P_HOLD,
    P_IMP_OFF,
    P_IMP_ON,
    P_LOG_CEIL,
    P_MAXF,
    P_NSTA,
    P_OFF,
    P_ON,
    P_RELEARN,
    P_WARM,
    S_EV_LAST,
    S_EV_PEAK,
    S_EV_START,
    S_FRAME,
    S_IN_EVENT,
    S_NOISE,
    S_WARM,
    seismic_block,
)
from dsp.simple_chain import RawFlag, validity_params
from dsp.validity import NAN, V_INDEX, VP_CLIP_DEV, close_all, validity_state

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


CHUNK_S = 10.0
"""Longest slice of input processed in one kernel call."""


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
        self.prm = prm
        self.vp = validity_params(config, self.rate, cfg.settle_s)
        self.n_frames_hist = round(cfg.history_s * self.frame_rate)
        self.frame_ring = np.zeros((self.n_frames_hist, 2 * self.nb + N_FRAME_EXTRA))
        self.bb_ring = np.zeros(self.n_frames_hist * self.frame_len)
        self._events = np.zeros((0, 4))
        self._flags = np.zeros((0, 3), dtype=np.int64)
        self.reset(0)

    def reset(self, at_index: int) -> None:
        """Start afresh at input sample ``at_index`` (after a long gap): new floor, filters."""
        self.seg_start = at_index
        self.rs_ring, self.rs_cnt = resampler_state(self.hp)
        self.zi = np.zeros((self.sos.shape[0], 2))
        self.st = np.zeros(N_STATE)
        self.bst = np.zeros((self.nb, N_BAND_STATE))
        self.vs = validity_state(at_index)
        self.vp[VP_CLIP_DEV] = math.inf
        self.frame_ring[:] = 0.0

    @property
    def next_index(self) -> int:
        return int(self.vs[V_INDEX])

    def _buffers(self, n: int) -> None:
        if self._flags.shape[0] >= n + 8:
            return  # sized for the largest block so far (events need far fewer rows)
        self._events = np.zeros((int(n * self.up / self.down / self.frame_len) + 4, 4))
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
        events = [ev for i in range(n_ev) for ev in self._event(*self._events[i])]
        flags = [(int(k), int(a), int(b)) for k, a, b in self._flags[:n_fl]]
        return events, flags

    def close(self) -> tuple[list[SensorEvent], list[RawFlag]]:
        """End of stream (or before a reset): the open event and flagged stretches."""
        events = []
        if self.st[S_IN_EVENT]:
            start, last = self.st[S_EV_START], self.st[S_EV_LAST]
            events += self._event(start, last + 1.0, self.st[S_EV_PEAK], 0.0)
            self.st[S_IN_EVENT] = 0.0
        flags = np.zeros((8, 3), dtype=np.int64)
        n = close_all(self.vs, flags)
        return events, [(int(k), int(a), int(b)) for k, a, b in flags[:n]]

    def open_since(self) -> float | None:
        """Start (seconds from stream start) of the event open now, if any."""
        return self.frame_time(self.st[S_EV_START]) if self.st[S_IN_EVENT] else None

    def frame_time(self, frame: float) -> float:
        """Seconds from stream start of the beginning of a frame of the current segment."""
        return (self.seg_start + frame * self.frame_in - self.delay_in) / self.rate

    def _event(self, start: float, end: float, peak: float, forced: float) -> list[SensorEvent]:
        """The closed event as one or more sensor events (split at deep valleys)."""
        k0, k1 = int(start), int(end)
        k_now = int(self.st[S_FRAME])
        # Frames still in the history ring (an event is never longer than the ring).
        k0 = max(k0, k_now - self.n_frames_hist + 1)
        frames = self.frame_ring[np.arange(k0, k1) % self.n_frames_hist]
        cuts = split_points(
            frames[:, : self.nb],
            frames[:, self.nb : 2 * self.nb],
            self.frame_rate,
            self.cfg.split_depth_db,
            self.cfg.split_level_db,
        )
        bounds = [k0, *(k0 + c for c in cuts), k1]
        return [
            self._piece(a, b, frames[a - k0 : b - k0], forced if b == k1 else 0.0)
            for a, b in itertools.pairwise(bounds)
        ]

    def _piece(self, k0: int, k1: int, frames: FloatArray, forced: float) -> SensorEvent:
        nb = self.nb
        fl = self.frame_len
        k_now = int(self.st[S_FRAME])
        bb_idx = np.arange(k0 * fl, k1 * fl) % self.bb_ring.size
        noise_frames = round(self.cfg.noise_before_s * self.frame_rate)
        n0 = max(k0 - noise_frames, k_now - self.n_frames_hist + 1, 0)
        noise_idx = np.arange(n0 * fl, k0 * fl) % self.bb_ring.size
        peak = float(frames[:, 2 * nb + F_SNR].max())
        feats = seismic_features(
            frames[:, :nb],
            frames[:, nb : 2 * nb],
            frames[:, 2 * nb + F_BB],
            self.bb_ring[bb_idx],
            self.bb_ring[noise_idx],
            self.frame_rate,
            self.fs,
            self.cfg.bands_hz,
            peak,
        )
        feats["usable"] = float(frames[:, 2 * nb + F_OK].mean())
        feats["peak"] = float(frames[:, 2 * nb + F_PEAK].max())
        feats["cut"] = float(forced)
        return SensorEvent(
            sensor=self.name,
            kind=self.kind,
            t0=self.frame_time(k0),
            t1=self.frame_time(k1),
            features=feats,
            strength=peak,
        )

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


def split_points(
    band_e: FloatArray,
    band_floor: FloatArray,
    frame_rate: float,
    depth_db: float,
    level_db: float,
    long_s: float = 40.0,
    long_depth_db: float = 3.0,
) -> list[int]:
    """Frames at which an event holds two (or more) sources one after the other.

    The event's loudness (sum over bands of energy / floor, smoothed over a second, in dB) is
    cut at a valley at least ``depth_db`` below the highest point on *both* sides (plus
    however far the valley stands more than ``level_db`` above the noise floor): the signal
    went away and came back. A piece still longer than ``long_s`` (sources back to back in
    gusty wind, where the loudness never falls to the floor) is cut at its deepest valley
    of at least ``long_depth_db``. Deepest valley first; pieces shorter than two seconds are
    not cut off.
    """
    n = band_e.shape[0]
    min_len = round(2.0 * frame_rate)
    if n < 2 * min_len:
        return []
    ratio = (band_e / np.maximum(band_floor, 1e-300)).sum(axis=1) / band_e.shape[1]
    width = max(1, round(frame_rate))
    kernel = np.ones(width) / width
    loud = 10.0 * np.log10(np.maximum(np.convolve(ratio, kernel, mode="same"), 1e-12))
    long_len = round(long_s * frame_rate)
    cuts: list[int] = []
    segments = [(0, n)]
    while segments:
        a, b = segments.pop()
        if b - a < 2 * min_len:
            continue
        inner = loud[a + min_len : b - min_len]
        left_max = np.maximum.accumulate(loud[a:b])[min_len : b - a - min_len]
        right_max = np.maximum.accumulate(loud[a:b][::-1])[::-1][min_len : b - a - min_len]
        depth = np.minimum(left_max, right_max) - inner
        # Near the floor an 8 dB valley is enough; above it the valley must be deeper by as
        # much as it stands above the floor.
        ok = depth >= depth_db + np.maximum(inner - level_db, 0.0)
        if not ok.any() and b - a > long_len:
            ok = depth >= long_depth_db
        if not ok.any():
            continue
        i = int(np.argmax(np.where(ok, depth, -np.inf)))
        cut = a + min_len + i
        cuts.append(cut)
        segments += [(a, cut), (cut, b)]
    return sorted(cuts)
