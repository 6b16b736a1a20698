"""The magnetometer chain: per-axis baseline frozen during events, |dB| anomaly detection.

Earth's field (tens of thousands of nT) drifts slowly; a baseline per axis (an EMA) tracks
it, and stops tracking while an anomaly is open so that a slow vehicle does not become its
own baseline. The anomaly is the length of the field minus the baseline, smoothed; its
threshold is a multiple of its own noise spread above its noise mean (|dB| of pure noise is
not zero), never below ``min_threshold_nt``. A vehicle (a 100-300 A.m^2 dipole, 1/r^3) is
seen to ~30-40 m; people only when they carry iron within a few metres.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.chains import register_chain
from dsp.config import DspConfig
from dsp.filters import sosfilt_block
from dsp.jit import njit
from dsp.lines import HEAD_S, find_lines, notch_sos, settled_state
from dsp.priming import robust_sigma, running_median
from dsp.records import SensorEvent, SensorSpec
from dsp.sample_chain import SampleChain
from dsp.validity import V_STEP, validate_block

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

log = logging.getLogger(__name__)

SLOWEST_HZ = 4.0
"""A car passes a magnetometer in 1-3 s: at 4 Hz that is still 4-12 samples (the model was
taught 5 Hz and up); at 2 Hz plain noise gets reported as vehicles."""
MEDIAN_MIN_HZ = 8.0
"""Below this rate three samples span more than half a close car's pass (0.5-0.7 s beside
a lane): such a car fills a sample or two, and the median that drops a glitch of the bus
would drop the car too (docs/dsp.md, "Slow magnetometers")."""
LEVEL_STEP_S = 0.25
"""How often the priming's running median of the field is taken."""
STEP_WITHIN_S = 2.0
"""A level that moves by more than the anomaly threshold within this long has stepped (a
car parked or left); a field that wanders takes far longer."""
BULK_K = 4.0
"""Priming: an anomaly further than this many spreads above the bulk's level is a pass, not
noise (the threshold stands at 6)..."""
BULK_ROUNDS = 4
"""... and the bulk is measured again without it, this many times at most."""

# Parameters.
M_CBASE = 0
M_CSMOOTH = 1
M_CNOISE = 2
M_K = 3
M_MIN = 4
M_HOLD = 5
M_MAX = 6
M_WARM = 7
M_MEDIAN = 8
N_MPARAMS = 9

# State: baseline per axis first (3), then:
G_HAVE = 3  # baseline initialised
G_SMOOTH = 4  # smoothed |dB|
G_MEAN = 5  # noise mean of smoothed |dB|
G_MSQ = 6  # noise mean square
G_WARM = 7
G_IN = 8
G_START = 9
G_LAST = 10
G_PEAK = 11
G_THR = 12
G_SPREAD = 13  # noise spread frozen at the start
G_PREV = 14  # the two samples before, per axis (the median of three drops a glitch)
MAX_AXES = 3
N_GSTATE = G_PREV + 2 * MAX_AXES

# Event rows: start, end (exclusive), peak |dB| nT, peak / noise spread, forced.
N_EVCOLS = 5


