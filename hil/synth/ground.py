"""Shared physics and signal helpers of the scenario generator.

Ground propagation: a source's amplitude at the sensor falls with geometric spreading and
with anelastic attenuation, which removes high frequencies faster, so distant footsteps are
heard mostly in their low modes::

    gain(f, r) = (r_ref / r) ** spreading * exp(-pi * f * (r - r_ref) / (Q * c))

Everything here is vectorised numpy; frequency-domain shaping uses one real FFT per call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Ground:
    """Propagation and response of the soil around the sensor (soft, dry soil by default)."""

    q: float = 15.0
    """Anelastic quality factor of the near-surface soil (10-30 for loose soil)."""
    c: float = 200.0
    """Surface-wave velocity, m/s."""
    spreading: float = 1.0
    """Amplitude falls as r**-spreading (about 1 for footsteps within 50 m, measured)."""
    r_ref: float = 1.0
    """Distance at which source amplitudes are quoted, m."""
    modes_hz: tuple[float, ...] = (10.0, 22.0, 40.0, 65.0)
    """Resonances of the ground under an impact: what a footstep 'rings' at."""
    mode_q: float = 5.0
    """Quality factor of those resonances (decay time q / (pi f))."""
    mode_gain: tuple[float, ...] | None = None
    """How strongly an impact excites each resonance relative to soil (None: as soil). A
    floor puts most of a footfall into its fundamental modes."""
    impact_gain: float = 1.0
    """Ground velocity per unit of impact force relative to soil: a compliant floor moves
    more under the same footfall."""

    def gain(self, f: npt.ArrayLike, r: npt.ArrayLike) -> FloatArray:
        freq = np.asarray(f, dtype=np.float64)
        dist = np.maximum(np.asarray(r, dtype=np.float64), self.r_ref)
        spread = (self.r_ref / dist) ** self.spreading
        return np.asarray(spread * np.exp(-np.pi * freq * (dist - self.r_ref) / (self.q * self.c)))


def random_ground(rng: np.random.Generator) -> Ground:
    """A plausible site: soil Q, wave speed and resonances vary from place to place."""
    scale = rng.uniform(0.85, 1.15)
    return Ground(
        q=float(rng.uniform(12.0, 20.0)),
        c=float(rng.uniform(170.0, 240.0)),
        spreading=float(rng.uniform(0.9, 1.1)),
        modes_hz=tuple(float(f * scale * rng.uniform(0.93, 1.07)) for f in Ground.modes_hz),
        mode_q=float(rng.uniform(4.0, 6.5)),
    )


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A draw spread evenly in log between ``lo`` and ``hi`` (``lo``, with no draw, when the
    range is empty)."""
    if hi <= lo:
        return lo
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n: FFT lengths with only small factors are fast."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def shape_spectrum(
    x: FloatArray, rate: float, response: Callable[[FloatArray], npt.NDArray[np.complex128]]
) -> FloatArray:
    """Filter ``x`` (along axis 0) by a frequency response given as a function of Hz.

    Zero-padded to a fast FFT length, so the wrap-around of tails is mostly into the padding.
    """
    n = x.shape[0]
    if n < 2:
        return x.copy()
    m = fast_len(n)
    spec = np.fft.rfft(x, n=m, axis=0)
    h = response(np.asarray(np.fft.rfftfreq(m, 1.0 / rate), dtype=np.float64))
    if spec.ndim == 2:
        h = h[:, None]
    return np.asarray(np.fft.irfft(spec * h, n=m, axis=0)[:n], dtype=np.float64)


def coloured_noise(
    rng: np.random.Generator,
    n: int,
    rate: float,
    amplitude: Callable[[FloatArray], FloatArray],
    rms: float,
    components: int = 1,
) -> FloatArray:
    """Gaussian noise of shape (n, components) whose amplitude spectrum follows
    ``amplitude(f)``, scaled to the given RMS."""
    if n == 0:
        return np.zeros((0, components))
    m = fast_len(n)
    white = rng.standard_normal((m, components))
    freqs = np.asarray(np.fft.rfftfreq(m, 1.0 / rate), dtype=np.float64)
    spec = np.fft.rfft(white, axis=0) * amplitude(freqs)[:, None]
    shaped = np.fft.irfft(spec, n=m, axis=0)[:n]
    current = float(np.sqrt(np.mean(shaped**2)))
    if current == 0.0:
        return np.asarray(shaped)
    return np.asarray(shaped * (rms / current))


def band_noises(
    rng: np.random.Generator, n: int, rate: float, bands: list[tuple[float, float]]
) -> list[FloatArray]:
    """Unit-RMS noises of length n in each (lo, hi) band, from one white-noise draw (the
    bands barely overlap, so they are nearly independent)."""
    m = fast_len(max(n, 2))
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.asarray(np.fft.rfftfreq(m, 1.0 / rate), dtype=np.float64)
    out = []
    for lo, hi in bands:
        x = np.fft.irfft(spec * band(f, lo, hi), n=m)[:n]
        out.append(np.asarray(x / max(float(np.sqrt(np.mean(x**2))), 1e-30)))
    return out


def band(f: FloatArray, lo: float, hi: float, order: int = 2) -> FloatArray:
    """Smooth band-pass magnitude (Butterworth-like skirts) between lo and hi Hz."""
    f = np.maximum(f, 1e-6)
    hp = 1.0 / np.sqrt(1.0 + (lo / f) ** (2 * order))
    lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order))
    return np.asarray(hp * lp)


