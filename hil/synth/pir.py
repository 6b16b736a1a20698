"""The PIR channel: warm bodies crossing a dual-element pyroelectric sensor behind a lens.

The lens maps the field of view onto a few zones; in each zone two elements of opposite
polarity sit side by side, so a warm body crossing a zone makes the output swing one way and
then the other, and the order of the swings gives the direction. The pyroelectric element
responds to *changes* of radiant flux: the amplifier's 0.2-5 Hz band-pass shapes the output.
Flux falls as 1/r^2, which limits a person's detection to about 12-15 m. False triggers
come from the scene itself: sunlight coming and going behind clouds (slow, one-sided swings
where the two elements are not perfectly matched), warm vegetation moving in the wind, and
small warm things darting past close to the lens (birds and insects outdoors, a gust from a
heating vent indoors): one or two sharp swings of a second or less, across a zone or two
only, as strong as a person some metres away. Real PIR boards show them in empty rooms.
"""

from __future__ import annotations

import math

import numpy as np

from hil.synth.ground import (
    FloatArray,
    band,
    coloured_noise,
    loguniform,
    shape_spectrum,
    smooth_random,
)
from hil.synth.scene import Body, Scene, local_window

FOV_HALF = math.radians(35.0)
ZONES = tuple(math.radians(a) for a in (-24.0, -8.0, 8.0, 24.0))
ELEMENT_OFFSET = math.radians(2.5)
"""Each element's axis sits this far either side of its zone's centre."""
ELEMENT_WIDTH = math.radians(1.8)
GAIN = 1.9
"""Output volts per unit of (thermal / r^2) through one element at unit band-pass gain:
a person (thermal 7) crossing 5 m in front at walking pace gives about 0.5 V."""
HIGHPASS_HZ = 0.2
LOWPASS_HZ = 5.0
NOISE_RMS = 0.015
"""Amplifier and element noise at the output, volts RMS."""
SATURATION_V = 1.6
"""The output swings at most this far either side of its mid-rail level."""
DETECTABLE_FACTOR = 4.0


def response(f: FloatArray) -> np.ndarray:
    """Band-pass of the element (thermal time constant) and the amplifier."""
    jh = 1j * f / HIGHPASS_HZ
    return np.asarray(jh / (1.0 + jh) / (1.0 + 1j * f / LOWPASS_HZ) ** 2)


def pattern(theta: FloatArray) -> FloatArray:
    """Differential element response to a point source at bearing ``theta`` (radians,
    positive to the right): for a body moving left-to-right, + then - in every zone."""
    out = np.zeros_like(theta)
    for centre in ZONES:
        lead = np.exp(-0.5 * ((theta - centre + ELEMENT_OFFSET) / ELEMENT_WIDTH) ** 2)
        trail = np.exp(-0.5 * ((theta - centre - ELEMENT_OFFSET) / ELEMENT_WIDTH) ** 2)
        out += lead - trail
    out[np.abs(theta) > FOV_HALF] = 0.0
    return out


def body_signal(scene: Scene, body: Body) -> tuple[FloatArray, int, str | None]:
    """Noise-free PIR output from one body on a local window, its first index, and the
    crossing direction if it passed through the field of view."""
    rate = scene.pir_rate
    track = body.track
    i0, i1 = local_window(track.t_start, track.t_end, rate, pad_s=8.0)
    if body.thermal <= 0:
        return np.zeros(i1 - i0), i0, None
    t = (i0 + np.arange(i1 - i0)) / rate
    inside = (t >= track.t_start) & (t <= track.t_end)
    x, y = track.position(t)
    theta = (scene.pir_axis - np.arctan2(y, x) + math.pi) % (2 * math.pi) - math.pi
    if scene.site is not None and scene.site.pir.lens_scale != 1.0:
        # A coarser lens: wider zones, elements farther apart, a wider field of view.
        theta = theta / scene.site.pir.lens_scale
    r2 = np.maximum(x**2 + y**2, 0.25)
    flux = np.where(inside, body.thermal / r2 * pattern(theta), 0.0)
    if not np.any(flux):
        return np.zeros(i1 - i0), i0, None
    sig = GAIN * shape_spectrum(flux, rate, response)
    seen = inside & (np.abs(theta) <= FOV_HALF)
    direction = None
    if np.count_nonzero(seen) >= 2:
        th = theta[seen]
        direction = "left-to-right" if th[-1] > th[0] else "right-to-left"
    return sig, i0, direction


