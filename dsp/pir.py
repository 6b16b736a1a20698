"""The PIR chain: 0.2-5 Hz band-pass, adaptive threshold, lobe polarity sequence.

A warm body crossing a dual-element sensor swings the output one way then the other, once
per zone; the order of the first two lobes gives the direction (first lobe positive =
left-to-right for the usual wiring; ``pir_direction`` is +1 or -1). The threshold is a
multiple of the noise RMS, learnt with the same rules as the seismic floor (frozen during a
crossing). Slow one-sided swings (sun behind clouds) give wide single lobes, which the
classifier sees in ``pir_lobe_s`` and ``pir_lobes``.

Live PIR drivers deliver ``[level, motion_flag]``: only the analog level (column 0) is used;
the device's own comparator flag says less than the waveform.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.chains import register_chain
from dsp.config import DspConfig
from dsp.design import butter_sos
from dsp.filters import biquad_run, prime_sections, sosfilt_block
from dsp.jit import njit
from dsp.priming import quiet_level
from dsp.records import SensorEvent, SensorSpec
from dsp.sample_chain import SampleChain
from dsp.validity import VP_CLIP_DEV, VP_CLIP_FLAT_RUN, VP_FLAT_RUN, validate_block

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SLOWEST_HZ = 4.0
"""A person's swing lasts 0.3-2 s: at 4 Hz its band (0.2-1.8 Hz) is still sampled; slower
PIR samples hold a crossing in a handful of points (the model was taught 10 Hz and up)."""

RAIL_HOLD_S = 5.0
"""A person close to an analog PIR drives its output to a rail, where it stays for a second
or two of the swing (1.2 s seen on a real room's 12-bit PIR): that is a clip, usable and
flagged `clipped`. Only a rail held longer than this is a stuck sensor, a flat line."""

# Parameters.
Q_CNOISE = 0
Q_K = 1
Q_MIN = 2
Q_HOLD = 3  # samples
Q_MAX = 4  # samples
Q_WARM = 5  # samples
Q_CLIP = 6  # clip_factor: a rail lies this many noise amplitudes from the running mean
N_QPARAMS = 7

# State.
R_NOISE = 0  # mean square of the filtered output outside crossings
R_WARM = 1
R_IN = 2
R_START = 3
R_LAST = 4
R_PEAK = 5
R_LOBES = 6
R_SIGN = 7  # sign of the current lobe
R_FIRST = 8
R_SECOND = 9
R_ABOVE = 10  # samples above threshold in this crossing
R_THR = 11  # threshold frozen at the start of the crossing
R_PRIMED = 12  # the band-pass has been set to the stream's first value
N_RSTATE = 13

PRIME_WINDOW_S = 1.0
"""Windows over which the PIR's quiet power is averaged when priming: its noise is slow
(0.2-5 Hz), and over shorter windows the quietest ones would understate it."""
PRIME_SPREAD = 16.0
"""Windows up to this many times the quietest ones' power (4 x their RMS) count as
background when priming: a room's PIR noise comes and goes in bursts, which belong to the
level the threshold must stand above, while a crossing it should detect swings past 5 x."""

# Event rows: start, end (exclusive), peak/noise, lobes, first sign, second sign, samples
# above threshold, forced.
N_EVCOLS = 8


@njit(cache=True)
def pir_block(
    x: FloatArray,
    bad_kind: int,
    sos: FloatArray,
    zi: FloatArray,
    qp: FloatArray,
    vp: FloatArray,
    st: FloatArray,
    vs: FloatArray,
    events: FloatArray,
    flags: IntArray,
) -> tuple[int, int]:
    """One block of PIR levels; returns (events, flags) written."""
    n = x.shape[0]
    y = np.empty(n)
    settling = np.empty(n, dtype=np.bool_)
    index0 = vs[0]  # V_INDEX: absolute index of x[0]
    if st[R_WARM] >= qp[Q_WARM] and st[R_NOISE] > 0.0:
        # From the quietest noise seen: a busy room's noise grows to within 20 x of the rails.
        vp[VP_CLIP_DEV] = min(vp[VP_CLIP_DEV], qp[Q_CLIP] * math.sqrt(st[R_NOISE]))
    n_fl = validate_block(x, bad_kind, vp, vs, y, settling, flags)
    if st[R_PRIMED] == 0.0:
        # With the stream's first finite sample: a PIR that reports raw converter counts
        # rides on a DC offset, which must not ring through the band-pass as a step.
        for i in range(n):
            if math.isfinite(x[i]):
                prime_sections(sos, zi, 0, sos.shape[0], x[i])
                st[R_PRIMED] = 1.0
                break
    for s in range(sos.shape[0]):
        biquad_run(sos, zi, s, y, y)
    n_ev = 0
    for i in range(n):
        v = y[i]
        ok = not settling[i]
        idx = index0 + i
        if st[R_IN] == 0.0:
            if ok:
                warm = st[R_WARM]
                c = max(1.0 / (warm + 1.0), qp[Q_CNOISE]) if warm < qp[Q_WARM] else qp[Q_CNOISE]
                st[R_NOISE] += c * (v * v - st[R_NOISE])
                st[R_WARM] = warm + 1.0
            thr = max(qp[Q_K] * math.sqrt(st[R_NOISE]), qp[Q_MIN])
            if ok and st[R_WARM] >= qp[Q_WARM] and abs(v) > thr:
                sign = 1.0 if v > 0.0 else -1.0
                st[R_IN] = 1.0
                st[R_START] = idx
                st[R_LAST] = idx
                st[R_PEAK] = abs(v)
                st[R_LOBES] = 1.0
                st[R_SIGN] = sign
                st[R_FIRST] = sign
                st[R_SECOND] = 0.0
                st[R_ABOVE] = 1.0
                st[R_THR] = thr
            continue
        thr = st[R_THR]
        if ok and abs(v) > thr:
            sign = 1.0 if v > 0.0 else -1.0
            st[R_LAST] = idx
            st[R_ABOVE] += 1.0
            st[R_PEAK] = max(st[R_PEAK], abs(v))
            if sign != st[R_SIGN]:
                st[R_LOBES] += 1.0
                st[R_SIGN] = sign
                if st[R_SECOND] == 0.0:
                    st[R_SECOND] = sign
        forced = idx + 1.0 - st[R_START] >= qp[Q_MAX]
        if forced or idx - st[R_LAST] > qp[Q_HOLD]:
            noise = math.sqrt(st[R_NOISE])
            events[n_ev, 0] = st[R_START]
            events[n_ev, 1] = (idx + 1.0) if forced else (st[R_LAST] + 1.0)
            events[n_ev, 2] = st[R_PEAK] / noise if noise > 0.0 else 0.0
            events[n_ev, 3] = st[R_LOBES]
            events[n_ev, 4] = st[R_FIRST]
            events[n_ev, 5] = st[R_SECOND]
            events[n_ev, 6] = st[R_ABOVE]
            events[n_ev, 7] = 1.0 if forced else 0.0
            n_ev += 1
            st[R_IN] = 0.0
    return n_ev, n_fl


class PirChain(SampleChain):
    kind = "pir"
    n_state = N_RSTATE
    n_event_cols = N_EVCOLS

    def __init__(self, name: str, rate: float, config: DspConfig) -> None:
        cfg = config.pir
        lo, hi = cfg.band_hz
        hi = min(hi, 0.45 * rate)
        self.sos = butter_sos(2, (lo, hi), rate, "bandpass")
        qp = np.zeros(N_QPARAMS)
        qp[Q_CNOISE] = 1.0 / max(1.0, cfg.noise_s * rate)
        qp[Q_K] = cfg.threshold
        qp[Q_MIN] = cfg.min_threshold_v
        qp[Q_HOLD] = round(cfg.hold_s * rate)
        qp[Q_MAX] = max(1, round(cfg.max_event_s * rate))
        qp[Q_WARM] = round(cfg.warmup_s * rate)
        qp[Q_CLIP] = config.input.clip_factor
        self.qp = qp
        super().__init__(name, rate, config, settle_s=2.0)
        self.vp[VP_CLIP_FLAT_RUN] = max(self.vp[VP_FLAT_RUN], round(RAIL_HOLD_S * self.rate))

    def _reset_filters(self) -> None:
        self.zi = np.zeros((self.sos.shape[0], 2))

    def _prime(self, x: FloatArray) -> bool:
        """The noise power of the band-passed output, from its quiet seconds: a crossing
        may fill half of a short clip, and would then inflate any spread of the whole."""
        level = x if x.ndim == 1 else x[:, 0]
        zi = np.zeros((self.sos.shape[0], 2))
        prime_sections(self.sos, zi, 0, self.sos.shape[0], float(level[0]))
        y = np.empty(level.shape[0])
        sosfilt_block(self.sos, np.ascontiguousarray(level), zi, y)
        window = max(1, round(PRIME_WINDOW_S * self.rate))
        power = float(quiet_level((y * y)[:, None], window, spread=PRIME_SPREAD)[0])
        if not power > 0.0:
            return False  # a flat output: nothing to learn (the input checks flag it)
        self.st[R_NOISE] = power
        self.st[R_WARM] = self.qp[Q_WARM]
        return True

    def _run(self, x: FloatArray, bad_kind: int) -> tuple[int, int]:
        # Column 0 only: the analog level.
        return pir_block(
            x,
            bad_kind,
            self.sos,
            self.zi,
            self.qp,
            self.vp,
            self.st,
            self.vs,
            self._events,
            self._flags,
        )

    def open_since(self) -> float | None:
        return self.time(self.st[R_START]) if self.st[R_IN] else None

    def open_until(self) -> float:
        return self.time(self.st[R_LAST] + 1.0)

    def _open_event(self) -> FloatArray | None:
        st = self.st
        if not st[R_IN]:
            return None
        noise = math.sqrt(st[R_NOISE])
        return np.array(
            [
                st[R_START],
                st[R_LAST] + 1.0,
                st[R_PEAK] / noise if noise else 0.0,
                st[R_LOBES],
                st[R_FIRST],
                st[R_SECOND],
                st[R_ABOVE],
                0.0,
            ]
        )

    def _event(self, row: FloatArray) -> SensorEvent:
        start, end, snr, lobes, first, _second, above, forced = (float(v) for v in row)
        feats = {
            "pir_log_snr": math.log10(max(snr, 1e-3)),
            "pir_lobes": lobes,
            "pir_direction": first,
            "pir_lobe_s": above / self.rate / max(lobes, 1.0),
            "pir_duration_s": (end - start) / self.rate,
            "pir_log_duration": math.log10(1.0 + (end - start) / self.rate),
            "pir_cut": forced,
        }
        return SensorEvent(
            self.name, self.kind, self.time(start), self.time(end), feats, strength=snr
        )

    def status(self) -> dict[str, Any]:
        return {
            "noise_rms": float(math.sqrt(self.st[R_NOISE])),
            "ready": bool(self.st[R_WARM] >= self.qp[Q_WARM]),
            "event_open": bool(self.st[R_IN]),
        }


@register_chain("pir", slowest_hz=SLOWEST_HZ)
def _chain(spec: SensorSpec, config: DspConfig) -> tuple[PirChain, int]:
    return PirChain(spec.name, spec.rate, config), 0
