"""Cars and trucks on a road a few metres from the unit: the near field.

Close to a road, what the ground carries from a passing vehicle is not its engine but its
tyres on the road: broadband noise from the road's texture at ``speed / wavelength`` (for a
gravel or worn road 10-100 Hz), and a knock each time an axle rolls over an irregularity,
which rings in the road bed's modes. Both die off quickly with distance (high frequencies
lose most per metre), so a pass is a short broadband burst around the closest approach,
detectable for a few seconds to ~20 s, not the long low-frequency swell of a vehicle heard
from 100 m. The engine adds weak lines. Real roadside nodes 1-7 m from a gravel road see
passes with their energy at 10-60 Hz (spectral centroid ~35 Hz), -10 dB a few seconds from
the peak and -30 dB some 10 s away at 5-15 m/s.

The source is not a point: at the closest approach the distance that matters is never less
than about the vehicle's own size (wheels metres apart), which keeps a pass at 1 m from
being a spike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hil.synth.ground import (
    FloatArray,
    band,
    cosine_taper,
    fast_len,
    render_impulses,
    smooth_random,
)
from hil.synth.scene import Body, Contribution, Scene, Track, crossing_track, local_window
from hil.synth.vehicles import vehicle_moment

# tyre: RMS ground velocity of the tyre/road noise at 1 m, m/s, at REFERENCE_SPEED;
# impact: peak velocity of one axle's knock on a typical irregularity at 1 m, m/s;
# engine: line amplitude relative to the tyre noise; size: extent of the source, m.
ROAD_VEHICLES: dict[str, dict[str, Any]] = {
    "car": {
        "speed": (8.0, 30.0),
        "tyre": (2.0e-5, 6.0e-5),
        "impact": (2.0e-5, 6.0e-5),
        "axles": (2, 2),
        "wheelbase": (2.4, 3.0),
        "engine_hz": (25.0, 70.0),
        "engine": (0.05, 0.2),
        "size": (1.0, 2.0),
        "moment": (100.0, 300.0),
        "thermal": (25.0, 45.0),
    },
    "truck": {
        "speed": (8.0, 25.0),
        "tyre": (5.0e-5, 1.5e-4),
        "impact": (6.0e-5, 2.0e-4),
        "axles": (2, 3),
        "wheelbase": (3.5, 6.0),
        "engine_hz": (15.0, 45.0),
        "engine": (0.1, 0.3),
        "size": (1.5, 3.0),
        "moment": (300.0, 900.0),
        "thermal": (50.0, 90.0),
    },
}

REFERENCE_SPEED = 15.0
"""Speed at which ``tyre`` is quoted; tyre noise grows as speed^1.5."""
TEXTURE_M = (0.3, 1.0)
"""Dominant wavelength of the road's texture, passing under the tyres at speed/wavelength."""
SPECTRUM_WIDTH = (0.35, 0.55)
"""Log-normal width (natural log, of the amplitude) of the tyre noise around its peak."""
IRREGULARITY_M = (3.0, 20.0)
"""Mean spacing of the bumps and holes an axle knocks on."""
IMPACT_MODES = (0.4, 0.9, 1.0, 0.7)
HALF_M = 250.0
"""The vehicle enters and leaves the scene this far along the road from its closest point
(beyond it nothing of the near field is left)."""
CENTRES_HZ = (6.0, 10.0, 16.0, 25.0, 40.0, 65.0, 100.0, 160.0, 250.0)
"""Frequencies at which the tyre noise's fall-off with distance is evaluated."""
RING_S = 0.4
RADIAL_RATIO = 0.7
TAPER_S = 2.0


