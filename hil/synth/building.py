"""Inside a building: what a geophone on a floor and a PIR in a room pick up besides people.

- building noise: the floor rings in its own modes under everything that goes on in the
  building (real floors show a broad hump at their fundamental modes, 10-30 Hz, standing
  15-20 dB out of the rest of the spectrum), its level following the day's activity;
- machinery and HVAC: fans, pumps and compressors as lines (rotation and its harmonics,
  12-60 Hz) with airflow noise, each cycling on and off over minutes;
- doors and dropped objects: single impacts at a few metres, often louder than a footfall,
  which are background, not events (nobody walks past);
- footsteps elsewhere in the building, through walls and floors (made undetectable by the
  generator: they are background);
- HVAC drafts on the PIR: slow swings of warm air while the air handling runs (no sun and
  clouds indoors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.synth.ground import (
    FloatArray,
    band,
    coloured_noise,
    render_impulses,
    smooth_random,
)
from hil.synth.people import WALK_AMPLITUDE
from hil.synth.scene import Scene

DOOR_MODES = (1.0, 0.8, 0.5, 0.3)
DROP_MODES = (0.3, 0.6, 1.0, 1.0)


@dataclass(frozen=True)
class Building:
    """What goes on in a building besides the people an event is about."""

    machines: tuple[int, int] = (1, 3)
    """How many HVAC units and machines run in the building (drawn per recording)."""
    machine_ratio: tuple[float, float] = (0.2, 1.5)
    """Each machine's lines, RMS relative to the building noise, while it runs."""
    impacts_per_h: float = 20.0
    """Doors and dropped objects."""
    impact_m: tuple[float, float] = (1.0, 15.0)
    far_walkers_per_h: float = 30.0
    """People walking in another part of the building."""
    drafts_v: tuple[float, float] = (0.005, 0.03)
    """PIR clutter from HVAC drafts, V RMS while the air handling runs."""


def floor_noise(
    rng: np.random.Generator, scene: Scene, rms: float, variation: float = 0.3
) -> FloatArray:
    """The floor ringing in its modes under the building's activity, (n, components) m/s,
    its level wandering over minutes."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    g = scene.ground
    widths = [f / max(g.mode_q, 1.0) for f in g.modes_hz]
    weights = (1.0, 0.5, 0.2, 0.08)

    def amplitude(f: FloatArray) -> FloatArray:
        f = np.maximum(f, 0.1)
        shape = 0.08 * (f / 10.0) ** -0.4
        for fm, w, width in zip(g.modes_hz, weights, widths, strict=False):
            shape = shape + w / np.sqrt(1.0 + ((f - fm) / width) ** 2)
        return np.asarray(shape * band(f, 0.5, 0.45 * rate, order=3))

    noise = coloured_noise(rng, n, rate, amplitude, rms, scene.seismic_components)
    level = np.exp(variation * smooth_random(rng, n, rate, corr_s=300.0))
    return np.asarray(noise * level[:, None])


def _duty(rng: np.random.Generator, t: FloatArray) -> FloatArray:
    """On/off cycling of a machine with soft starts: 0..1 per sample."""
    period = float(rng.uniform(300.0, 1200.0))
    duty = float(rng.uniform(0.3, 0.9))
    ramp = float(rng.uniform(2.0, 10.0))
    phase = ((t / period + rng.uniform(0.0, 1.0)) % 1.0) * period
    on_for = duty * period
    rise = np.clip(phase / ramp, 0.0, 1.0)
    fall = np.clip((on_for - phase) / ramp, 0.0, 1.0)
    return np.asarray(np.where(phase < on_for, np.minimum(rise, fall), 0.0))


def machinery(
    rng: np.random.Generator, scene: Scene, rms: float, spec: Building
) -> tuple[FloatArray, FloatArray, list[dict[str, Any]]]:
    """HVAC and machines, (n, components) m/s; the share of machines running per sample
    (drives the PIR's drafts); and what was drawn."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    out = np.zeros((n, scene.seismic_components))
    t = np.arange(n) / rate
    running = np.zeros(n)
    drawn: list[dict[str, Any]] = []
    count = int(rng.integers(spec.machines[0], spec.machines[1] + 1))
    top = 0.45 * rate
    for _ in range(count):
        on = _duty(rng, t)
        running += on / max(count, 1)
        f0 = float(math.exp(rng.uniform(math.log(12.0), math.log(60.0))))
        level = rms * float(math.exp(rng.uniform(*np.log(spec.machine_ratio))))
        f_inst = f0 * (1.0 + 0.003 * smooth_random(rng, n, rate, corr_s=20.0))
        cycles = np.cumsum(f_inst) / rate
        wave = np.zeros(n)
        k = 1
        while k * f0 < top and k <= 4:
            wave += rng.uniform(0.3, 1.0) / k * np.sin(2 * np.pi * k * cycles + rng.uniform(0, 6.3))
            k += 1
        wave *= level / max(float(np.sqrt(np.mean(wave**2))), 1e-30)
        air = coloured_noise(rng, n, rate, lambda f: band(f, 15.0, 120.0), 1.0)[:, 0]
        wave += air * level * float(rng.uniform(0.1, 0.4))
        for c in range(scene.seismic_components):
            out[:, c] += wave * on * (1.0 if c == 0 else 0.5)
        drawn.append({"hz": round(f0, 2), "rms": level})
    return out, running, drawn


def impacts(rng: np.random.Generator, scene: Scene, spec: Building) -> tuple[FloatArray, int]:
    """Doors and dropped objects: single impacts ringing in the floor's modes."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    out = np.zeros((n, scene.seismic_components))
    count = int(rng.poisson(spec.impacts_per_h * scene.duration_s / 3600.0))
    if count == 0:
        return out, 0
    g = scene.ground
    times = np.sort(rng.uniform(0.0, scene.duration_s, count))
    dist = np.exp(rng.uniform(math.log(spec.impact_m[0]), math.log(spec.impact_m[1]), count))
    door = rng.random(count) < 0.5
    modes = np.where(door[:, None], np.asarray(DOOR_MODES), np.asarray(DROP_MODES))
    freqs = np.asarray(g.modes_hz)[None, :] * rng.uniform(0.9, 1.1, (count, len(g.modes_hz)))
    freqs = np.clip(freqs, 3.0, 0.42 * rate)
    taus = g.mode_q / (np.pi * freqs)
    strength = (
        WALK_AMPLITUDE * g.impact_gain * np.exp(rng.uniform(math.log(0.5), math.log(10.0), count))
    )
    amps = strength[:, None] * modes * g.gain(freqs, dist[:, None])
    render_impulses(out, rate, 0.0, times, amps, freqs, taus, 0.6)
    for c in range(1, scene.seismic_components):
        out[:, c] = 0.5 * out[:, 0]
    return out, count


def drafts(
    rng: np.random.Generator, scene: Scene, running: FloatArray, spec: Building
) -> FloatArray:
    """Slow PIR swings from warm air moving while the air handling runs (``running`` on
    the PIR's sample grid)."""
    rate = scene.pir_rate
    n = scene.n(rate)
    level = float(math.exp(rng.uniform(*np.log(spec.drafts_v))))
    swirl = coloured_noise(rng, n, rate, lambda f: band(f, 0.05, 1.0), 1.0)[:, 0]
    return np.asarray(swirl * level * running)