@njit(cache=True)
def mag_block(
    x: FloatArray,
    xf: FloatArray,
    bad_kind: int,
    mp: FloatArray,
    vp: FloatArray,
    st: FloatArray,
    vs: FloatArray,
    events: FloatArray,
    flags: IntArray,
) -> tuple[int, int]:
    """One block of (n, axes) field samples, nT; returns (events, flags) written.

    Input checks run on the sum of the axes of ``x`` as it came (NaN in any axis, all axes
    stuck); the field is read from ``xf``, the same samples with the background's steady
    lines notched out (``x`` itself when there are none). A bad sample holds the previous
    field on every axis. Each axis is the median of its last three samples: a one-sample
    glitch of a sensor's bus is gone, while a car is seen for many samples (only at
    ``MEDIAN_MIN_HZ`` and up, ``mp[M_MEDIAN]``: slower, a car fills a sample or two).
    """
    n = x.shape[0]
    axes = min(x.shape[1], MAX_AXES)
    probe = np.empty(n)
    for i in range(n):
        acc = 0.0
        for a in range(axes):
            acc += x[i, a]
        probe[i] = acc
    held = np.empty(n)
    settling = np.empty(n, dtype=np.bool_)
    index0 = vs[0]
    n_fl = validate_block(probe, bad_kind, vp, vs, held, settling, flags)
    last = np.zeros(MAX_AXES)
    for a in range(axes):
        last[a] = st[a] if st[G_HAVE] == 0.0 else st[G_PREV + 2 * a]
    n_ev = 0
    for i in range(n):
        idx = index0 + i
        finite = math.isfinite(probe[i])
        if st[G_HAVE] == 0.0:
            if not finite:
                continue
            for a in range(axes):
                st[a] = xf[i, a]
                st[G_PREV + 2 * a] = xf[i, a]
                st[G_PREV + 2 * a + 1] = xf[i, a]
            st[G_HAVE] = 1.0
        if finite:
            for a in range(axes):
                p1 = st[G_PREV + 2 * a]
                p2 = st[G_PREV + 2 * a + 1]
                v = xf[i, a]
                last[a] = max(min(p1, p2), min(max(p1, p2), v)) if mp[M_MEDIAN] else v
                st[G_PREV + 2 * a + 1] = p1
                st[G_PREV + 2 * a] = v
        ok = not settling[i]
        d2 = 0.0
        for a in range(axes):
            d = last[a] - st[a]
            d2 += d * d
        d = math.sqrt(d2)
        st[G_SMOOTH] += mp[M_CSMOOTH] * (d - st[G_SMOOTH])
        ds = st[G_SMOOTH]
        if st[G_IN] == 0.0:
            if ok:
                warm = st[G_WARM]
                cb = max(1.0 / (warm + 1.0), mp[M_CBASE]) if warm < mp[M_WARM] else mp[M_CBASE]
                for a in range(axes):
                    st[a] += cb * (last[a] - st[a])
                cn = max(1.0 / (warm + 1.0), mp[M_CNOISE]) if warm < mp[M_WARM] else mp[M_CNOISE]
                st[G_MEAN] += cn * (ds - st[G_MEAN])
                st[G_MSQ] += cn * (ds * ds - st[G_MSQ])
                st[G_WARM] = warm + 1.0
            spread = math.sqrt(max(st[G_MSQ] - st[G_MEAN] * st[G_MEAN], 0.0))
            # Never within two converter steps of the noise (a quantised quiet field's
            # spread can be next to nothing), nor below the configured floor.
            step = vs[V_STEP] if vs[V_STEP] < math.inf else 0.0
            thr = st[G_MEAN] + max(mp[M_K] * spread, mp[M_MIN], 2.0 * step)
            if ok and st[G_WARM] >= mp[M_WARM] and ds > thr:
                st[G_IN] = 1.0
                st[G_START] = idx
                st[G_LAST] = idx
                st[G_PEAK] = ds - st[G_MEAN]
                st[G_THR] = thr
                st[G_SPREAD] = spread
            continue
        if ok and ds > st[G_THR]:
            st[G_LAST] = idx
            st[G_PEAK] = max(st[G_PEAK], ds - st[G_MEAN])
        forced = idx + 1.0 - st[G_START] >= mp[M_MAX]
        if forced or idx - st[G_LAST] > mp[M_HOLD]:
            events[n_ev, 0] = st[G_START]
            events[n_ev, 1] = (idx + 1.0) if forced else (st[G_LAST] + 1.0)
            events[n_ev, 2] = st[G_PEAK]
            events[n_ev, 3] = st[G_PEAK] / st[G_SPREAD] if st[G_SPREAD] > 0.0 else 0.0
            events[n_ev, 4] = 1.0 if forced else 0.0
            n_ev += 1
            st[G_IN] = 0.0
            if forced:
                # A lasting offset (iron parked nearby) is the new baseline.
                for a in range(axes):
                    st[a] = last[a]
                st[G_SMOOTH] = 0.0
    return n_ev, n_fl