def background(
    rng: np.random.Generator,
    scene: Scene,
    wind_mps: FloatArray,
    sun_per_hour: float,
) -> tuple[FloatArray, list[dict[str, float]]]:
    """Noise and scene clutter at the PIR output (before saturation), and the sun events.

    ``wind_mps`` is the wind speed on the PIR's sample grid.
    """
    rate = scene.pir_rate
    n = scene.n(rate)
    white = coloured_noise(
        rng, n, rate, lambda f: np.sqrt(1.0 + 0.3 / np.maximum(f, 0.05)), NOISE_RMS
    )[:, 0]
    noise = shape_spectrum(white, rate, lambda f: band(f, 0.05, 12.0).astype(np.complex128))
    noise *= NOISE_RMS / max(float(np.sqrt(np.mean(noise**2))), 1e-12)
    # Warm vegetation swaying in the wind: grows with the square of the wind speed.
    veg = coloured_noise(rng, n, rate, lambda f: band(f, 0.2, 2.0), 1.0)[:, 0]
    veg *= 0.008 * (wind_mps / 8.0) ** 2
    # Sun behind passing clouds: the two elements are matched to a few percent only, so a
    # cloud's shadow coming and going leaves a slow one-sided swing at each edge.
    sun = np.zeros(n)
    events: list[dict[str, float]] = []
    count = rng.poisson(sun_per_hour * scene.duration_s / 3600.0)
    t = np.arange(n) / rate
    for _ in range(count):
        t_in = float(rng.uniform(0.0, scene.duration_s))
        t_out = t_in + float(rng.uniform(15.0, 240.0))
        rise = float(rng.uniform(2.0, 12.0))
        size = float(rng.choice([-1.0, 1.0]) * rng.lognormal(math.log(0.15), 0.7))
        sun += size * 0.5 * (np.tanh((t - t_in) / rise) - np.tanh((t - t_out) / rise))
        events.append({"t_in": t_in, "t_out": t_out, "rise_s": rise, "size": size})
    if count:
        sun = GAIN * shape_spectrum(sun, rate, response)
    sun += 0.004 * smooth_random(rng, n, rate, corr_s=20.0)
    return noise + veg + sun, events


GLIMPSE_V = (0.04, 0.3)
"""Peak output of a glimpse, volts, drawn log-uniformly: from under the detector's threshold
to about half of what a person 5 m away gives."""
GLIMPSE_RAD_S = (0.3, 5.0)
"""Angular speed of a glimpse across the lens (a bird at a few metres, an insect closer)."""
GLIMPSE_SPAN_RAD = (0.05, 0.45)
"""How much of the field of view it crosses: part of one zone to two zones."""


def glimpses(
    rng: np.random.Generator, scene: Scene, per_hour: float
) -> tuple[FloatArray, list[dict[str, float]]]:
    """Small warm things darting past the lens: the PIR output they add (before saturation)
    and what was drawn. They are clutter, never an event."""
    rate = scene.pir_rate
    n = scene.n(rate)
    out = np.zeros(n)
    drawn: list[dict[str, float]] = []
    count = rng.poisson(per_hour * scene.duration_s / 3600.0)
    for _ in range(count):
        t_mid = float(rng.uniform(0.0, scene.duration_s))
        speed = loguniform(rng, *GLIMPSE_RAD_S)
        span = float(rng.uniform(*GLIMPSE_SPAN_RAD))
        start = float(rng.uniform(-FOV_HALF, FOV_HALF - span))
        if rng.random() < 0.5:
            start, span = start + span, -span
        peak = loguniform(rng, *GLIMPSE_V)
        i0, i1 = local_window(t_mid - 0.5, t_mid + 0.5, rate, pad_s=4.0)
        i0, i1 = max(i0, 0), min(i1, n)
        if i1 - i0 < 8:
            continue
        t = (i0 + np.arange(i1 - i0)) / rate
        frac = (t - t_mid) * speed / abs(span) + 0.5
        inside = (frac >= 0.0) & (frac <= 1.0)
        flux = np.where(inside, pattern(start + span * np.clip(frac, 0.0, 1.0)), 0.0)
        if not np.any(flux):
            continue
        swing = shape_spectrum(flux, rate, response)
        top = float(np.max(np.abs(swing)))
        if top <= 0.0:
            continue
        out[i0:i1] += swing * (peak / top)
        drawn.append({"t": t_mid, "peak_v": peak, "rad_s": speed, "span_rad": abs(span)})
    return out, drawn


def saturate(v: FloatArray) -> FloatArray:
    """The amplifier cannot swing past its rails."""
    return np.asarray(SATURATION_V * np.tanh(v / SATURATION_V))
