"""Wheeled and tracked vehicles, as the geophone hears them.

A vehicle shakes the ground continuously: lines at an engine/tyre fundamental (3-11 Hz) and
its harmonics up to ~30 Hz, over a broadband rumble from the road surface (2-35 Hz; tracked
vehicles add track clatter). Each frequency is attenuated with the distance at that moment,
which gives the rise-and-fall envelope around the closest approach. Ranges from FACTS.md:
wheeled vehicles are detectable at 15-250 m, tracked ones at 25-350 m.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hil.synth.ground import (
    FloatArray,
    band,
    band_noises,
    coloured_noise,
    cosine_taper,
    smooth_random,
)
from hil.synth.scene import Body, Contribution, Scene, crossing_track, local_window

# amp: peak vertical velocity 1 m from the vehicle's path, m/s; f0: fundamental, Hz;
# moment: magnetic dipole, A.m^2; rmax: distance at which it enters/leaves the scene, m;
# decay: harmonic k has weight k**-decay; rumble: broadband share; thermal: m^2.K.
VEHICLES: dict[str, dict[str, Any]] = {
    "car": {
        "source": "wheeled",
        "amp": (1.5e-4, 3.0e-4),
        "f0": (6.0, 11.0),
        "speed": (7.0, 20.0),
        "moment": (100.0, 300.0),
        "rmax": (260.0, 320.0),
        "decay": 0.7,
        "rumble": 0.35,
        "thermal": (25.0, 45.0),
        "clatter": 0.0,
    },
    "truck": {
        "source": "wheeled",
        "amp": (3.0e-4, 6.0e-4),
        "f0": (4.5, 9.0),
        "speed": (6.0, 16.0),
        "moment": (300.0, 900.0),
        "rmax": (280.0, 340.0),
        "decay": 0.55,
        "rumble": 0.35,
        "thermal": (50.0, 90.0),
        "clatter": 0.0,
    },
    "tracked": {
        "source": "tracked",
        "amp": (5.0e-4, 1.0e-3),
        "f0": (3.0, 7.0),
        "speed": (5.0, 12.0),
        "moment": (1000.0, 4000.0),
        "rmax": (330.0, 380.0),
        "decay": 0.35,
        "rumble": 0.6,
        "thermal": (60.0, 120.0),
        "clatter": 0.35,
    },
}

TAPER_S = 3.0
MAX_LINE_HZ = 32.0
RADIAL_RATIO = 0.7


def vehicle(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    model: str,
    *,
    bearing: float | None = None,
    amplitude_scale: float = 1.0,
) -> Contribution:
    """One vehicle driving past at ``range_m`` with its closest approach at ``t_cpa``."""
    spec = VEHICLES[model]
    speed = float(rng.uniform(*spec["speed"]))
    rmax = max(float(rng.uniform(*spec["rmax"])), range_m * 1.05)
    half = max(80.0, math.sqrt(max(rmax**2 - range_m**2, 0.0)))
    track = crossing_track(rng, t_cpa, range_m, speed, half, bearing=bearing, height=0.8)
    rate = scene.seismic_rate
    i0, i1 = local_window(track.t_start, track.t_end, rate, pad_s=0.0)
    n = i1 - i0
    t = (i0 + np.arange(n)) / rate
    ground = scene.ground
    amp = float(rng.uniform(*spec["amp"])) * amplitude_scale
    f0 = float(rng.uniform(*spec["f0"]))
    # Engine speed wanders about a percent: the lines are narrow but not pure tones.
    f_inst = f0 * (1.0 + 0.01 * smooth_random(rng, n, rate, corr_s=4.0))
    cycles = np.cumsum(f_inst) / rate
    n_lines = max(1, int(MAX_LINE_HZ // f0))
    weights = np.arange(1, n_lines + 1, dtype=np.float64) ** -spec["decay"]
    weights *= rng.lognormal(0.0, 0.3, n_lines)
    weights /= np.sqrt(np.sum(weights**2))
    # Amplitudes follow the distance, which changes slowly: evaluate them on a coarse grid.
    t_coarse = np.arange(t[0], t[-1] + 0.1, 0.05)
    r_coarse = track.distance(t_coarse)

    def envelope(f: float) -> FloatArray:
        return np.asarray(np.interp(t, t_coarse, ground.gain(f, r_coarse)))

    lines_z = np.zeros(n)
    lines_r = np.zeros(n)
    for k in range(1, n_lines + 1):
        a = amp * (1.0 - spec["rumble"]) * weights[k - 1] * envelope(k * f0)
        phase = 2.0 * np.pi * k * cycles + rng.uniform(0.0, 2.0 * np.pi)
        lines_z += a * np.sin(phase)
        lines_r += a * np.cos(phase)
    bands = [(2.0, 8.0, 0.4), (8.0, 16.0, 0.35), (16.0, 35.0, 0.25)]
    if spec["clatter"] > 0:
        bands.append((25.0, 60.0, spec["clatter"] ** 2 / spec["rumble"] ** 2))
    noises = band_noises(rng, n, rate, [(lo, hi) for lo, hi, _ in bands])
    rumble = np.zeros(n)
    for (lo, hi, share), noise in zip(bands, noises, strict=True):
        rumble += amp * spec["rumble"] * math.sqrt(share) * noise * envelope(math.sqrt(lo * hi))
    taper = cosine_taper(n, round(TAPER_S * rate))
    seis = np.zeros((n, scene.seismic_components))
    seis[:, 0] = (lines_z + rumble) * taper
    if scene.seismic_components == 3:
        x, y = track.position(t)
        rr = np.maximum(np.hypot(x, y), 1e-3)
        radial = RADIAL_RATIO * (lines_r + rumble) * taper
        seis[:, 1] = radial * y / rr
        seis[:, 2] = radial * x / rr
    body = Body(
        track,
        thermal=float(rng.uniform(*spec["thermal"])),
        moment=vehicle_moment(rng, scene, float(rng.uniform(*spec["moment"]))),
    )
    return Contribution(
        seis,
        i0,
        [body],
        {
            "model": model,
            "speed_mps": speed,
            "f0_hz": f0,
            "lines_hz": [round(k * f0, 2) for k in range(1, n_lines + 1)],
            "heading_deg": track.heading_deg(),
            "present": [track.t_start, track.t_end],
            "moment_am2": float(np.linalg.norm(body.moment)),
        },
    )


def vehicle_moment(
    rng: np.random.Generator, scene: Scene, magnitude: float
) -> tuple[float, float, float]:
    """Induced moment along Earth's field plus a smaller permanent one in any direction."""
    earth = np.asarray(scene.earth_field_nt, dtype=np.float64)
    induced = earth / np.linalg.norm(earth)
    permanent = rng.standard_normal(3)
    permanent /= np.linalg.norm(permanent)
    m = induced * rng.uniform(0.6, 0.85) + permanent * rng.uniform(0.2, 0.5)
    m *= magnitude / np.linalg.norm(m)
    return (float(m[0]), float(m[1]), float(m[2]))


