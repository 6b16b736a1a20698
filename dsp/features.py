"""Features of one seismic event, from its frame envelopes and broadband waveform.

Computed once per event (not per sample): numpy for the spectra, small Numba kernels for
the rest (an event's arrays are short, where numpy's cost per call outweighs its work).
What each one is for:

- ``cadence_hz``, ``cadence``, ``cadence_h2``: peak of the autocorrelation of a band's
  envelope between 1.4 and 3.5 Hz (people walk and run there), its height, and the height
  at twice the lag (a regular gait repeats), from the band above 10 Hz that beats the
  strongest (``strongest_beat``);
- ``step_cv``, ``step_rate``: regularity (coefficient of variation of the intervals between
  envelope peaks) and rate of distinct impacts;
- ``kurtosis``, ``crest``: impulsiveness of the waveform (alone they do not separate classes);
- ``band_frac_i``, ``band_snr_i``: share of the event's excess energy and SNR per band;
- ``centroid_hz``: spectral centroid of the excess (event minus pre-event noise) spectrum;
- ``harmonic``: strength of a comb of spectral lines (engine and tyre harmonics) that the
  pre-event noise does not have (mains hum is in both, so it cancels);
- ``risefall``, ``modulation``: how well a smooth single bump fits the log envelope (a passing
  vehicle) and how strongly the envelope is modulated (impacts).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.jit import njit

FloatArray = npt.NDArray[np.float64]

CADENCE_HZ = (1.4, 3.5)
WELCH_SEGMENT_S = 2.0
SPECTRUM_MAX_S = 30.0
LINE_SEARCH_HZ = (3.0, 40.0)
SPECTRUM_TOP_HZ = 100.0


def _moving_average(x: FloatArray, n: int) -> FloatArray:
    if n <= 1 or x.size == 0:
        return x.copy()
    out = np.empty(x.size)
    moving_average(np.ascontiguousarray(x, dtype=np.float64), min(n, x.size), out)
    return out


@njit(cache=True)
def moving_average(x: FloatArray, n: int, out: FloatArray) -> None:
    """Centred mean over ``n`` samples (fewer at the ends) from a running sum: the same
    arithmetic as ``np.cumsum`` and a division per sample, so the same values."""
    size = x.shape[0]
    csum = np.empty(size + 1)
    csum[0] = 0.0
    acc = 0.0
    for i in range(size):
        acc += x[i]
        csum[i + 1] = acc
    half = n // 2
    for i in range(size):
        lo = min(max(i - half, 0), size)
        hi = min(max(i - half + n, 0), size)
        out[i] = (csum[hi] - csum[lo]) / max(hi - lo, 1)


@njit(cache=True)
def autocorrelation(x: FloatArray, max_lag: int) -> FloatArray:
    """Normalised autocorrelation (biased) of ``x`` for lags 0..max_lag (0 beyond the
    signal). Summed directly: an envelope is a few hundred frames and the lags a few dozen,
    where that is cheaper than going through an FFT."""
    n = x.shape[0]
    out = np.zeros(max_lag + 1)
    if n < 2:
        return out
    centred = x - x.mean()
    lags = min(max_lag + 1, n)
    # Sample by sample, every lag at once: the lags' sums do not wait on each other.
    for i in range(n):
        ci = centred[i]
        for lag in range(min(lags, n - i)):
            out[lag] += ci * centred[i + lag]
    if out[0] <= 0.0:
        return np.zeros(max_lag + 1)
    normalised: FloatArray = out / out[0]
    return normalised


def cadence(env: FloatArray, rate: float) -> tuple[float, float, float]:
    """``(cadence_hz, peak height, height at twice the lag)`` of an envelope sampled at rate."""
    lo = max(1, math.floor(rate / CADENCE_HZ[1]))
    hi = math.ceil(rate / CADENCE_HZ[0])
    if env.size < 2 * hi:
        return 0.0, 0.0, 0.0
    ac = autocorrelation(env, 2 * hi + 2)
    seg = ac[lo : hi + 1]
    i = int(np.argmax(seg))
    lag = float(lo + i)
    peak = float(seg[i])
    # Parabolic refinement of the lag.
    if 0 < i < seg.size - 1:
        a, b, c = seg[i - 1], seg[i], seg[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            lag += 0.5 * (a - c) / denom
    lag2 = round(2 * lag)
    h2 = float(np.max(ac[max(lag2 - 1, 0) : lag2 + 2])) if lag2 + 1 < ac.size else 0.0
    return float(rate / lag), peak, h2


def strongest_beat(
    band_e: FloatArray, frame_rate: float, smooth: int
) -> tuple[float, float, float]:
    """``cadence`` of the band (columns of frame energies) whose detrended envelope beats the
    strongest. Not of their sum: a ground that resonates in one band rings on through the
    gaps between steps, and that band's energy outweighs the rest; the band above it still
    falls silent between steps (a walk on real outdoor geophones with a 22-25 Hz ring: 0.35
    at 30-60 Hz against -0.16 summed)."""
    best = (0.0, -math.inf, 0.0)
    for column in band_e.T:
        env = np.sqrt(column)
        beat = cadence(env - _moving_average(env, smooth), frame_rate)
        if beat[1] > best[1]:
            best = beat
    return best if math.isfinite(best[1]) else (0.0, 0.0, 0.0)


def step_regularity(env: FloatArray, rate: float) -> tuple[float, float]:
    """``(cv of intervals between impacts, impacts per second)`` from an envelope: impacts
    are the peaks more than three robust deviations (median absolute deviation) above the
    envelope's median."""
    if env.size < 5:
        return 1.0, 0.0
    env = np.ascontiguousarray(env, dtype=np.float64)
    # The medians with numpy: Numba's median takes seconds to compile, for microseconds.
    med = float(np.median(env))
    # A floor under the deviation relative to the envelope itself, so that the impacts of a
    # trace in tiny units (1e-30 and below) are counted as they are at any other scale.
    mad = max(float(np.median(np.abs(env - med))), 1e-12 * abs(med), 1e-300)
    cv, count = impact_spacing(env, med + 3.0 * 1.4826 * mad, max(1, round(0.2 * rate)))
    return cv, count / (env.size / rate)