def _tyre_noise(
    rng: np.random.Generator, n: int, rate: float, peak_hz: float, width: float
) -> tuple[list[float], list[FloatArray]]:
    """Unit-RMS tyre noise with a log-normal amplitude spectrum around ``peak_hz`` (log
    width ``width``), split into components around the frequencies returned (hat windows
    in log frequency that add up to one), so each can fade with distance at its own rate."""
    top = 0.45 * rate
    centres = [c for c in CENTRES_HZ if c < top]
    m = fast_len(max(n, 2))
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.asarray(np.fft.rfftfreq(m, 1.0 / rate), dtype=np.float64)
    lf = np.log(np.maximum(f, 1e-3))
    shape = np.exp(-0.5 * (np.log(np.maximum(f, 1e-3) / peak_hz) / width) ** 2)
    spec = spec * shape * band(f, 3.0, top, order=3)
    total = np.fft.irfft(spec, n=m)[:n]
    norm = max(float(np.sqrt(np.mean(total**2))), 1e-30)
    lc = np.log(np.asarray(centres))
    eye = np.eye(len(centres))
    parts = [
        np.asarray(np.fft.irfft(spec * np.interp(lf, lc, eye[i]), n=m)[:n] / norm)
        for i in range(len(centres))
    ]
    return centres, parts


def road_vehicle(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    model: str,
    *,
    bearing: float | None = None,
    speed_mps: tuple[float, float] | None = None,
    roughness: float = 1.0,
) -> Contribution:
    """A car or truck passing ``range_m`` from the unit on a road, closest at ``t_cpa``:
    at a speed drawn from ``speed_mps`` (None: the model's own range), over a road whose
    irregularities knock ``roughness`` times harder than a country road's."""
    spec = ROAD_VEHICLES[model]
    speed = float(rng.uniform(*(speed_mps or spec["speed"])))
    track = crossing_track(rng, t_cpa, range_m, speed, HALF_M, bearing=bearing, height=0.8)
    rate = scene.seismic_rate
    i0, i1 = local_window(track.t_start, track.t_end, rate, pad_s=0.5)
    n = i1 - i0
    t = (i0 + np.arange(n)) / rate
    ground = scene.ground
    size = float(rng.uniform(*spec["size"]))
    t_coarse = np.arange(t[0], t[-1] + 0.1, 0.05)
    r_coarse = np.hypot(track.distance(t_coarse), size)

    def envelope(f: float) -> FloatArray:
        return np.asarray(np.interp(t, t_coarse, ground.gain(f, r_coarse)))

    # Tyre/road noise: a log-normal spectrum around a peak set mostly by the road bed's own
    # resonance (real passes peak at 30-50 Hz whatever the speed), partly by the road's
    # texture passing under the tyres at speed / wavelength.
    tyre = float(rng.uniform(*spec["tyre"])) * (speed / REFERENCE_SPEED) ** 1.5
    bed_hz = ground.modes_hz[1] * float(rng.uniform(0.9, 1.4))
    texture_hz = speed / float(rng.uniform(*TEXTURE_M))
    peak_hz = float(np.clip(bed_hz**0.7 * texture_hz**0.3, 12.0, 60.0))
    width = float(rng.uniform(*SPECTRUM_WIDTH))
    top = 0.45 * rate
    centres, parts = _tyre_noise(rng, n, rate, peak_hz, width)
    # The road surface changes along the way: the noise swells and fades by ~25 %.
    texture = np.exp(0.25 * smooth_random(rng, n, rate, corr_s=0.4))
    z = np.zeros(n)
    for centre, part in zip(centres, parts, strict=True):
        z += tyre * part * envelope(centre)
    z *= texture
    # Engine: weak lines at the firing frequency and two harmonics.
    f_e = float(rng.uniform(*spec["engine_hz"]))
    f_inst = f_e * (1.0 + 0.02 * smooth_random(rng, n, rate, corr_s=3.0))
    cycles = np.cumsum(f_inst) / rate
    engine = tyre * float(rng.uniform(*spec["engine"]))
    lines = np.zeros(n)
    lines_q = np.zeros(n)
    for k, w in ((1, 1.0), (2, 0.5), (3, 0.3)):
        if k * f_e < top:
            phase = 2 * np.pi * k * cycles + rng.uniform(0, 2 * np.pi)
            a = engine * w * envelope(k * f_e)
            lines += a * np.sin(phase)
            lines_q += a * np.cos(phase)
    taper = cosine_taper(n, round(TAPER_S * rate))
    seis = np.zeros((n, scene.seismic_components))
    seis[:, 0] = (z + lines) * taper
    if scene.seismic_components == 3:
        x, y = track.position(t)
        rr = np.maximum(np.hypot(x, y), 1e-3)
        radial = RADIAL_RATIO * (z + lines_q) * taper
        seis[:, 1] = radial * y / rr
        seis[:, 2] = radial * x / rr
    impacts = _axle_impacts(rng, scene, track, speed, spec, roughness, seis, i0)
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
            "mode": "road",
            "speed_mps": speed,
            "tyre_peak_hz": round(peak_hz, 1),
            "engine_hz": round(f_e, 1),
            "axle_impacts": impacts,
            "heading_deg": track.heading_deg(),
            "present": [track.t_start, track.t_end],
            "moment_am2": float(np.linalg.norm(body.moment)),
        },
    )


