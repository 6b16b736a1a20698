"""Synthetic multi-sensor recordings with ground truth, deterministic per seed.

``generate("patrol", 3600, seed=1)`` returns a :class:`~drivers.recordings.Recording` with a
geophone (``geo1``, m/s), a PIR (``pir1``, V) and a magnetometer (``mag1``, nT) channel, all
driven by the same events, and the truth list a detector is scored against.

How the truth spans are defined (docs/scenarios.md): each event is rendered on its own,
noise-free; ``t0``/``t1`` are the first and last moments at which at least one sensor's
expected signal stands out of that sensor's background by the factor in ``DETECTABLE``.
Events are placed one after the other so that these spans are separated by a quiet gap,
except where a scenario asks for overlaps (then ``extra["overlaps"]`` lists the others).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from drivers.recordings.waveforms import DEFAULT_BITS, DEFAULT_SCALE, Channel, Recording
from hil.scenarios.events import (
    DETECTABLE,
    LABELS,
    SOURCES,
    add_events,
    background_levels,
    distant_footsteps,
    mark_overlaps,
    schedule,
    truth_event,
)
from hil.scenarios.site_render import render_site
from hil.scenarios.specs import SPECS, ScenarioSpec
from hil.synth import background as bg
from hil.synth import building
from hil.synth import magnetometer as synth_mag
from hil.synth import pir as synth_pir
from hil.synth.ground import FloatArray, Ground, loguniform, random_ground
from hil.synth.hardware import internal_rates
from hil.synth.scene import Scene
from hil.synth.site import Site, random_site, site_ground
from hil.synth.vehicles import distant_traffic

__all__ = [
    "DETECTABLE",
    "GENERATOR_VERSION",
    "LABELS",
    "SCENARIOS",
    "SOURCES",
    "UnknownScenarioError",
    "generate",
]

GENERATOR_VERSION = "ugs-scenarios/3"
"""Changes whenever the same seed would give a different recording."""
SITE_GLIMPSES_PER_H = (5.0, 200.0)
"""Birds and insects darting past the PIR at a drawn site (``site="random"``), per hour:
what lives around a unit differs between sites more than anything the scenarios say."""
DEFAULT_START = datetime(2026, 11, 27, 18, 0, 0, tzinfo=UTC).timestamp()

SCENARIOS: dict[str, str] = {name: spec.description for name, spec in SPECS.items()}
"""Scenario name -> what it contains."""

MAINS_HZ = (50.0, 60.0)
GEOPHONE_HZ = 4.5


class UnknownScenarioError(KeyError):
    """Raised by :func:`generate` for a name not in :data:`SCENARIOS`."""


def generate(
    name: str,
    duration_s: float,
    seed: int,
    *,
    seismic_rate: float = 500.0,
    pir_rate: float = 50.0,
    mag_rate: float = 50.0,
    seismic_components: int = 1,
    start_time: float | None = None,
    site: Site | str | None = None,
) -> Recording:
    """Simulate ``duration_s`` seconds of scenario ``name``; the same seed gives the same
    recording (for a given generator version).

    ``site``: a :class:`~hil.synth.site.Site` (rates, ground, transducer, converters,
    magnetometer and PIR boards of one unit; its rates replace the ``*_rate`` arguments),
    ``"random"`` for one drawn from the seed for the scenario's setting
    (:func:`scenario_site`), or None for the scenarios' own ideal unit (float physical
    units at the given rates), which comes out exactly as it always did.
    """
    if name not in SPECS:
        raise UnknownScenarioError(name)
    if not duration_s >= 1.0:
        raise ValueError("duration must be at least 1 s")
    if seismic_components not in (1, 3):
        raise ValueError("seismic_components must be 1 or 3")
    spec = SPECS[name]
    drawn_site = site == "random"
    if isinstance(site, str):
        if site != "random":
            raise ValueError(f"site must be a Site, 'random' or None, not {site!r}")
        site = scenario_site(name, seed)
    rng = np.random.default_rng([seed, 0])
    if site is not None:
        seismic_rate, pir_rate, mag_rate = internal_rates(site)
    if site is not None and site.ground is not None:
        ground = site.ground
    else:
        ground = _ground(rng, spec.setting, spec.slab_share)
    scene = Scene(
        duration_s=float(duration_s),
        seismic_rate=float(seismic_rate),
        pir_rate=float(pir_rate),
        mag_rate=float(mag_rate),
        ground=ground,
        seismic_components=seismic_components,
        pir_axis=float(rng.uniform(0.0, 2.0 * math.pi)),
        earth_field_nt=_earth_field(rng),
        site=site,
    )
    meta: dict[str, Any] = {
        "scenario": name,
        "seed": seed,
        "generator": GENERATOR_VERSION,
        "duration_s": float(duration_s),
        "noise_only": spec.noise_only,
        "description": spec.description,
    }
    seis_bg, pir_bg, mag_bg, bg_meta = _background(np.random.default_rng([seed, 1]), scene, spec)
    # A stream of their own, so that adding them left every other draw as it was.
    glimpse_rng = np.random.default_rng([seed, 9])
    lo, hi = spec.background.glimpses_per_h
    if drawn_site and hi > 0:
        lo, hi = SITE_GLIMPSES_PER_H
    per_h = loguniform(glimpse_rng, lo, hi) if hi > 0 else 0.0
    darting, drawn = synth_pir.glimpses(glimpse_rng, scene, per_h)
    pir_bg += darting
    bg_meta["pir_glimpses_per_h"] = per_h
    bg_meta["pir_glimpses"] = len(drawn)
    road_mode = spec.vehicle_mode == "road"
    if spec.background.building is not None:
        far = spec.background.building.far_walkers_per_h
        extra_rng = np.random.default_rng([seed, 6])
        building_meta = _building(extra_rng, scene, spec, seis_bg, pir_bg, bg_meta["site_rms"])
        if far > 0:
            first = background_levels(scene, seis_bg, pir_bg, mag_bg)
            steps, walked = distant_footsteps(extra_rng, scene, first, far)
            seis_bg += steps
            building_meta["distant_walkers"] = walked
        bg_meta["building"] = building_meta
    meta["background"] = bg_meta
    road = None
    if spec.roadside_m is not None:
        # The road's distance, drawn per recording; the PIR looks across it.
        road = (loguniform(np.random.default_rng([seed, 5]), *spec.roadside_m), scene.pir_axis)
    if site is not None:
        return render_site(
            np.random.default_rng([seed, 8]),
            scene,
            spec,
            site,
            (seis_bg, pir_bg, mag_bg),
            meta,
            road,
            seed,
            DEFAULT_START if start_time is None else float(start_time),
        )
    levels = background_levels(scene, seis_bg, pir_bg, mag_bg, road=road_mode)
    events = schedule(spec, scene, seed, levels, road)
    truth = [truth_event(ev, span) for ev, span in events]
    mark_overlaps(truth)

    add_events(events, seis_bg, pir_bg, mag_bg)
    seis = bg.geophone(seis_bg, scene.seismic_rate, GEOPHONE_HZ)
    pir = synth_pir.saturate(pir_bg)
    mag = mag_bg

    channels, faults = _channels(
        np.random.default_rng([seed, 2]), scene, spec, seis, pir, mag, bg_meta["site_rms"]
    )
    meta["faults"] = faults
    meta["scene"] = {
        "seismic_components": seismic_components,
        "geophone_natural_hz": GEOPHONE_HZ,
        "ground": {
            "q": scene.ground.q,
            "c_mps": scene.ground.c,
            "spreading": scene.ground.spreading,
            "modes_hz": list(scene.ground.modes_hz),
        },
        "pir_axis_deg": math.degrees(scene.pir_axis) % 360.0,
        "earth_field_nt": list(scene.earth_field_nt),
    }
    if spec.setting != "field":
        meta["scene"]["setting"] = spec.setting
        meta["scene"]["ground"]["mode_q"] = scene.ground.mode_q
    if road is not None:
        meta["scene"]["road_m"] = road[0]
    meta["detectable"] = dict(DETECTABLE)
    meta["counts"] = count_labels(truth)
    return Recording(
        channels=channels,
        truth=truth,
        start_time=DEFAULT_START if start_time is None else float(start_time),
        meta=meta,
    )


def scenario_site(name: str, seed: int) -> Site:
    """The random site (``random_site``) that ``generate(name, ..., seed, site="random")``
    uses: drawn from the seed for the scenario's setting."""
    if name not in SPECS:
        raise UnknownScenarioError(name)
    # The name too: the same seed draws different units for different scenarios.
    spec = SPECS[name]
    return random_site(
        np.random.default_rng([seed, 7, zlib.crc32(name.encode())]), spec.setting, spec.slab_share
    )


