"""Placing events in a scenario and judging when each is detectable (its truth span).

Each event is rendered on its own, noise-free (people, animals, vehicles: ``hil.synth_*``),
and compared with the background the scenario puts there besides the events, per sensor;
the span in which at least one sensor's expected signal stands out by the factor in
``DETECTABLE`` is the event's truth ``t0``/``t1`` (docs/scenarios.md). Events are placed one
after the other so that these spans are separated by a quiet gap, except where a scenario
asks for overlaps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from drivers.recordings.waveforms import TruthEvent
from hil.scenarios.specs import SWEEP_PEOPLE_M, SWEEP_VEHICLE_M, ScenarioSpec
from hil.synth import hardware
from hil.synth import magnetometer as synth_mag
from hil.synth import pir as synth_pir
from hil.synth.ground import (
    FloatArray,
    band,
    block_rms,
    loguniform,
    moving_peak,
    shape_spectrum,
)
from hil.synth.people import group, occupants, person, quadruped
from hil.synth.road import ROAD_VEHICLES, road_vehicle
from hil.synth.scene import Body, Contribution, Scene, add_window
from hil.synth.vehicles import vehicle

LABELS = {
    "walker": "footstep",
    "runner": "footstep",
    "group": "footstep",
    "car": "vehicle",
    "truck": "vehicle",
    "tracked": "vehicle",
    "quadruped": "unknown",
}
SOURCES = {
    "walker": "walker",
    "runner": "runner",
    "group": "group",
    "car": "wheeled",
    "truck": "wheeled",
    "tracked": "tracked",
    "quadruped": "quadruped",
}

# Seismic band in which each class is judged detectable, and how.
PEOPLE_BAND = (6.0, 45.0)
VEHICLE_BAND = (2.0, 30.0)
ROAD_BAND = (10.0, 100.0)
"""Vehicles in the near field of a road (``vehicle_mode = "road"``): tyre noise and knocks."""
ROAD_MODELS = tuple(ROAD_VEHICLES)
LANE_M = 1.75
"""Each lane's centre from the road's centre line."""
DETECTABLE = {
    "seismic_impulsive": 5.0,  # 0.25-s peak / band RMS of the background (people, animals)
    "seismic_continuous": 1.0,  # 2-s RMS / band RMS of the background (vehicles)
    "pir": synth_pir.DETECTABLE_FACTOR,  # peak / noise RMS
    "magnetometer": synth_mag.DETECTABLE_FACTOR,  # |dB| / per-axis noise RMS
}


@dataclass
class Rendered:
    kind: str
    range_m: float
    contribution: Contribution
    pir: FloatArray
    pir_i0: int
    direction: str | None
    mag: FloatArray
    mag_i0: int
    shift_s: float = 0.0


@dataclass
class Levels:
    """Background levels a detectable span is judged against."""

    people: FloatArray
    vehicle: FloatArray
    block_s: float
    pir: FloatArray
    mag: FloatArray
    road: FloatArray | None = None
    """Background in ``ROAD_BAND`` (only where vehicles pass in the road's near field)."""

    def over(self, series: FloatArray, t0: float, t1: float) -> float:
        """The typical level while an event lasts (median of its blocks)."""
        last = series.size - 1
        i0 = int(np.clip(t0 / self.block_s, 0, last))
        i1 = int(np.clip(t1 / self.block_s, i0, last))
        return float(np.median(series[i0 : i1 + 1]))


def _band_response(lo: float, hi: float) -> Callable[[FloatArray], npt.NDArray[np.complex128]]:
    def response(f: FloatArray) -> npt.NDArray[np.complex128]:
        return band(f, lo, hi).astype(np.complex128)

    return response


def _local_median(rms: FloatArray, k: int = 3) -> FloatArray:
    """Median over 2k+1 neighbouring blocks: ignores single loud blocks (a gust, a knock)."""
    padded = np.pad(rms, k, mode="edge")
    return np.asarray(
        np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1), axis=1)
    )


