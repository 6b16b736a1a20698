"""Seismic background of a site, and the faults a field sensor suffers.

- site noise: coloured (more energy at low frequency, bumps at the soil's resonances),
  slowly varying in level; 30 nm/s RMS is a quiet rural night, 100 nm/s a moderate day;
- wind: ground tilt and rocking of trees and structures (0.5-8 Hz) growing with the square of
  the wind speed, broadband bursts (8-120 Hz) in gusts, and the odd knock of a branch;
- rain: many tiny impacts (drops on the ground and on the sensor housing) ringing at
  60-150 Hz, in showers;
- mains hum from a nearby line: 50 or 60 Hz and its harmonics (odd ones stronger);
- faults: electrical spikes, the amplifier stuck at a rail, flat-lined stretches (a cut
  cable) and dropouts (samples lost; marked invalid).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hil.synth.ground import (
    FloatArray,
    band,
    coloured_noise,
    render_impulses,
    shape_spectrum,
    smooth_random,
)
from hil.synth.scene import Scene


def site_noise(
    rng: np.random.Generator, scene: Scene, rms: float, variation: float = 0.2
) -> FloatArray:
    """Ambient ground noise, shape (n, components), m/s; its level wanders by a factor of
    about exp(+-variation) over minutes."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    modes = scene.ground.modes_hz

    def amplitude(f: FloatArray) -> FloatArray:
        f = np.maximum(f, 0.1)
        shape = (f / 10.0) ** -0.35
        for fm in modes[1:3]:
            shape = shape + 0.6 * np.exp(-0.5 * ((f - fm) / (0.3 * fm)) ** 2)
        return np.asarray(shape * band(f, 0.5, 0.45 * rate, order=3))

    noise = coloured_noise(rng, n, rate, amplitude, rms, scene.seismic_components)
    # Cultural noise rises and falls over minutes.
    level = np.exp(variation * smooth_random(rng, n, rate, corr_s=300.0))
    return np.asarray(noise * level[:, None])


def wind_speed(
    rng: np.random.Generator, duration_s: float, mean_mps: float, gustiness: float
) -> tuple[FloatArray, float]:
    """Wind speed sampled at 2 Hz: turbulence plus discrete gusts. Returns (speed, rate)."""
    rate = 2.0
    n = max(2, math.ceil(duration_s * rate) + 1)
    if mean_mps <= 0:
        return np.zeros(n), rate
    w = mean_mps * (1.0 + 0.5 * gustiness * smooth_random(rng, n, rate, corr_s=25.0))
    t = np.arange(n) / rate
    for _ in range(rng.poisson(duration_s / 60.0 * 1.5 * gustiness / 0.3)):
        t_g = rng.uniform(0.0, duration_s)
        width = rng.uniform(3.0, 12.0)
        w += mean_mps * gustiness * rng.uniform(0.5, 1.3) * np.exp(-0.5 * ((t - t_g) / width) ** 2)
    # Gusts rarely exceed the mean by more than a gust factor of about 1.5-2.
    return np.clip(w, 0.0, mean_mps * (1.0 + 1.6 * gustiness)), rate


def resample_to(values: FloatArray, rate_in: float, n_out: int, rate_out: float) -> FloatArray:
    t_out = np.arange(n_out) / rate_out
    t_in = np.arange(values.size) / rate_in
    return np.asarray(np.interp(t_out, t_in, values))


def wind_noise(rng: np.random.Generator, scene: Scene, wind: FloatArray) -> tuple[FloatArray, int]:
    """Seismic wind noise for a wind-speed series on the seismic grid; and the number of
    branch knocks added."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    comps = scene.seismic_components
    out = np.zeros((n, comps))
    if not np.any(wind > 0):
        return out, 0
    low = coloured_noise(rng, n, rate, lambda f: band(f, 0.5, 8.0), 1.0, comps)
    out += low * (3e-7 * (wind / 10.0) ** 2)[:, None]
    burst = coloured_noise(
        rng, n, rate, lambda f: band(f, 8.0, 120.0) * (f + 1) ** -0.3, 1.0, comps
    )
    out += burst * (1e-7 * (np.maximum(wind - 4.0, 0.0) / 6.0) ** 2)[:, None]
    # Branch knocks: single impacts, Poisson in time, far more frequent in strong gusts.
    lam = 0.015 * (wind / 10.0) ** 3
    count = rng.poisson(float(np.sum(lam)) / rate)
    if count:
        cdf = np.cumsum(lam)
        times = np.sort(np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], count)) / rate)
        modes = np.asarray(scene.ground.modes_hz[1:])
        freqs = modes[None, :] * rng.uniform(0.9, 1.1, (count, modes.size))
        taus = scene.ground.mode_q / (np.pi * freqs)
        amps = rng.lognormal(math.log(4e-7), 0.6, (count, 1)) * rng.uniform(0.3, 1.0, freqs.shape)
        render_impulses(out, rate, 0.0, times, amps, freqs, taus, 0.3)
    return out, int(count)


def rain_noise(rng: np.random.Generator, scene: Scene, mm_per_h: float) -> tuple[FloatArray, float]:
    """Drop impacts, shape (n, components); returns the noise and the mean drops/s."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    comps = scene.seismic_components
    out = np.zeros((n, comps))
    if mm_per_h <= 0:
        return out, 0.0
    intensity = mm_per_h * np.exp(0.7 * smooth_random(rng, n, rate, corr_s=90.0) - 0.245)
    per_sample = 120.0 * intensity / rate  # drops that matter near the sensor: ~120/s per mm/h
    counts = rng.poisson(per_sample)
    total = int(counts.sum())
    idx = np.repeat(np.arange(n), counts)
    # Drop sizes and distances: mostly tiny, a heavy tail of big drops close by.
    amps = 2.5e-8 * np.minimum(rng.pareto(2.3, total) + 1.0, 30.0)
    train = np.bincount(idx, weights=amps, minlength=n)[:n]
    ring_hz = float(rng.uniform(70.0, min(140.0, 0.4 * rate)))
    k = np.arange(round(0.05 * rate)) / rate
    kernel = np.exp(-k / 0.006) * np.sin(2 * np.pi * ring_hz * k)
    spec = np.fft.rfft(train) * np.fft.rfft(kernel, n)
    out[:, 0] = np.fft.irfft(spec, n)
    for c in range(1, comps):
        out[:, c] = 0.5 * np.roll(out[:, 0], c)
    return out, float(total / max(scene.duration_s, 1e-9))