def count_labels(truth: list[Any]) -> dict[str, int]:
    return {
        label: sum(1 for ev in truth if ev.label == label)
        for label in ("footstep", "vehicle", "unknown")
    }


def _ground(rng: np.random.Generator, setting: str, slab_share: float = 0.0) -> Ground:
    """Open ground as the scenarios always had it; a road bed or a floor otherwise."""
    return random_ground(rng) if setting == "field" else site_ground(rng, setting, slab_share)


def _building(
    rng: np.random.Generator,
    scene: Scene,
    spec: ScenarioSpec,
    seis: FloatArray,
    pir: FloatArray,
    site_rms: float,
) -> dict[str, Any]:
    """Machinery, doors and dropped objects, and PIR drafts, added in place."""
    b = spec.background.building
    assert b is not None
    machines, running, drawn = building.machinery(rng, scene, site_rms, b)
    seis += machines
    knocks, count = building.impacts(rng, scene, b)
    seis += knocks
    step = max(1, round(scene.seismic_rate / scene.pir_rate))
    on = bg.resample_to(running[::step], scene.seismic_rate / step, pir.size, scene.pir_rate)
    pir += building.drafts(rng, scene, on, b)
    return {"machines": drawn, "impacts": count}


def _earth_field(rng: np.random.Generator) -> tuple[float, float, float]:
    """A mid-latitude field (north, east, down), nT, with the sensor's heading unknown."""
    horizontal = rng.uniform(17000.0, 24000.0)
    down = rng.uniform(38000.0, 48000.0)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    return (
        float(horizontal * math.cos(heading)),
        float(horizontal * math.sin(heading)),
        float(down),
    )