@njit(cache=True)
def impact_spacing(env: FloatArray, level: float, min_gap: int) -> tuple[float, int]:
    """``(cv of the intervals between impacts, impacts)`` for the peaks of ``env`` above
    ``level`` (``impacts``); the cv is 1 (no regularity) with fewer than four."""
    peaks = np.empty(env.shape[0], dtype=np.int64)
    count = impacts(env, level, min_gap, peaks)
    if count < 4:
        return 1.0, count
    n = count - 1
    mean = (peaks[count - 1] - peaks[0]) / n
    var = 0.0
    for i in range(n):
        var += (peaks[i + 1] - peaks[i] - mean) ** 2
    return math.sqrt(var / n) / mean, count


@njit(cache=True)
def impacts(env: FloatArray, level: float, min_gap: int, peaks: npt.NDArray[np.int64]) -> int:
    """Local maxima of ``env`` above ``level``, at least ``min_gap`` apart (of two closer
    ones the larger is kept, greedily in time); their indices go to ``peaks``, the count is
    returned."""
    count = 0
    for p in range(1, env.shape[0] - 1):
        v = env[p]
        if not (v > env[p - 1] and v >= env[p + 1] and v > level):
            continue
        if count and p - peaks[count - 1] < min_gap:
            if v > env[peaks[count - 1]]:
                peaks[count - 1] = p
            continue
        peaks[count] = p
        count += 1
    return count


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> tuple[FloatArray, float]:
    win = np.hanning(n)
    return win, float(np.sum(win**2))