@dataclass(frozen=True)
class HardwareFloor:
    """What a site's hardware adds to the background the truth is judged against:
    quantisation of the seismic converter (mean square per Hz of bandwidth), the PIR's and
    the magnetometer's added mean square, and their noise floors."""

    seismic_ms_per_hz: float = 0.0
    pir_ms: float = 0.0
    pir_min: float = synth_pir.NOISE_RMS
    mag_ms: float = 0.0
    mag_min: float = synth_mag.NOISE_RMS


def background_levels(
    scene: Scene,
    seis_bg: FloatArray,
    pir_bg: FloatArray,
    mag_bg: FloatArray,
    *,
    road: bool = False,
    floor: HardwareFloor | None = None,
) -> Levels:
    """Background levels on 5-s blocks: seismic per class band, PIR, magnetometer (per axis,
    around each block's own mean, so Earth's field and its drift do not count).

    With a site (``scene.site``) the seismic bands are judged as its transducer passes them
    and ``floor`` adds what its hardware contributes (noise, interference, quantisation)."""
    block = 5.0
    rate = scene.seismic_rate
    z = seis_bg[:, :1]
    bands = [PEOPLE_BAND, VEHICLE_BAND] + ([ROAD_BAND] if road else [])
    out = []
    for lo, hi in bands:
        response = _band_response(lo, hi) if scene.site is None else _judged(scene, lo, hi)
        filtered = shape_spectrum(z, rate, response)
        rms, _ = block_rms(filtered, rate, block)
        if floor is not None and floor.seismic_ms_per_hz > 0:
            width = max(min(hi, hardware.output_band_hz(scene)) - lo, 0.0)
            rms = np.sqrt(rms**2 + floor.seismic_ms_per_hz * width)
        out.append(_local_median(rms))
    pir_rms, _ = block_rms(pir_bg, scene.pir_rate, block)
    cols = mag_bg.shape[1]
    step = max(1, min(round(block * scene.mag_rate), mag_bg.shape[0]))
    nblocks = max(1, mag_bg.shape[0] // step)
    blocks = mag_bg[: nblocks * step].reshape(nblocks, step, cols)
    mag_rms = np.sqrt(np.mean(np.var(blocks, axis=1), axis=1))
    pir_level = _local_median(pir_rms)
    mag_level = _local_median(mag_rms)
    pir_min, mag_min = synth_pir.NOISE_RMS, synth_mag.NOISE_RMS
    if floor is not None:
        pir_level = np.sqrt(pir_level**2 + floor.pir_ms)
        mag_level = np.sqrt(mag_level**2 + floor.mag_ms)
        pir_min, mag_min = floor.pir_min, floor.mag_min
    # Never below the sensor's own noise (the quiet floor the thresholds are quoted for).
    return Levels(
        out[0],
        out[1],
        block,
        np.maximum(pir_level, pir_min),
        np.maximum(mag_level, mag_min),
        out[2] if road else None,
    )


def _judged(
    scene: Scene, lo: float, hi: float
) -> Callable[[FloatArray], npt.NDArray[np.complex128]]:
    return hardware.judge_response(scene, lo, hi)


def _render(
    kind: str,
    range_m: float,
    seed: list[int],
    scene: Scene,
    t_cpa: float,
    spec: ScenarioSpec,
    bearing: float | None,
) -> Rendered:
    rng = np.random.default_rng(seed)
    if kind in ("walker", "runner"):
        contrib = person(
            rng,
            scene,
            t_cpa,
            range_m,
            running=kind == "runner",
            bearing=bearing,
            ferrous=spec.ferrous_am2,
            half_m=spec.walk_half_m,
            pacing=spec.pacing,
        )
    elif kind == "group":
        size = int(rng.integers(spec.group_size[0], spec.group_size[1] + 1))
        if spec.group_style == "room":
            contrib = occupants(
                rng,
                scene,
                t_cpa,
                range_m,
                size,
                ranges=spec.people_range,
                bearing=bearing,
                ferrous=spec.ferrous_am2,
                half_m=spec.walk_half_m or (2.0, 5.0),
                pacing=spec.pacing,
            )
        else:
            contrib = group(
                rng, scene, t_cpa, range_m, size, bearing=bearing, ferrous=spec.ferrous_am2
            )
    elif kind == "quadruped":
        contrib = quadruped(rng, scene, t_cpa, range_m, spec.animal_species, bearing=bearing)
    elif spec.vehicle_mode == "road" and kind in ROAD_MODELS:
        rough = spec.road_roughness
        contrib = road_vehicle(
            rng,
            scene,
            t_cpa,
            range_m,
            kind,
            bearing=bearing,
            speed_mps=spec.road_speed_mps,
            # Drawn only where the road is rough, so other scenarios' passes stay as they were.
            roughness=1.0 if rough == (1.0, 1.0) else loguniform(rng, *rough),
        )
    else:
        contrib = vehicle(rng, scene, t_cpa, range_m, kind, bearing=bearing)
    pir, pir_i0, direction = _sum_bodies(scene, contrib, "pir")
    mag, mag_i0, _ = _sum_bodies(scene, contrib, "mag")
    if scene.site is not None:
        mag = hardware.project(scene.site.magnetometer, mag)
        if pir.size and scene.site.pir.lowpass_hz != synth_pir.LOWPASS_HZ:
            pir = shape_spectrum(pir, scene.pir_rate, hardware.pir_response(scene.site.pir))
    return Rendered(kind, range_m, contrib, pir, pir_i0, direction, mag, mag_i0)


def _sum_bodies(
    scene: Scene, contrib: Contribution, sensor: str
) -> tuple[FloatArray, int, str | None]:
    parts = []
    direction = None
    for body in contrib.bodies:
        if sensor == "pir":
            sig, i0, d = synth_pir.body_signal(scene, body)
            direction = direction or d
        else:
            sig, i0 = synth_mag.body_signal(scene, body)
        parts.append((sig, i0))
    cols = 3 if sensor == "mag" else 0
    if not parts:
        return np.zeros((0, cols) if cols else 0), 0, None
    a = min(i0 for _, i0 in parts)
    b = max(i0 + sig.shape[0] for sig, i0 in parts)
    total = np.zeros((b - a, cols) if cols else b - a)
    for sig, i0 in parts:
        total[i0 - a : i0 - a + sig.shape[0]] += sig
    return total, a, direction


def _span(mask: np.ndarray, step_s: float, t_first: float) -> tuple[float, float] | None:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return None
    return t_first + idx[0] * step_s, t_first + (idx[-1] + 1) * step_s


def _detectable(
    ev: Rendered, scene: Scene, levels: Levels
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per-sensor detectable spans (absolute seconds) and peak SNR in dB."""
    spans: dict[str, list[float]] = {}
    snr: dict[str, float] = {}
    c = ev.contribution
    rate = scene.seismic_rate
    t_first = c.seismic_i0 / rate
    is_vehicle = LABELS[ev.kind] == "vehicle"
    near_road = is_vehicle and c.info.get("mode") == "road"
    lo, hi = ROAD_BAND if near_road else VEHICLE_BAND if is_vehicle else PEOPLE_BAND
    response = _band_response(lo, hi) if scene.site is None else _judged(scene, lo, hi)
    z = shape_spectrum(c.seismic[:, :1], rate, response)
    t_last = t_first + z.shape[0] / rate
    series = levels.people
    if is_vehicle:
        series = levels.road if near_road and levels.road is not None else levels.vehicle
    level = max(levels.over(series, t_first, t_last), 1e-15)
    if is_vehicle:
        env, step = block_rms(z, rate, 2.0)
        ratio = env / level
        factor = DETECTABLE["seismic_continuous"]
    else:
        env, step = moving_peak(z, rate, 0.25)
        ratio = env / level
        factor = DETECTABLE["seismic_impulsive"]
    _put_snr(snr, "seismic", ratio)
    s = _span(ratio >= factor, step, t_first)
    if s:
        spans["seismic"] = list(s)
    if ev.pir.size:
        env, step = moving_peak(ev.pir, scene.pir_rate, 0.5)
        ratio = env / levels.over(levels.pir, t_first, t_last)
        _put_snr(snr, "pir", ratio)
        s = _span(ratio >= DETECTABLE["pir"], step, ev.pir_i0 / scene.pir_rate)
        if s:
            spans["pir"] = list(s)
    if ev.mag.size:
        env, step = moving_peak(ev.mag, scene.mag_rate, 0.5)
        ratio = env / levels.over(levels.mag, t_first, t_last)
        _put_snr(snr, "magnetometer", ratio)
        s = _span(ratio >= DETECTABLE["magnetometer"], step, ev.mag_i0 / scene.mag_rate)
        if s:
            spans["magnetometer"] = list(s)
    return spans, snr


def _put_snr(snr: dict[str, float], sensor: str, ratio: FloatArray) -> None:
    """Peak SNR in dB; sensors that see nothing at all are left out."""
    peak = float(np.max(ratio, initial=0.0))
    if peak > 1e-3:
        snr[sensor] = round(20.0 * math.log10(peak), 1)


def _hull(spans: dict[str, list[float]], t_cpa: float) -> tuple[float, float, bool]:
    if not spans:
        return t_cpa - 3.0, t_cpa + 3.0, False
    return (min(s[0] for s in spans.values()), max(s[1] for s in spans.values()), True)


def _draw(
    spec: ScenarioSpec,
    rng: np.random.Generator,
    scene: Scene,
    index: int,
    sweep: list[tuple[str, float]],
    road: tuple[float, float] | None = None,
) -> tuple[str, float, float | None]:
    """Kind, range and (for people) the bearing of the next event. ``road``: (distance,
    bearing) of a road that vehicles drive on and people walk along."""
    if road is not None:
        kinds = list(spec.mix)
        weights = np.asarray([spec.mix[k] for k in kinds])
        kind = str(rng.choice(kinds, p=weights / weights.sum()))
        distance, road_bearing = road
        if LABELS[kind] == "vehicle":
            offset = LANE_M * float(rng.choice([-1.0, 1.0]))
        else:
            # On either shoulder, or on the road itself.
            offset = float(rng.uniform(-5.0, 5.0))
        return kind, max(0.5, abs(distance + offset)), road_bearing
    if spec.sweep:
        if index % len(sweep) == 0:
            rng.shuffle(sweep)
        kind, range_m = sweep[index % len(sweep)]
        return kind, range_m, scene.pir_axis if LABELS[kind] != "vehicle" else None
    kinds = list(spec.mix)
    weights = np.asarray([spec.mix[k] for k in kinds])
    kind = str(rng.choice(kinds, p=weights / weights.sum()))
    label = LABELS[kind]
    lo, hi = (
        spec.vehicle_range
        if label == "vehicle"
        else spec.animal_range
        if label == "unknown"
        else spec.people_range
    )
    range_m = loguniform(rng, lo, hi)
    bearing = None
    if label != "vehicle" and rng.random() < 0.75:
        # Trails cross in front of the PIR more often than not.
        bearing = scene.pir_axis + float(rng.normal(0.0, 0.5))
    return kind, range_m, bearing


def schedule(
    spec: ScenarioSpec,
    scene: Scene,
    seed: int,
    levels: Levels,
    road: tuple[float, float] | None = None,
) -> list[tuple[Rendered, dict[str, Any]]]:
    """Events of the scenario one after the other, each with its truth span; ``road``:
    (distance, bearing) of the road of a roadside scenario."""
    if spec.noise_only:
        return []
    rng = np.random.default_rng([seed, 3])
    sweep = list(spec.ladder) or [("walker", r) for r in SWEEP_PEOPLE_M] + [
        (k, r) for k in ("car", "tracked") for r in SWEEP_VEHICLE_M
    ]
    placed: list[tuple[Rendered, dict[str, Any]]] = []
    cursor = spec.lead_in_s
    index = 0
    while True:
        kind, range_m, bearing = _draw(spec, rng, scene, index, sweep, road)
        ev_seed = [seed, 4, index]
        gap = spec.min_gap_s + float(rng.exponential(spec.mean_gap_s))
        overlap = bool(placed) and rng.random() < spec.overlap_prob
        # Render once to learn how long before its closest approach the event becomes
        # detectable, then again at the time that leaves the intended gap.
        trial_t = min(cursor + 40.0, scene.duration_s)
        trial = _render(kind, range_m, ev_seed, scene, trial_t, spec, bearing)
        spans, _ = _detectable(trial, scene, levels)
        t0, _, _ = _hull(spans, trial_t)
        lead = trial_t - (_present(trial, t0)[0] if spec.one_at_a_time else t0)
        if overlap:
            prev = placed[-1][1]
            start = float(rng.uniform(prev["t0"], prev["t1"]))
        else:
            start = cursor + gap
        t_cpa = start + lead
        for _ in range(3):
            moved = _moved(trial, t_cpa - trial_t, scene)
            if moved is None:
                ev = _render(kind, range_m, ev_seed, scene, t_cpa, spec, bearing)
            else:
                ev = moved
                t_cpa = trial_t + ev.shift_s
            spans, snr = _detectable(ev, scene, levels)
            t0, t1, detectable = _hull(spans, t_cpa)
            # The background where it finally sits may differ from the trial's and let the
            # span start earlier: nudge it back behind the previous event.
            if overlap or not placed or t0 >= cursor + 1.0:
                break
            t_cpa += cursor + 1.0 - t0 + 0.05
        if t1 > scene.duration_s - 0.5 or t0 < 0.0:
            if t0 < 0.0 and t1 <= scene.duration_s - 0.5:
                cursor += 1.0
                continue
            break
        placed.append(
            (
                ev,
                {
                    "t0": t0,
                    "t1": t1,
                    "t_cpa": t_cpa,
                    "spans": spans,
                    "snr": snr,
                    "detectable": detectable,
                },
            )
        )
        cursor = max(cursor, _present(ev, t1)[1] if spec.one_at_a_time else t1)
        index += 1
    return placed


def _present(ev: Rendered, default: float) -> tuple[float, float]:
    """The span the event's sources move in the scene (both ends ``default`` if unknown)."""
    present = ev.contribution.info.get("present")
    if not isinstance(present, (list, tuple)) or len(present) != 2:
        return default, default
    return float(present[0]), float(present[1])


def _moved(ev: Rendered, dt: float, scene: Scene) -> Rendered | None:
    """The same event ``dt`` seconds later (rounded to a whole number of samples at every
    rate), or None when the rates share no convenient period."""
    rates = (scene.seismic_rate, scene.pir_rate, scene.mag_rate)
    if not all(r == int(r) for r in rates):
        return None
    period = 1.0 / math.gcd(*(int(r) for r in rates))
    if period > 1.0:
        return None
    steps = round(dt / period)
    dt = steps * period
    c = ev.contribution
    info = dict(c.info)
    if "present" in info:
        present = cast(list[float], info["present"])
        info["present"] = [present[0] + dt, present[1] + dt]
    bodies = [Body(b.track.shifted(dt), b.thermal, b.moment) for b in c.bodies]
    moved = Contribution(c.seismic, c.seismic_i0 + round(dt * scene.seismic_rate), bodies, info)
    return Rendered(
        ev.kind,
        ev.range_m,
        moved,
        ev.pir,
        ev.pir_i0 + round(dt * scene.pir_rate),
        ev.direction,
        ev.mag,
        ev.mag_i0 + round(dt * scene.mag_rate),
        ev.shift_s + dt,
    )


def truth_event(ev: Rendered, span: dict[str, Any]) -> TruthEvent:
    extra: dict[str, Any] = {k: v for k, v in ev.contribution.info.items()}
    extra["detectable"] = span["detectable"]
    extra["spans"] = span["spans"]
    extra["peak_snr_db"] = span["snr"]
    extra["sensors"] = sorted(span["spans"])
    if ev.direction is not None:
        extra["pir_direction"] = ev.direction
    bodies = ev.contribution.bodies
    if bodies:
        extra["bearing_deg"] = round(
            math.degrees(
                math.atan2(math.cos(bodies[0].track.bearing), math.sin(bodies[0].track.bearing))
            )
            % 360.0,
            1,
        )
    return TruthEvent(
        label=LABELS[ev.kind],
        source=SOURCES[ev.kind],
        t0=round(span["t0"], 3),
        t1=round(span["t1"], 3),
        t_cpa=round(span["t_cpa"], 3),
        range_m=round(ev.range_m, 2),
        extra={"kind": ev.kind, **extra},
    )


def mark_overlaps(truth: list[TruthEvent]) -> None:
    for i, ev in enumerate(truth):
        others = [j for j, other in enumerate(truth) if j != i and ev.overlaps(other)]
        if others:
            ev.extra["overlaps"] = others


def add_events(
    events: list[tuple[Rendered, dict[str, Any]]],
    seis: FloatArray,
    pir: FloatArray,
    mag: FloatArray,
) -> None:
    """Add every placed event's signals into the background arrays, in place."""
    for ev, _ in events:
        add_window(seis, ev.contribution.seismic, ev.contribution.seismic_i0)
        add_window(pir, ev.pir, ev.pir_i0)
        add_window(mag, ev.mag, ev.mag_i0)


def distant_footsteps(
    rng: np.random.Generator,
    scene: Scene,
    levels: Levels,
    per_hour: float,
    ranges: tuple[float, float] = (12.0, 40.0),
    wall_loss: tuple[float, float] = (0.05, 0.3),
) -> tuple[FloatArray, int]:
    """People walking in another part of a building, heard through walls and floors:
    background, so they are kept below half the detectability factor against ``levels``
    (too far to detect), each and where they overlap. Returns the seismic signal to add
    and how many walked."""
    rate = scene.seismic_rate
    n = scene.n(rate)
    out = np.zeros((n, scene.seismic_components))
    count = int(rng.poisson(per_hour * scene.duration_s / 3600.0))
    lo, hi = PEOPLE_BAND
    response = _band_response(lo, hi) if scene.site is None else _judged(scene, lo, hi)
    cap = 0.5 * DETECTABLE["seismic_impulsive"]

    def ratio(x: FloatArray, t0: float) -> float:
        """Highest 0.25-s peak over the background of the block it falls in."""
        z = shape_spectrum(x[:, :1], rate, response)
        env, step = moving_peak(z, rate, 0.25)
        blocks = np.floor((t0 + np.arange(env.size) * step) / levels.block_s).astype(int)
        level = levels.people[np.clip(blocks, 0, levels.people.size - 1)]
        return float(np.max(env / np.maximum(level, 1e-15), initial=0.0))

    for _ in range(count):
        t = float(rng.uniform(0.0, scene.duration_s))
        r = loguniform(rng, *ranges)
        contrib = person(rng, scene, t, r, half_m=(3.0, 10.0))
        seis = contrib.seismic * float(rng.uniform(*wall_loss))
        peak = ratio(seis, contrib.seismic_i0 / rate)
        if peak > cap:
            seis *= cap / peak
        add_window(out, seis, contrib.seismic_i0)
    if count:
        # Two at once must not add up to something detectable either.
        peak = ratio(out, 0.0)
        if peak > cap:
            out *= cap / peak
    return out, count