def _background(
    rng: np.random.Generator, scene: Scene, spec: ScenarioSpec
) -> tuple[FloatArray, FloatArray, FloatArray, dict[str, Any]]:
    b = spec.background
    site_rms = loguniform(rng, *b.site_rms)
    if b.building is not None:
        seis = building.floor_noise(rng, scene, site_rms, b.site_variation)
    else:
        seis = bg.site_noise(rng, scene, site_rms, b.site_variation)
    wind_mean = float(rng.uniform(*b.wind_mps)) if b.wind_mps[1] > 0 else 0.0
    wind, wind_rate = bg.wind_speed(rng, scene.duration_s, wind_mean, b.gustiness)
    n_seis = scene.n(scene.seismic_rate)
    wind_seis = bg.resample_to(wind, wind_rate, n_seis, scene.seismic_rate)
    wind_part, knocks = bg.wind_noise(rng, scene, wind_seis)
    seis += wind_part
    rain_mm = float(rng.uniform(*b.rain_mm_h)) if b.rain_mm_h[1] > 0 else 0.0
    rain_part, drops = bg.rain_noise(rng, scene, rain_mm)
    seis += rain_part
    mains = float(rng.choice(MAINS_HZ))
    hum_rms = site_rms * float(rng.uniform(*b.hum_ratio))
    seis += bg.mains_hum(rng, scene, hum_rms, mains)
    traffic = 0
    road = 0.0
    if b.traffic_per_h > 0:
        road = float(rng.uniform(*b.road_m))
        # Far away the waves travel through the soil, whatever the unit stands on.
        outside = scene if spec.setting == "field" else replace(scene, ground=Ground())
        traffic = distant_traffic(rng, outside, seis, b.traffic_per_h, road)
    wind_pir = bg.resample_to(wind, wind_rate, scene.n(scene.pir_rate), scene.pir_rate)
    pir, sun = synth_pir.background(rng, scene, wind_pir, b.sun_per_h)
    wind_mag = bg.resample_to(wind, wind_rate, scene.n(scene.mag_rate), scene.mag_rate)
    mag = synth_mag.background(rng, scene, wind_mag, b.mag_drift_nt_per_h)
    meta = {
        "site_rms": site_rms,
        "wind_mean_mps": wind_mean,
        "wind_max_mps": float(np.max(wind)) if wind.size else 0.0,
        "branch_knocks": knocks,
        "rain_mm_h": rain_mm,
        "rain_drops_per_s": drops,
        "mains_hz": mains,
        "hum_rms": hum_rms,
        "traffic_vehicles": traffic,
        "road_m": road,
        "pir_sun_events": len(sun),
    }
    return seis, pir, mag, meta