def welch_psd(x: FloatArray, rate: float, seg_s: float = WELCH_SEGMENT_S) -> FloatArray:
    """Mean periodogram of Hann-windowed, half-overlapping segments (power per bin)."""
    n = round(seg_s * rate)
    if x.size < n:
        x = np.concatenate([x, np.zeros(n - x.size)])
    step = n // 2
    win, power = _hann(n)
    count = (x.size - n) // step + 1
    if n == 2 * step:
        # Half-overlapping segments are two runs of half-segments side by side (what a
        # strided view would give, without building one).
        halves = x[: (count + 1) * step].reshape(count + 1, step)
        segs = np.empty((count, n))
        segs[:, :step] = halves[:-1]
        segs[:, step:] = halves[1:]
        segs *= win
    else:
        segs = np.lib.stride_tricks.sliding_window_view(x, n)[::step] * win
    spec = np.abs(np.fft.rfft(segs, axis=1)) ** 2
    return np.asarray(spec.mean(axis=0) / power)


def _strongest_window(x: FloatArray, n: int) -> FloatArray:
    if x.size <= n:
        return x
    energy = np.cumsum(np.concatenate([[0.0], x * x]))
    start = int(np.argmax(energy[n:] - energy[:-n]))
    return x[start : start + n]


@njit(cache=True)
def running_median(x: FloatArray, width: int, out: FloatArray) -> None:
    """Median of each ``width``-long (odd) window of ``x``, edges padded with the end values
    (``np.median`` over ``sliding_window_view`` of the edge-padded signal, exactly: the
    middle value of the sorted window). A sorted copy of the window is kept up to date."""
    n = x.shape[0]
    half = width // 2
    win = np.empty(width)
    for j in range(width):
        win[j] = x[min(max(j - half, 0), n - 1)]
    win.sort()
    for i in range(n):
        out[i] = win[half]
        if i + 1 == n:
            break
        old = x[min(max(i - half, 0), n - 1)]
        new = x[min(i + half + 1, n - 1)]
        # Replace one occurrence of the old value by the new one and restore the order.
        k = 0
        while win[k] != old:
            k += 1
        win[k] = new
        while k > 0 and win[k - 1] > win[k]:
            win[k - 1], win[k] = win[k], win[k - 1]
            k -= 1
        while k + 1 < width and win[k + 1] < win[k]:
            win[k + 1], win[k] = win[k], win[k + 1]
            k += 1


@dataclass(frozen=True)
class _Grid:
    """What the spectral features need that depends only on the sample rate."""

    freqs: FloatArray
    band: npt.NDArray[np.bool_]
    width: int
    top: int
    valid: npt.NDArray[np.bool_]
    harm: npt.NDArray[np.int64]
    """Spectrum bins of f0, 2f0, 3f0, 4f0 for every f0 searched."""


@functools.lru_cache(maxsize=8)
def _grid(rate: float, size: int) -> _Grid:
    freqs = np.asarray(np.fft.rfftfreq(round(WELCH_SEGMENT_S * rate), 1.0 / rate), np.float64)
    band = (freqs >= 2.0) & (freqs <= SPECTRUM_TOP_HZ)
    width = 2 * round(2.5 * WELCH_SEGMENT_S) + 1
    top = int(np.searchsorted(freqs, SPECTRUM_TOP_HZ)) + width
    df = freqs[1]
    f0 = np.arange(LINE_SEARCH_HZ[0], LINE_SEARCH_HZ[1] + df / 2, df)
    k = np.arange(1, 5)
    harm = f0[:, None] * k[None, :]
    valid = harm <= SPECTRUM_TOP_HZ
    idx = np.minimum(np.rint(harm / df).astype(np.int64), size - 1)
    return _Grid(freqs, band, width, top, valid, idx)


def spectral_features(bb: FloatArray, noise: FloatArray, rate: float) -> tuple[float, float]:
    """``(centroid_hz, harmonic line score)`` of an event against the noise before it."""
    seg = _strongest_window(bb, int(SPECTRUM_MAX_S * rate))
    p_ev = welch_psd(seg, rate)
    g = _grid(rate, p_ev.size)
    have_noise = noise.size >= round(WELCH_SEGMENT_S * rate)
    p_no = welch_psd(noise, rate) if have_noise else np.zeros_like(p_ev)
    return spectrum_scores(p_ev, p_no, have_noise, g.band, g.freqs, g.width, g.top, g.valid, g.harm)