def geophone_response(
    f: FloatArray, natural_hz: float = 4.5, damping: float = 0.7
) -> npt.NDArray[np.complex128]:
    """Velocity response of a moving-coil geophone: flat above its natural frequency, falling
    as f^2 below it."""
    x = f / natural_hz
    return np.asarray(-(x**2) / (1.0 - x**2 + 2j * damping * x))


def antialias(f: FloatArray, rate: float) -> npt.NDArray[np.complex128]:
    """The digitizer's anti-alias filter: flat to 0.4 x rate, gone by Nyquist."""
    edge = 0.4 * rate
    nyq = 0.5 * rate
    t = np.clip((f - edge) / (nyq - edge), 0.0, 1.0)
    return np.asarray(0.5 * (1.0 + np.cos(np.pi * t))).astype(np.complex128)


def render_impulses(
    out: FloatArray,
    rate: float,
    t_first: float,
    times: FloatArray,
    amps: FloatArray,
    freqs: FloatArray,
    taus: FloatArray,
    length_s: float,
    phase: float = 0.0,
    column: int = 0,
) -> None:
    """Add damped-sinusoid impulse responses into ``out[:, column]`` in place.

    ``out[0]`` is at time ``t_first``; impulse ``i`` starts at ``times[i]`` (sub-sample
    accurate) and rings in modes ``freqs[i, k]`` with decay ``taus[i, k]`` and amplitude
    ``amps[i, k]``. ``phase`` = pi/2 gives the quadrature (radial) motion of the same modes.
    """
    if times.size == 0:
        return
    n_out = out.shape[0]
    length = max(2, round(length_s * rate))
    first = np.floor((times - t_first) * rate).astype(np.int64)
    idx = first[:, None] + np.arange(length)[None, :]
    dt = idx / rate + t_first - times[:, None]  # seconds since each impulse, (n, L)
    dt_pos = np.maximum(dt, 0.0)
    wave = np.zeros(dt.shape)
    for k in range(freqs.shape[1]):
        wave += (
            amps[:, k : k + 1]
            * np.exp(-dt_pos / taus[:, k : k + 1])
            * np.sin(2.0 * np.pi * freqs[:, k : k + 1] * dt_pos + phase)
        )
    if phase != 0.0:
        # The quadrature part would start with a jump: ease it in over a quarter cycle.
        ramp = np.clip(dt_pos * freqs[:, :1] * 4.0, 0.0, 1.0)
        wave *= ramp
    wave[dt < 0] = 0.0
    keep = (idx >= 0) & (idx < n_out)
    out[:, column] += np.bincount(idx[keep], weights=wave[keep], minlength=n_out)[:n_out]


def moving_peak(x: FloatArray, rate: float, window_s: float = 0.25) -> tuple[FloatArray, float]:
    """Peak |x| (over all columns) per window: a cheap envelope for detectability spans.
    Returns the per-window peaks and the window length in seconds."""
    step = max(1, round(window_s * rate))
    mag = np.abs(x) if x.ndim == 1 else np.sqrt(np.sum(x**2, axis=1))
    nblocks = -(-mag.shape[0] // step)
    padded = np.zeros(nblocks * step)
    padded[: mag.shape[0]] = mag
    return padded.reshape(nblocks, step).max(axis=1), step / rate


def block_rms(x: FloatArray, rate: float, window_s: float) -> tuple[FloatArray, float]:
    """RMS (over all columns) per window of ``window_s``; the last partial window is dropped
    unless it is the only one."""
    step = max(1, round(window_s * rate))
    sq = x**2 if x.ndim == 1 else np.sum(x**2, axis=1)
    nblocks = max(1, sq.shape[0] // step)
    used = sq[: nblocks * step] if sq.shape[0] >= step else sq
    if sq.shape[0] < step:
        return np.sqrt(np.array([np.mean(sq)])), step / rate
    return np.sqrt(used.reshape(nblocks, step).mean(axis=1)), step / rate


def smooth_random(rng: np.random.Generator, n: int, rate: float, corr_s: float) -> FloatArray:
    """Zero-mean, unit-variance Gaussian process with correlation time ``corr_s``.

    Drawn on a grid of ~10 points per correlation time and interpolated, so slow processes
    over long recordings cost little.
    """
    if n == 0:
        return np.zeros(0)
    coarse_rate = min(rate, 10.0 / corr_s)
    m = max(4, math.ceil(n / rate * coarse_rate) + 2)
    fc = 1.0 / (2.0 * np.pi * corr_s)
    x = coloured_noise(rng, m, coarse_rate, lambda f: 1.0 / np.sqrt(1.0 + (f / fc) ** 2), 1.0)
    x = x[:, 0] - float(np.mean(x))
    x /= max(float(np.std(x)), 1e-12)
    if coarse_rate == rate and m >= n:
        return np.asarray(x[:n])
    return np.asarray(np.interp(np.arange(n) / rate, np.arange(m) / coarse_rate, x))


def cosine_taper(n: int, ramp: int) -> FloatArray:
    """Ones with raised-cosine ramps of ``ramp`` samples at both ends."""
    w = np.ones(n)
    ramp = min(ramp, n // 2)
    if ramp > 0:
        edge = 0.5 * (1.0 - np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp))
        w[:ramp] = edge
        w[n - ramp :] = edge[::-1]
    return w