def mains_hum(rng: np.random.Generator, scene: Scene, rms: float, mains_hz: float) -> FloatArray:
    """Pickup of the mains frequency and its harmonics below the anti-alias edge."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    out = np.zeros((n, scene.seismic_components))
    if rms <= 0:
        return out
    wander = 1.0 + 2e-4 * smooth_random(rng, n, rate, corr_s=30.0)
    cycles = mains_hz * np.cumsum(wander) / rate
    level = 1.0 + 0.2 * smooth_random(rng, n, rate, corr_s=60.0)
    hum = np.zeros(n)
    k = 1
    while k * mains_hz < 0.4 * rate:
        weight = (1.0 if k == 1 else 0.45 / k if k % 2 else 0.15 / k) * rng.uniform(0.7, 1.3)
        hum += weight * np.sin(2 * np.pi * k * cycles + rng.uniform(0, 2 * np.pi))
        k += 1
    hum *= level
    hum *= rms / max(float(np.sqrt(np.mean(hum**2))), 1e-30)
    for c in range(scene.seismic_components):
        out[:, c] = hum * (1.0 if c == 0 else 0.6)
    return out


def apply_faults(
    rng: np.random.Generator,
    data: FloatArray,
    valid: np.ndarray,
    rate: float,
    channel: str,
    *,
    clip_level: float | None,
    spikes_per_h: float,
    stuck_per_h: float,
    flatline_per_h: float,
    dropouts_per_h: float,
) -> list[dict[str, Any]]:
    """Corrupt ``data``/``valid`` in place the way field hardware does; list what was done."""
    n = data.shape[0]
    duration = n / rate
    faults: list[dict[str, Any]] = []
    rail = clip_level if clip_level is not None else float(np.max(np.abs(data))) * 4 + 1e-9

    def spans(per_h: float, lo_s: float, hi_s: float) -> list[tuple[int, int]]:
        out = []
        for _ in range(rng.poisson(per_h * duration / 3600.0)):
            a = int(rng.integers(0, max(1, n - 1)))
            length = max(1, round(math.exp(rng.uniform(math.log(lo_s), math.log(hi_s))) * rate))
            out.append((a, min(n, a + length)))
        return out

    for a, b in spans(stuck_per_h, 0.3, 3.0):
        data[a:b] = rail * float(rng.choice([-1.0, 1.0]))
        faults.append({"kind": "stuck", "channel": channel, "t0": a / rate, "t1": b / rate})
    for a, b in spans(flatline_per_h, 2.0, 30.0):
        data[a:b] = data[a]
        faults.append({"kind": "flatline", "channel": channel, "t0": a / rate, "t1": b / rate})
    for a, b in spans(spikes_per_h, 1.0 / rate, 3.0 / rate):
        data[a:b] = rail * float(rng.choice([-1.0, 1.0]))
        faults.append({"kind": "spike", "channel": channel, "t0": a / rate, "t1": b / rate})
    if clip_level is not None:
        over = np.abs(data) >= clip_level
        if over.ndim > 1:
            over = np.any(over, axis=-1)
        np.clip(data, -clip_level, clip_level, out=data)
        # One entry per stretch of saturation (samples less than a second apart merged).
        idx = np.flatnonzero(over)
        if idx.size:
            breaks = np.flatnonzero(np.diff(idx) > rate) + 1
            for run in np.split(idx, breaks):
                faults.append(
                    {
                        "kind": "clipped",
                        "channel": channel,
                        "t0": float(run[0] / rate),
                        "t1": float((run[-1] + 1) / rate),
                        "samples": int(run.size),
                    }
                )
    for a, b in spans(dropouts_per_h, 0.5, 20.0):
        data[a:b] = 0.0
        valid[a:b] = False
        faults.append({"kind": "dropout", "channel": channel, "t0": a / rate, "t1": b / rate})
    return faults


def geophone(data: FloatArray, rate: float, natural_hz: float) -> FloatArray:
    """The geophone's response and the digitizer's anti-alias filter applied to velocity."""
    from hil.synth.ground import antialias, geophone_response

    return shape_spectrum(
        data, rate, lambda f: geophone_response(f, natural_hz) * antialias(f, rate)
    )