@njit(cache=True)
def spectrum_scores(
    p_ev: FloatArray,
    p_no: FloatArray,
    have_noise: bool,
    band: npt.NDArray[np.bool_],
    freqs: FloatArray,
    width: int,
    top: int,
    valid: npt.NDArray[np.bool_],
    harm: npt.NDArray[np.int64],
) -> tuple[float, float]:
    """``spectral_features`` from the event's and the noise's power spectra (``_grid``)."""
    size = p_ev.shape[0]
    # Centroid of the excess over the noise, within the band.
    total = moment = 0.0
    for i in range(size):
        if band[i]:
            excess = max(p_ev[i] - p_no[i], 0.0)
            total += excess
            moment += freqs[i] * excess
    centroid = moment / total if total > 0 else 0.0
    # Line prominence: log power over a running median of the spectrum (about 5 Hz wide),
    # computed up to the top of the band only; lines the noise has too do not count.
    top = min(top, size)
    # Keeps empty bins out of the logs, far below anything a sensor resolves, in its units.
    tiny = 1e-15 * max(p_ev[:top].max(), 0.0) + 1e-300 if top else 1e-300
    prom = np.zeros(size)
    level = np.empty(top)
    running_median(p_ev[:top], width, level)
    for i in range(top):
        prom[i] = math.log10(p_ev[i] + tiny) - math.log10(level[i] + tiny)
    if have_noise:
        running_median(p_no[:top], width, level)
        for i in range(top):
            prom[i] -= max(math.log10(p_no[i] + tiny) - math.log10(level[i] + tiny), 0.0)
    for i in range(top):
        prom[i] = max(prom[i], 0.0)
    # Comb score: mean prominence at f0, 2f0, 3f0, 4f0 (those below the top), best f0; each
    # harmonic is the largest of its bin and the two beside it (circularly).
    best = 0.0
    for r in range(harm.shape[0]):
        acc = 0.0
        count = 0
        for k in range(harm.shape[1]):
            if valid[r, k]:
                j = harm[r, k]
                acc += max(prom[j - 1 if j > 0 else size - 1], prom[j], prom[(j + 1) % size])
                count += 1
        if count >= 2:
            best = max(best, acc / count)
    return centroid, best


def rise_fall(log_env: FloatArray, rate: float) -> tuple[float, float]:
    """``(score, peak position 0..1)``: R^2 of a downward parabola fitted to the smoothed log
    envelope (0 when the fit opens upwards), and where its maximum lies."""
    if log_env.size < 10:
        return 0.0, 0.5
    return parabola_fit(_moving_average(log_env, max(1, round(1.0 * rate))))


@njit(cache=True)
def parabola_fit(y: FloatArray) -> tuple[float, float]:
    """``rise_fall`` of the smoothed log envelope ``y``, fitted over t in [-1, 1]."""
    size = y.shape[0]
    t = np.linspace(-1.0, 1.0, size)
    # Least squares in closed form: t is symmetric, so the odd sums vanish.
    n = float(size)
    s2 = s4 = sy = sty = st2y = 0.0
    for i in range(size):
        tt = t[i] * t[i]
        s2 += tt
        s4 += tt * tt
        sy += y[i]
        sty += t[i] * y[i]
        st2y += tt * y[i]
    det = n * s4 - s2 * s2
    if det <= 0.0 or s2 <= 0.0:
        return 0.0, 0.5
    a = (n * st2y - s2 * sy) / det
    b = sty / s2
    c = (sy - a * s2) / n
    if a >= 0:
        return 0.0, 0.5
    mean = sy / n
    ss_tot = ss_res = 0.0
    for i in range(size):
        ss_tot += (y[i] - mean) ** 2
        ss_res += (y[i] - ((a * t[i] + b) * t[i] + c)) ** 2
    if ss_tot <= 0:
        return 0.0, 0.5
    vertex = min(max(-b / (2 * a), -1.0), 1.0)
    return max(1.0 - ss_res / ss_tot, 0.0), (vertex + 1.0) / 2.0