class MagChain(SampleChain):
    kind = "magnetometer"
    n_state = N_GSTATE
    n_event_cols = N_EVCOLS

    def __init__(self, name: str, rate: float, config: DspConfig) -> None:
        cfg = config.magnetometer
        mp = np.zeros(N_MPARAMS)
        mp[M_CBASE] = 1.0 / max(1.0, cfg.baseline_s * rate)
        mp[M_CSMOOTH] = 1.0 / max(1.0, cfg.smooth_s * rate)
        mp[M_CNOISE] = 1.0 / max(1.0, cfg.noise_s * rate)
        mp[M_K] = cfg.threshold
        mp[M_MIN] = cfg.min_threshold_nt
        mp[M_HOLD] = round(cfg.hold_s * rate)
        mp[M_MAX] = max(1, round(cfg.max_event_s * rate))
        mp[M_WARM] = round(cfg.warmup_s * rate)
        mp[M_MEDIAN] = 1.0 if rate >= MEDIAN_MIN_HZ else 0.0
        self.mp = mp
        super().__init__(name, rate, config, settle_s=1.0)

    def _reset_filters(self) -> None:
        # Notches for the background's steady lines, found when the chain primes.
        self.lines_hz: list[float] = []
        self.notches = np.zeros((0, 6))
        self.zi = np.zeros((MAX_AXES, 0, 2))
        self._held = np.full(MAX_AXES, np.nan)  # each axis's last finite sample

    def _notched(self, x: FloatArray) -> FloatArray:
        """``x`` with the lines notched out, per axis; NaN stays NaN, and the filters run
        on through it on the last finite sample, so that a lost sample rings no step. (The
        kernel's median of three comes after: before, it would fold the lines, which lie
        near a third of the rate, into everything else.)"""
        if not self.notches.shape[0]:
            return x
        out = np.array(x, dtype=np.float64)  # columns past the third stay as they came
        for a in range(min(x.shape[1], MAX_AXES)):
            col = np.array(x[:, a], dtype=np.float64)
            bad = ~np.isfinite(col)
            for i in np.flatnonzero(bad):
                col[i] = col[i - 1] if i else self._held[a]
            if not math.isfinite(col[-1]):
                out[:, a] = x[:, a]  # nothing finite yet on this axis
                continue
            self._held[a] = col[-1]
            first = int(np.argmax(np.isfinite(col)))  # NaN before it: nothing to hold yet
            y = np.full_like(col, np.nan)
            sosfilt_block(self.notches, np.ascontiguousarray(col[first:]), self.zi[a], y[first:])
            y[bad] = np.nan
            out[:, a] = y
        return out

    def _probe(self, x: FloatArray) -> FloatArray:
        # The kernel checks the sum of the axes.
        return x if x.ndim == 1 else np.sum(x[:, :MAX_AXES], axis=1)

    def _prime(self, x: FloatArray) -> bool:
        """Baseline per axis (the median field) and the spread of the smoothed anomaly, from
        the bulk of ``x``: a passing vehicle moves the field for seconds only. A vehicle
        that parks moves it for as long as it stays: where the field's level steps, both
        are taken about the level of the moment instead."""
        raw = (x if x.ndim == 2 else x[:, None])[:, :MAX_AXES]
        axes = raw.shape[1]
        lines = find_lines(raw, self.rate)
        if lines:
            self.lines_hz = [round(f, 2) for f in lines]
            log.info("%s: steady lines at %s Hz notched out", self.name, self.lines_hz)
            self.notches = notch_sos(lines, self.rate)
            self.zi = np.zeros((MAX_AXES, len(lines), 2))
            head = raw[: max(1, round(HEAD_S * self.rate))]
            for a in range(axes):
                self.zi[a] = settled_state(self.notches, head[:, a], lines, self.rate)
            zi = self.zi.copy()
            raw = self._notched(raw)
            self.zi = zi  # what was primed on is fed next, from its first sample
            self._held[:] = np.nan
        # As the kernel sees it: each axis the median of three samples (when it takes one).
        padded = np.vstack([raw[:1], raw[:1], raw])
        field = (
            np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
            if self.mp[M_MEDIAN]
            else raw
        )
        # Against the median field of the whole stretch: it holds one level, however many
        # cars pass.
        base = np.median(field, axis=0)
        mean, spread = self._noise(field - base)
        # Unless the level steps (a car parked or left): the stay is then the anomaly, and
        # sets a threshold that neither the arrival nor the departure reaches. The level is
        # the field's running median over the baseline's span, centred (it follows a car
        # that parks at once, a passing car not at all), and a step a move of it on some
        # axis by more than that axis's anomaly threshold about it within STEP_WITHIN_S (a
        # field that wanders takes far longer).
        span = max(3, round(1.0 / self.mp[M_CBASE]))
        level = running_median(field, span, max(1, round(LEVEL_STEP_S * self.rate)))
        k = self.mp[M_K]
        # Each axis against its own noise: a car may move one axis while another carries
        # the interference.
        step = np.empty(axes)
        for a in range(axes):
            axis_mean, axis_spread = self._noise(field[:, a : a + 1] - level[:, a : a + 1])
            step[a] = axis_mean + k * axis_spread
        within = max(1, round(STEP_WITHIN_S * self.rate))
        steps = level_steps(level, step, within)
        if steps.any():
            following = follow_level(level, self.mp[M_CBASE], steps)
            # The kernel's baseline follows the level with the lag of its average (which
            # the anomaly includes), and steps with it; the baseline to start from is the
            # first span's quiet field (a car passing in it would pull even a median).
            mean, spread = self._noise(field - following)
            head = field[:span]
            quiet = np.sqrt(np.sum((head - following[:span]) ** 2, axis=1)) <= mean + k * spread
            base = np.median(head[quiet] if quiet.any() else head, axis=0)
        st = self.st
        st[:axes] = base
        for a in range(axes):
            # The bulk's field, not the first sample: a glitch there would be two of three.
            st[G_PREV + 2 * a] = st[G_PREV + 2 * a + 1] = base[a]
        st[G_HAVE] = 1.0
        st[G_SMOOTH] = mean
        st[G_MEAN] = mean
        st[G_MSQ] = mean * mean + spread * spread
        st[G_WARM] = self.mp[M_WARM]
        return True

    def _noise(self, deviation: FloatArray) -> tuple[float, float]:
        """Level and spread of the anomaly of the field's ``deviation`` from a baseline, as
        the kernel smooths it (a boxcar as long as its smoothing's memory), from its bulk."""
        d = np.sqrt(np.sum(deviation**2, axis=1))
        width = max(1, round(2.0 / self.mp[M_CSMOOTH]))
        ds = np.convolve(d, np.ones(width) / width, mode="valid") if d.size > width else d
        level, spread = float(np.median(ds)), robust_sigma(ds)
        # Passes that fill a third of a short stretch lift its median spread: what lies far
        # above the bulk is left out and the bulk measured again, until nothing more is.
        for _ in range(BULK_ROUNDS):
            bulk = ds[ds <= level + BULK_K * spread]
            if bulk.size == ds.size or bulk.size < 2:
                break
            bulk_spread = robust_sigma(bulk)
            # A coarse converter's quiet field may read a few values only: a bulk without
            # any spread would put the threshold on its level.
            if bulk_spread <= 0.0:
                break
            ds, level, spread = bulk, float(np.median(bulk)), bulk_spread
        return level, spread

    def _run(self, x: FloatArray, bad_kind: int) -> tuple[int, int]:
        xf = self._notched(x)
        return mag_block(
            x, xf, bad_kind, self.mp, self.vp, self.st, self.vs, self._events, self._flags
        )

    def open_since(self) -> float | None:
        return self.time(self.st[G_START]) if self.st[G_IN] else None

    def open_until(self) -> float:
        return self.time(self.st[G_LAST] + 1.0)

    def _open_event(self) -> FloatArray | None:
        st = self.st
        if not st[G_IN]:
            return None
        spread = st[G_SPREAD]
        return np.array(
            [st[G_START], st[G_LAST] + 1.0, st[G_PEAK], st[G_PEAK] / spread if spread else 0.0, 0.0]
        )

    def _event(self, row: FloatArray) -> SensorEvent:
        start, end, peak, snr, forced = (float(v) for v in row)
        feats = {
            "mag_log_peak_nt": math.log10(max(peak, 1e-3)),
            "mag_log_snr": math.log10(max(snr, 1e-3)),
            "mag_duration_s": (end - start) / self.rate,
            "mag_log_duration": math.log10(1.0 + (end - start) / self.rate),
            "mag_cut": forced,
        }
        return SensorEvent(
            self.name, self.kind, self.time(start), self.time(end), feats, strength=snr
        )

    def status(self) -> dict[str, Any]:
        st = self.st
        return {
            "baseline_nt": [float(v) for v in st[:MAX_AXES]],
            "noise_nt": float(math.sqrt(max(st[G_MSQ] - st[G_MEAN] ** 2, 0.0))),
            "ready": bool(st[G_WARM] >= self.mp[M_WARM]),
            "event_open": bool(st[G_IN]),
            "lines_hz": list(self.lines_hz),
        }


def level_steps(level: FloatArray, step: FloatArray, within: int) -> npt.NDArray[np.bool_]:
    """Where ``level`` (samples, axes) has moved on some axis by more than that axis's
    ``step`` within the last ``within`` samples."""
    before = level[np.maximum(np.arange(level.shape[0]) - within, 0)]
    return np.asarray(np.any(np.abs(level - before) > step, axis=1))


def follow_level(level: FloatArray, coeff: float, steps: npt.NDArray[np.bool_]) -> FloatArray:
    """``level`` (samples, axes) as the kernel's baseline would follow it: an exponential
    average with ``coeff`` per sample, that jumps with the level where ``steps``."""
    out = np.empty_like(level)
    acc = level[0].copy()
    for i in range(level.shape[0]):
        if steps[i]:
            acc = level[i].copy()
        else:
            acc += coeff * (level[i] - acc)
        out[i] = acc
    return out


@register_chain("magnetometer", slowest_hz=SLOWEST_HZ)
def _chain(spec: SensorSpec, config: DspConfig) -> tuple[MagChain, int]:
    return MagChain(spec.name, spec.rate, config), -1  # all three axes
