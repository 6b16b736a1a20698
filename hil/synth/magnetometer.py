"""The magnetometer channel: Earth's field, its slow drift, and passing iron.

A vehicle is a magnetic dipole of ~100-300 A.m^2 (a car; more for trucks and tracked
vehicles), mostly induced along Earth's field; its anomaly falls off as 1/r^3: a few uT at
1-2 m, ~20 nT at 10 m, below 1 nT beyond ~30 m. People carry small ferrous items (phone,
keys, tools: ~0.01-1 A.m^2), seen only within a few metres. Axes are north, east and down
(geomagnetic convention), in nT.
"""

from __future__ import annotations

import numpy as np

from hil.synth.ground import FloatArray, coloured_noise, smooth_random
from hil.synth.scene import Body, Scene, local_window

MU0_4PI_NT = 100.0
"""mu0 / 4 pi in nT.m^3 per A.m^2 (1e-7 T.m/A = 100 nT.m/A)."""
NOISE_RMS = 0.4
"""Per-axis sensor noise, nT RMS at 50 Hz sampling (about the 1-nT register resolution)."""
DETECTABLE_FACTOR = 5.0
SENSOR_DEPTH = 0.2
"""The magnetometer is buried this far below the PIR/geophone reference height, m."""


def dipole_field(
    moment: tuple[float, float, float], north: FloatArray, east: FloatArray, down: FloatArray
) -> FloatArray:
    """Field (n, 3) in nT at the sensor from a dipole at offsets (north, east, down) metres
    from the sensor."""
    r = np.stack([-north, -east, -down], axis=1)  # from the dipole to the sensor
    dist = np.maximum(np.linalg.norm(r, axis=1), 0.3)
    unit = r / dist[:, None]
    m = np.asarray(moment, dtype=np.float64)
    mdotr = unit @ m
    return np.asarray(MU0_4PI_NT * (3.0 * mdotr[:, None] * unit - m[None, :]) / dist[:, None] ** 3)


def body_signal(scene: Scene, body: Body) -> tuple[FloatArray, int]:
    """Noise-free anomaly (n, 3) of one body on a local window, and its first index."""
    rate = scene.mag_rate
    track = body.track
    i0, i1 = local_window(track.t_start, track.t_end, rate, pad_s=0.0)
    n = i1 - i0
    if not any(body.moment):
        return np.zeros((n, 3)), i0
    t = (i0 + np.arange(n)) / rate
    x, y = track.position(t)
    inside = (t >= track.t_start) & (t <= track.t_end)
    down = np.full(n, -(track.height + SENSOR_DEPTH))
    field = dipole_field(body.moment, y, x, down)
    field[~inside] = 0.0
    # Appearing at the edge of the scene must not be a step: ramp over 2 s.
    ramp = np.clip(np.minimum(t - track.t_start, track.t_end - t) / 2.0, 0.0, 1.0)
    return field * ramp[:, None], i0


def background(
    rng: np.random.Generator, scene: Scene, wind_mps: FloatArray, drift_nt_per_h: float
) -> FloatArray:
    """Earth's field plus slow drift (diurnal variation, temperature), sensor noise and the
    sensor rocking in the wind, shape (n, 3), nT."""
    rate = scene.mag_rate
    n = scene.n(rate)
    t = np.arange(n) / rate
    base = np.asarray(scene.earth_field_nt, dtype=np.float64)[None, :]
    slope = rng.normal(0.0, drift_nt_per_h / 3600.0, 3)
    wander = np.stack([smooth_random(rng, n, rate, corr_s=300.0) for _ in range(3)], axis=1)
    drift = t[:, None] * slope[None, :] + 1.5 * wander
    noise = coloured_noise(
        rng, n, rate, lambda f: np.sqrt(1.0 + 0.5 / np.maximum(f, 0.01)), NOISE_RMS, components=3
    )
    # A gust tilts the sensor by microradians: Earth's field leaks between axes.
    tilt = 2e-6 * (wind_mps / 8.0) ** 2 * smooth_random(rng, n, rate, corr_s=1.0)
    rock = tilt[:, None] * np.roll(base, 1, axis=1)
    return np.asarray(base + drift + noise + rock)