@njit(cache=True)
def impulsiveness(x: FloatArray) -> tuple[float, float]:
    """``(log10 kurtosis, crest factor)`` of a centred trace; (0, 0) for silence. Taken on
    the trace over its peak: a converter stuck on one count leaves the high-passed trace
    decaying to 1e-200 and below, where the fourth powers of its samples underflow."""
    peak = 0.0
    for v in x:
        peak = max(peak, abs(v))
    if peak == 0.0:
        return 0.0, 0.0
    scale = 1.0 / peak
    m2 = m4 = 0.0
    for v in x:
        z2 = (v * scale) ** 2
        m2 += z2
        m4 += z2 * z2
    n = x.shape[0]
    m2 /= n
    return math.log10(max(m4 / n / (m2 * m2), 1e-3)), 1.0 / math.sqrt(m2)


def seismic_features(
    band_e: FloatArray,
    band_floor: FloatArray,
    bb_e: FloatArray,
    bb: FloatArray,
    noise_bb: FloatArray,
    frame_rate: float,
    rate: float,
    bands_hz: list[tuple[float, float]],
    peak_snr: float,
) -> dict[str, float]:
    """Features of one event: ``band_e``/``band_floor`` (frames, bands), ``bb_e`` (frames,)
    frame energies; ``bb`` the broadband waveform at ``rate``; ``noise_bb`` what preceded it."""
    n_frames = band_e.shape[0]
    feats: dict[str, float] = {
        "duration_s": n_frames / frame_rate,
        "log_duration": math.log10(1.0 + n_frames / frame_rate),
        "log_snr": math.log10(max(peak_snr, 1e-3)),
    }
    excess = np.maximum(band_e - band_floor, 0.0).sum(axis=0)
    total = float(excess.sum())
    snr = band_e.mean(axis=0) / (band_floor.mean(axis=0) + 1e-300)
    for i in range(band_e.shape[1]):
        feats[f"band_frac_{i}"] = float(excess[i] / total) if total > 0 else 0.0
        feats[f"band_snr_{i}"] = math.log10(max(float(snr[i]), 1e-3))
    high = [i for i, (lo, _) in enumerate(bands_hz) if lo >= 10.0] or [band_e.shape[1] - 1]
    env = np.sqrt(band_e[:, high].sum(axis=1))
    smooth = max(1, round(1.5 * frame_rate))
    detrended = env - _moving_average(env, smooth)
    cad_hz, cad, cad2 = strongest_beat(band_e[:, high], frame_rate, smooth)
    feats["cadence_hz"] = cad_hz
    feats["cadence"] = cad
    feats["cadence_h2"] = cad2
    cv, steps = step_regularity(detrended, frame_rate)
    feats["step_cv"] = cv
    feats["step_rate"] = steps
    mean_env = float(env.mean())
    feats["modulation"] = float(detrended.std() / mean_env) if mean_env > 0 else 0.0
    x = bb - bb.mean() if bb.size else bb
    feats["kurtosis"], feats["crest"] = impulsiveness(x)
    centroid, harmonic = spectral_features(x, noise_bb, rate)
    feats["centroid_hz"] = centroid
    feats["harmonic"] = harmonic
    rf, peak_pos = rise_fall(np.log10(bb_e + 1e-300), frame_rate)
    feats["risefall"] = rf
    feats["peak_pos"] = peak_pos
    return feats


def _warm() -> object:
    out = np.empty(32)
    running_median(np.arange(32.0), 11, out)
    return out


def _warm_envelope() -> object:
    out = np.empty(32)
    moving_average(np.arange(32.0), 5, out)
    return impacts(out, 0.0, 2, np.empty(32, dtype=np.int64))


def _warm_event() -> object:
    """An event as the seismic chain hands one over: every feature kernel, its types."""
    rng = np.random.default_rng(0)
    frames, rate, frame_rate = 200, 250.0, 50.0
    bands = [(2.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, 100.0)]
    band_e = rng.uniform(1.0, 2.0, (frames, len(bands)))
    bb = rng.standard_normal(frames * 5)
    return seismic_features(
        band_e, band_e * 0.1, band_e.sum(axis=1), bb, bb[:600], frame_rate, rate, bands, 10.0
    )


WARMUP = {"running_median": _warm, "moving_average": _warm_envelope, "event": _warm_event}
"""For ``ugs-gateway warmup``."""