def _axle_impacts(
    rng: np.random.Generator,
    scene: Scene,
    track: Track,
    speed: float,
    spec: dict[str, Any],
    roughness: float,
    out: FloatArray,
    i0: int,
) -> int:
    """Knocks of every axle on the road's irregularities, rung in the road bed's modes,
    added into ``out`` in place; returns how many."""
    ground = scene.ground
    rate = scene.seismic_rate
    spacing = float(rng.uniform(*IRREGULARITY_M))
    count = int(rng.poisson(2 * HALF_M / spacing))
    if count == 0:
        return 0
    along = rng.uniform(-HALF_M, HALF_M, count)
    height = rng.lognormal(0.0, 0.7, count)
    n_axles = int(rng.integers(spec["axles"][0], spec["axles"][1] + 1))
    wheelbase = float(rng.uniform(*spec["wheelbase"]))
    offsets = [0.0, wheelbase] + [wheelbase + float(rng.uniform(1.2, 1.5))] * (n_axles - 2)
    knock = roughness * float(rng.uniform(*spec["impact"])) * math.sqrt(speed / REFERENCE_SPEED)
    dist = np.hypot(track.range_m, along)
    base_f = np.asarray(ground.modes_hz)
    weights = np.asarray(IMPACT_MODES)
    if ground.mode_gain is not None:
        weights = weights * np.asarray(ground.mode_gain)
    times = []
    amps = []
    freqs = []
    for j, off in enumerate(offsets):
        load = 1.0 if j == 0 else float(rng.uniform(0.8, 1.3))
        f = base_f[None, :] * (1.0 + 0.05 * rng.standard_normal((count, base_f.size)))
        f = np.clip(f, 3.0, 0.42 * rate)
        times.append(track.t_cpa + (along + off) / speed + dist / ground.c)
        amps.append(
            knock
            * load
            * ground.impact_gain
            * height[:, None]
            * weights[None, :]
            * ground.gain(f, dist[:, None])
        )
        freqs.append(f)
    t_all = np.concatenate(times)
    a_all = np.concatenate(amps)
    f_all = np.concatenate(freqs)
    # Only what could matter: knocks within 40 dB of the loudest.
    keep = a_all.max(axis=1) > 0.01 * a_all.max()
    t_all, a_all, f_all = t_all[keep], a_all[keep], f_all[keep]
    taus = ground.mode_q / (np.pi * f_all)
    render_impulses(out, rate, i0 / rate, t_all, a_all, f_all, taus, RING_S)
    if scene.seismic_components == 3:
        x, y = track.position(t_all)
        rr = np.maximum(np.hypot(x, y), 1e-3)
        for col, proj in ((1, y / rr), (2, x / rr)):
            render_impulses(
                out,
                rate,
                i0 / rate,
                t_all,
                a_all * RADIAL_RATIO * proj[:, None],
                f_all,
                taus,
                RING_S,
                phase=math.pi / 2,
                column=col,
            )
    return int(t_all.size)