# --- events ------------------------------------------------------------------------------


def _channels(
    rng: np.random.Generator,
    scene: Scene,
    spec: ScenarioSpec,
    seis: FloatArray,
    pir: FloatArray,
    mag: FloatArray,
    site_rms: float,
) -> tuple[dict[str, Channel], list[dict[str, Any]]]:
    f = spec.background.faults
    faults: list[dict[str, Any]] = []
    seis_scale = DEFAULT_SCALE["seismic"]
    clip_level = None
    if f.clip_factor is not None:
        # Gain set too high: the converter's full scale is only clip_factor x the noise.
        clip_level = f.clip_factor * site_rms
        seis_scale = clip_level / (2 ** (DEFAULT_BITS["seismic"] - 1) - 1)
    valid_seis = np.ones(seis.shape[0], dtype=bool)
    faults += bg.apply_faults(
        rng,
        seis,
        valid_seis,
        scene.seismic_rate,
        "geo1",
        clip_level=clip_level,
        spikes_per_h=f.spikes_per_h,
        stuck_per_h=f.stuck_per_h,
        flatline_per_h=f.flatline_per_h,
        dropouts_per_h=f.dropouts_per_h,
    )
    pir2 = pir[:, None]
    valid_pir = np.ones(pir2.shape[0], dtype=bool)
    faults += bg.apply_faults(
        rng,
        pir2,
        valid_pir,
        scene.pir_rate,
        "pir1",
        clip_level=None,
        spikes_per_h=0.0,
        stuck_per_h=0.0,
        flatline_per_h=0.0,
        dropouts_per_h=f.dropouts_per_h,
    )
    valid_mag = np.ones(mag.shape[0], dtype=bool)
    faults += bg.apply_faults(
        rng,
        mag,
        valid_mag,
        scene.mag_rate,
        "mag1",
        clip_level=None,
        spikes_per_h=0.0,
        stuck_per_h=0.0,
        flatline_per_h=0.0,
        dropouts_per_h=f.dropouts_per_h,
    )
    comps = ("Z",) if scene.seismic_components == 1 else ("Z", "N", "E")
    channels = {
        "geo1": Channel(
            "geo1",
            "seismic",
            scene.seismic_rate,
            seis,
            seis_scale,
            None if valid_seis.all() else valid_seis,
            comps,
            info={"units": "m/s", "clip_level": clip_level},
        ),
        "pir1": Channel(
            "pir1",
            "pir",
            scene.pir_rate,
            pir2,
            DEFAULT_SCALE["pir"],
            None if valid_pir.all() else valid_pir,
            ("I",),
            info={"units": "V"},
        ),
        "mag1": Channel(
            "mag1",
            "magnetometer",
            scene.mag_rate,
            mag,
            DEFAULT_SCALE["magnetometer"],
            None if valid_mag.all() else valid_mag,
            ("N", "E", "Z"),
            info={"units": "nT"},
        ),
    }
    return channels, faults