def distant_traffic(
    rng: np.random.Generator,
    scene: Scene,
    out: FloatArray,
    vehicles_per_hour: float,
    road_distance_m: float,
) -> int:
    """Add the rumble of a road ``road_distance_m`` away into ``out`` (seismic, in place).

    Rendered at 100 Hz (everything left at that range is below 30 Hz) and brought to the
    seismic rate by zero-padding the spectrum. Returns the number of vehicles.
    """
    rate_lo = 100.0
    n_lo = round(scene.duration_s * rate_lo)
    lines = np.zeros(n_lo)
    rumble_power = np.zeros(n_lo)
    count = int(rng.poisson(vehicles_per_hour * scene.duration_s / 3600.0))
    ground = scene.ground
    for _ in range(count):
        spec = VEHICLES["truck" if rng.random() < 0.3 else "car"]
        d = road_distance_m * rng.uniform(0.9, 1.1)
        speed = float(rng.uniform(12.0, 25.0))
        track = crossing_track(
            rng, rng.uniform(-60.0, scene.duration_s + 60.0), d, speed, 3.0 * d, height=0.8
        )
        i0, i1 = local_window(track.t_start, track.t_end, rate_lo, pad_s=0.0)
        a, b = max(0, i0), min(n_lo, i1)
        if a >= b:
            continue
        t = np.arange(a, b) / rate_lo
        t_coarse = np.arange(t[0], t[-1] + 1.0, 0.5)
        r = track.distance(t_coarse)
        amp = float(rng.uniform(*spec["amp"]))
        f0 = float(rng.uniform(*spec["f0"]))
        # Gear changes and throttle: the engine line drifts by a few percent.
        wobble = 1.0 + 0.03 * np.sin(2 * np.pi * t / rng.uniform(8.0, 20.0) + rng.uniform(0, 6))
        cycles = f0 * np.cumsum(wobble) / rate_lo
        for k in range(1, int(MAX_LINE_HZ // f0) + 1):
            env = np.interp(t, t_coarse, ground.gain(k * f0, r))
            lines[a:b] += (
                amp
                * 0.5
                * k ** -spec["decay"]
                * env
                * np.sin(2 * np.pi * k * cycles + rng.uniform(0, 2 * np.pi))
            )
        rumble_power[a:b] += (amp * 0.5 * np.interp(t, t_coarse, ground.gain(6.0, r))) ** 2
    # The broadband part of many distant vehicles adds up incoherently.
    noise = coloured_noise(rng, n_lo, rate_lo, lambda f: band(f, 2.0, 20.0), 1.0)[:, 0]
    low = lines + noise * np.sqrt(rumble_power)
    n = out.shape[0]
    spec_lo = np.fft.rfft(low)
    spec_hi = np.zeros(n // 2 + 1, dtype=np.complex128)
    m = min(spec_lo.size, spec_hi.size)
    spec_hi[:m] = spec_lo[:m]
    out[:, 0] += np.fft.irfft(spec_hi, n=n) * (n / max(n_lo, 1))
    return int(count)
