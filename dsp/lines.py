"""Steady lines in a sensor's background, and notches that take them out.

A magnetometer read at about 10 Hz beside a power line sees its 50 or 60 Hz folded down to
a few hertz (50 Hz at 10.64 Hz lands at 3.2 Hz): a steady sinusoid in the band where passing
vehicles live, as strong as a far car, which lifts the noise every threshold stands on. Such
a line is found in the spectrum of the stretch a chain learns its background from, and
notched out of the samples before detection.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.filters import prime_sections, sosfilt_block

FloatArray = npt.NDArray[np.float64]

LINE_MIN_HZ = 1.0
"""Below this a passing vehicle's own spectrum lies (a pass lasts a second or more)."""
LINE_K = 20.0
"""A line stands this many times above the median of the spectrum around it: white noise's
periodogram passes that once in millions of bins."""
REF_HZ = 1.5
"""The spectrum a line is measured against: this far either side of it ..."""
SKIRT_BINS = 3
"""... but for this many bins either side, its own skirt."""
LINE_SEGMENT_S = 8.0
"""Spectra are averaged over segments this long (half-overlapping): 0.125-Hz bins."""
MAX_LINES = 4
SETTLE_CYCLES = 3.0
"""A notch rings for about Q cycles of its line: its state is settled over this many times
that before a stream's first sample."""
HEAD_S = 4.0
"""The first seconds of an axis that its lines' phase is fitted on."""
NOTCH_Q = 4.0
"""Centre over width of a notch: wide enough for a line that wanders a little (a mains
frequency folded down moves with the sampling clock's error)."""


def find_lines(x: FloatArray, rate: float) -> list[float]:
    """Frequencies (Hz) of the steady lines in ``x`` (samples x axes, finite), strongest
    first; none when ``x`` is shorter than two seconds."""
    n = x.shape[0]
    if n < 2.0 * rate or n < 16:
        return []
    seg = min(n, max(16, round(LINE_SEGMENT_S * rate)))
    hop = max(1, seg // 2)
    window = np.hanning(seg)
    t = np.arange(seg) - (seg - 1) / 2.0
    power = np.zeros(seg // 2 + 1)
    count = 0
    for a in range(0, n - seg + 1, hop):
        piece = x[a : a + seg]
        # Each axis less its straight line: the field's slow drift is no line.
        slope = (t @ (piece - piece.mean(axis=0))) / (t @ t)
        rest = piece - piece.mean(axis=0) - np.outer(t, slope)
        power += np.sum(np.abs(np.fft.rfft(rest * window[:, None], axis=0)) ** 2, axis=1)
        count += 1
    power /= max(count, 1)
    freqs = np.fft.rfftfreq(seg, 1.0 / rate).astype(np.float64)
    found: list[tuple[float, float]] = []
    top = 0.45 * rate
    for k in range(1, freqs.size - 1):
        f = freqs[k]
        if f < LINE_MIN_HZ or f > top or power[k] < power[k - 1] or power[k] < power[k + 1]:
            continue
        # The reference leaves out the line's own skirt: a line that wanders a little
        # (a folded mains moves with the sampling clock) spreads over a few bins.
        off = np.abs(np.arange(freqs.size) - k)
        near = (np.abs(freqs - f) <= REF_HZ) & (off > SKIRT_BINS)
        if np.count_nonzero(near) < 4:
            continue
        ref = float(np.median(power[near]))
        if ref > 0.0 and power[k] > LINE_K * ref:
            found.append((float(power[k] / ref), _peak_hz(power, freqs, k)))
    lines: list[float] = []
    for _, f in sorted(found, reverse=True):
        if all(abs(f - g) > f / NOTCH_Q for g in lines):
            lines.append(f)
        if len(lines) == MAX_LINES:
            break
    return lines


def _peak_hz(power: FloatArray, freqs: FloatArray, k: int) -> float:
    """Where between its neighbours the peak at bin ``k`` lies (a parabola through the three
    log powers): a notch off its line by a third of a bin lets a tenth of it through."""
    a, b, c = (math.log(max(float(v), 1e-300)) for v in power[k - 1 : k + 2])
    bend = a - 2.0 * b + c
    shift = 0.5 * (a - c) / bend if bend < 0.0 else 0.0
    return float(freqs[k] + max(-0.5, min(0.5, shift)) * (freqs[1] - freqs[0]))


def notch_sos(freqs: list[float], rate: float, q: float = NOTCH_Q) -> FloatArray:
    """One biquad notch per frequency, unity gain elsewhere, as second-order sections
    ``(b0, b1, b2, 1, a1, a2)``."""
    sos = np.zeros((len(freqs), 6))
    for i, f in enumerate(freqs):
        w0 = 2.0 * math.pi * f / rate
        alpha = math.sin(w0) / (2.0 * q)
        a0 = 1.0 + alpha
        sos[i] = (
            1.0 / a0,
            -2.0 * math.cos(w0) / a0,
            1.0 / a0,
            1.0,
            -2.0 * math.cos(w0) / a0,
            (1.0 - alpha) / a0,
        )
    return sos


def settled_state(sos: FloatArray, head: FloatArray, lines: list[float], rate: float) -> FloatArray:
    """The notches' state ``(sections, 2)`` as if ``head`` (one axis's first samples, finite)
    had been going on for ever: its level and its lines, fitted, played for the notches'
    settling time before it. A state for a constant would let the lines through at first,
    and their ringing would be the first second's event."""
    n = head.shape[0]
    t = np.arange(n, dtype=np.float64)
    cols = [np.ones(n)]
    for f in lines:
        w = 2.0 * math.pi * f / rate
        cols += [np.cos(w * t), np.sin(w * t)]
    basis = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(basis, head, rcond=None)
    lead = round(SETTLE_CYCLES * NOTCH_Q * rate / min(lines))
    past = np.arange(-lead, 0, dtype=np.float64)
    before = np.full(lead, coef[0])
    for j, f in enumerate(lines):
        w = 2.0 * math.pi * f / rate
        before += coef[1 + 2 * j] * np.cos(w * past) + coef[2 + 2 * j] * np.sin(w * past)
    zi = np.zeros((sos.shape[0], 2))
    prime_sections(sos, zi, 0, sos.shape[0], float(before[0]))
    sosfilt_block(sos, before, zi, np.empty(lead))
    return zi
