"""Filter design: Butterworth sections and Kaiser-windowed FIR low-pass filters.

Designed once per sensor when a detector is built (plain numpy, not kernels). The results are
checked against ``scipy.signal`` in the golden tests; scipy itself is not a runtime dependency.

Second-order sections use scipy's layout: one row ``[b0, b1, b2, 1, a1, a2]`` per section.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
FilterKind = Literal["lowpass", "highpass", "bandpass"]


def _prototype_poles(order: int) -> npt.NDArray[np.complex128]:
    """Poles of the analog Butterworth prototype (cut-off 1 rad/s), left half-plane."""
    k = np.arange(-order + 1, order, 2)
    return np.asarray(-np.exp(1j * np.pi * k / (2 * order)), dtype=np.complex128)


def _pair_poles(poles: npt.NDArray[np.complex128]) -> list[tuple[complex, complex]]:
    """Conjugate pairs (upper half-plane member first); real poles paired with each other."""
    upper = sorted((p for p in poles if p.imag > 1e-12), key=abs)
    real = sorted((p.real for p in poles if abs(p.imag) <= 1e-12), key=abs)
    pairs = [(complex(p), complex(p.conjugate())) for p in upper]
    while len(real) >= 2:
        pairs.append((complex(real.pop()), complex(real.pop())))
    if real:
        pairs.append((complex(real.pop()), 0j))
    # Poles nearest the unit circle last, like scipy, so the sharpest section sees the
    # already-smoothed signal.
    pairs.sort(key=lambda pair: -min(1.0 - abs(pair[0]), 1.0 - abs(pair[1]) if pair[1] else 1.0))
    return pairs


def butter_sos(
    order: int, freq: float | tuple[float, float], fs: float, kind: FilterKind
) -> FloatArray:
    """Digital Butterworth filter as second-order sections (bilinear transform, pre-warped).

    ``freq`` is the cut-off in Hz, or ``(low, high)`` for a band-pass. A band-pass of order N
    has 2N poles (N sections), like ``scipy.signal.butter(N, (lo, hi), "bandpass")``.
    """
    if order < 1:
        raise ValueError("filter order must be at least 1")
    nyquist = fs / 2.0
    edges = (freq,) if isinstance(freq, int | float) else tuple(freq)
    if kind == "bandpass" and len(edges) != 2:
        raise ValueError("a band-pass needs (low, high) edges")
    if kind != "bandpass" and len(edges) != 1:
        raise ValueError(f"a {kind} needs one cut-off frequency")
    for f in edges:
        if not 0.0 < f < nyquist:
            raise ValueError(f"cut-off {f:g} Hz must lie between 0 and Nyquist ({nyquist:g} Hz)")
    fs2 = 2.0 * fs
    warped = [fs2 * math.tan(math.pi * f / fs) for f in edges]
    proto = _prototype_poles(order)
    n_zero_at_origin: int
    if kind == "lowpass":
        poles = proto * warped[0]
        gain = warped[0] ** order
        n_zero_at_origin = 0
    elif kind == "highpass":
        poles = warped[0] / proto
        gain = 1.0
        n_zero_at_origin = order
    else:
        lo, hi = warped
        if lo >= hi:
            raise ValueError("band-pass edges must be increasing")
        bw, w0 = hi - lo, math.sqrt(lo * hi)
        half = proto * bw / 2.0
        root = np.sqrt(half**2 - w0**2)
        poles = np.concatenate([half + root, half - root])
        gain = bw**order
        n_zero_at_origin = order
    n_poles = poles.size
    # Bilinear transform: s -> z = (2fs + s) / (2fs - s). Zeros at s=0 go to z=+1, zeros at
    # infinity (the remaining ones) to z=-1.
    z_poles = (fs2 + poles) / (fs2 - poles)
    analog_zeros = np.zeros(n_zero_at_origin)
    k = gain * np.real(np.prod(fs2 - analog_zeros) / np.prod(fs2 - poles))
    n_plus = n_zero_at_origin
    n_minus = n_poles - n_zero_at_origin
    sections = []
    for p1, p2 in _pair_poles(z_poles):
        second_order = p2 != 0j or abs(p1.imag) > 1e-12
        n_sec = 2 if second_order else 1
        # Hand out the zeros: +1 zeros first to sections that still need them.
        zeros: list[float] = []
        for _ in range(n_sec):
            if n_plus > 0 and (n_minus == 0 or len(zeros) == 0 or zeros[-1] == -1.0):
                zeros.append(1.0)
                n_plus -= 1
            else:
                zeros.append(-1.0)
                n_minus -= 1
        b = np.real(np.poly(zeros))
        a = np.real(np.poly([p1, p2] if second_order else [p1]))
        b = np.concatenate([b, np.zeros(3 - b.size)])
        a = np.concatenate([a, np.zeros(3 - a.size)])
        sections.append(np.concatenate([b, a]))
    sos = np.asarray(sections, dtype=np.float64)
    # Spread the gain evenly over the sections (better-scaled intermediate signals).
    per_section = abs(k) ** (1.0 / len(sections))
    sos[:, :3] *= per_section
    if k < 0:
        sos[0, :3] *= -1.0
    return np.ascontiguousarray(sos)


def sos_response(sos: FloatArray, freqs: npt.ArrayLike, fs: float) -> npt.NDArray[np.complex128]:
    """Complex frequency response of second-order sections at ``freqs`` Hz."""
    z = np.exp(-2j * np.pi * np.asarray(freqs, dtype=np.float64) / fs)
    h = np.ones_like(z)
    for b0, b1, b2, a0, a1, a2 in sos:
        h *= (b0 + b1 * z + b2 * z * z) / (a0 + a1 * z + a2 * z * z)
    return np.asarray(h, dtype=np.complex128)


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser window shape for a stop-band attenuation (Kaiser's empirical formula)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a >= 21:
        return 0.5842 * math.pow(a - 21, 0.4) + 0.07886 * (a - 21)
    return 0.0


def kaiser_numtaps(attenuation_db: float, transition: float) -> int:
    """Taps for a Kaiser-window FIR; ``transition`` is the width as a fraction of Nyquist."""
    n = (attenuation_db - 7.95) / (2.285 * math.pi * transition) + 1
    return max(3, math.ceil(n))


def fir_lowpass(numtaps: int, cutoff: float, beta: float) -> FloatArray:
    """Windowed-sinc low-pass; ``cutoff`` as a fraction of Nyquist; unit gain at DC.

    Same definition as ``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))``.
    """
    if not 0.0 < cutoff < 1.0:
        raise ValueError("cut-off must be a fraction of Nyquist in (0, 1)")
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2.0
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return np.ascontiguousarray(h / h.sum())


def rational_ratio(rate_in: float, rate_out: float, max_denominator: int = 100) -> tuple[int, int]:
    """``(up, down)`` so that ``rate_in * up / down`` is ``rate_out`` with small factors."""
    frac = Fraction(rate_out / rate_in).limit_denominator(max_denominator)
    if frac.numerator == 0:
        raise ValueError(f"cannot resample {rate_in:g} Hz to {rate_out:g} Hz")
    return frac.numerator, frac.denominator


def resampling_filter(
    rate_in: float, up: int, down: int, passband_hz: float, attenuation_db: float = 60.0
) -> FloatArray:
    """Anti-alias/anti-image FIR for a rational resampler, gain ``up`` (polyphase convention).

    Everything below ``passband_hz`` passes; whatever folds back lands above it, so a filter
    bank that ends at ``passband_hz`` never sees aliases.
    """
    if up == down:
        return np.ones(1, dtype=np.float64)  # same rate: a pass-through
    fs_up = rate_in * up
    rate_out = rate_in * up / down
    nyquist_narrow = min(rate_in, rate_out) / 2.0
    passband = min(passband_hz, 0.95 * nyquist_narrow)
    stopband = 2.0 * nyquist_narrow - passband
    cutoff = (passband + stopband) / 2.0 / (fs_up / 2.0)
    transition = (stopband - passband) / (fs_up / 2.0)
    numtaps = kaiser_numtaps(attenuation_db, transition)
    return np.ascontiguousarray(up * fir_lowpass(numtaps, cutoff, kaiser_beta(attenuation_db)))
