"""Footfalls of people and four-legged animals, as the geophone hears them.

A footfall is an impulse into the ground, which rings in the site's resonances (energy mostly
10-100 Hz); the ringing reaches the sensor attenuated by ``Ground.gain``, so far steps keep
only their low modes. People step at 1.4-2 Hz walking (period 0.5-0.7 s) and up to ~3.5 Hz
running, with a heel strike followed by a weaker toe-off. Quadrupeds put down four feet per
stride in an uneven, irregular rhythm, lighter per foot, and pause to graze or sniff.
"""

from __future__ import annotations

import math

import numpy as np

from hil.synth.ground import FloatArray, render_impulses
from hil.synth.scene import (
    Body,
    Contribution,
    PacedTrack,
    Scene,
    Track,
    crossing_track,
    local_window,
)

WALK_AMPLITUDE = 1.5e-5
"""Peak vertical ground velocity of a 75-kg adult's heel strike 1 m away, m/s."""
RUN_FACTOR = 2.5
"""Runners land 2-3 times harder."""
PERSON_THERMAL = 7.0
"""Radiating area x contrast of a clothed adult, m^2.K."""

# Relative excitation of Ground.modes_hz (about 10, 22, 40, 65 Hz) by each kind of impact.
HEEL_MODES = (0.2, 0.9, 1.0, 0.55)
RUN_MODES = (0.3, 1.0, 1.0, 0.75)
HOOF_MODES = (0.15, 0.5, 1.0, 1.0)

RING_S = 0.45  # long enough for the slowest mode to decay 20 dB
RADIAL_RATIO = 0.7  # horizontal/vertical amplitude of the surface wave

SPECIES: dict[str, dict[str, tuple[float, float]]] = {
    # mass kg, stride Hz (4 footfalls each), speed m/s, thermal m^2.K
    "dog": {"mass": (15, 40), "stride": (1.4, 2.0), "speed": (0.9, 1.8), "thermal": (1.2, 2.5)},
    "deer": {"mass": (40, 90), "stride": (0.9, 1.3), "speed": (0.8, 1.5), "thermal": (3.5, 6)},
    "cattle": {"mass": (300, 600), "stride": (0.7, 1.0), "speed": (0.6, 1.1), "thermal": (12, 20)},
}


def person_gait(rng: np.random.Generator, *, running: bool) -> dict[str, float]:
    """Cadence (steps/s), speed and impact strength of one person."""
    mass = float(np.clip(rng.normal(75.0, 12.0), 45.0, 120.0))
    if running:
        cadence = float(rng.uniform(2.6, 3.5))
        speed = cadence * float(rng.uniform(1.0, 1.5))
    else:
        cadence = float(rng.uniform(1.4, 2.0))
        speed = cadence * float(rng.uniform(0.62, 0.8))
    strength = WALK_AMPLITUDE * (mass / 75.0) * float(rng.lognormal(0.0, 0.25))
    if running:
        strength *= RUN_FACTOR
    return {
        "mass": mass,
        "cadence": cadence,
        "speed": speed,
        "strength": strength,
        "jitter": float(rng.uniform(0.015, 0.045)),
    }


def step_times(
    rng: np.random.Generator, t_start: float, t_end: float, cadence: float, jitter: float
) -> FloatArray:
    """Times of successive steps: period 1/cadence with per-step jitter and a slow drift."""
    period = 1.0 / cadence
    n = max(1, math.ceil((t_end - t_start) / period * 1.3) + 2)
    drift = np.cumsum(rng.normal(0.0, 0.004, n))
    intervals = period * (1.0 + jitter * rng.standard_normal(n) + np.clip(drift, -0.06, 0.06))
    t = t_start + rng.uniform(0.0, period) + np.concatenate(([0.0], np.cumsum(intervals[:-1])))
    return t[t <= t_end]


def quadruped_footfalls(
    rng: np.random.Generator, t_start: float, t_end: float, stride_hz: float
) -> FloatArray:
    """Four-beat walk: hind and fore feet at uneven phases, jittered, with pauses."""
    times: list[float] = []
    t = t_start + rng.uniform(0.0, 1.0 / stride_hz)
    while t < t_end:
        period = (1.0 / stride_hz) * rng.lognormal(0.0, 0.12)
        lag = rng.uniform(0.18, 0.32)  # lateral-sequence walk: fore foot follows hind
        phases = np.array([0.0, lag, 0.5, 0.5 + lag]) + rng.normal(0.0, 0.035, 4)
        times.extend((t + np.sort(phases) * period).tolist())
        t += period
        if rng.random() < 0.07:  # stops to graze or sniff
            t += rng.uniform(1.0, 6.0)
    arr = np.array(times)
    return arr[(arr >= t_start) & (arr <= t_end)]


def render_footfalls(
    rng: np.random.Generator,
    scene: Scene,
    walkers: list[tuple[Track, FloatArray, FloatArray]],
    weights: tuple[float, ...],
    t0: float,
    t1: float,
) -> tuple[FloatArray, int]:
    """Seismic signal of footfalls on a local window covering ``t0..t1``.

    ``walkers`` holds (track, footfall times, source amplitude per footfall) for each body.
    """
    rate = scene.seismic_rate
    i0, i1 = local_window(t0, t1, rate, pad_s=RING_S + 1.0)
    out = np.zeros((i1 - i0, scene.seismic_components))
    ground = scene.ground
    base_f = np.asarray(ground.modes_hz)
    w = np.asarray(weights)
    if ground.mode_gain is not None:
        w = w * np.asarray(ground.mode_gain)
    for track, times, strength in walkers:
        if times.size == 0:
            continue
        r = track.distance(times)
        arrival = times + r / ground.c
        freqs = base_f[None, :] * (1.0 + 0.04 * rng.standard_normal((times.size, base_f.size)))
        freqs = np.clip(freqs, 3.0, 0.42 * rate)
        taus = ground.mode_q / (np.pi * freqs)
        amps = (
            strength[:, None]
            * w[None, :]
            * rng.lognormal(0.0, 0.2, freqs.shape)
            * ground.gain(freqs, r[:, None])
        )
        if ground.impact_gain != 1.0:
            amps *= ground.impact_gain
        t_first = i0 / rate
        render_impulses(out, rate, t_first, arrival, amps, freqs, taus, RING_S)
        if scene.seismic_components == 3:
            x, y = track.position(times)
            rr = np.maximum(np.hypot(x, y), 1e-3)
            # Radial ground motion, seen on the north and east components.
            for col, proj in ((1, y / rr), (2, x / rr)):
                render_impulses(
                    out,
                    rate,
                    t_first,
                    arrival,
                    amps * RADIAL_RATIO * proj[:, None],
                    freqs,
                    taus,
                    RING_S,
                    phase=math.pi / 2,
                    column=col,
                )
    return out, i0


def _with_toe_off(
    rng: np.random.Generator, times: FloatArray, strength: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each walking step: heel strike, then a weaker push-off 80-140 ms later."""
    toe_t = times + rng.uniform(0.08, 0.14, times.size)
    toe_a = strength * rng.uniform(0.25, 0.45, times.size)
    order = np.argsort(np.concatenate((times, toe_t)))
    return np.concatenate((times, toe_t))[order], np.concatenate((strength, toe_a))[order]


def _step_strengths(rng: np.random.Generator, n: int, strength: float) -> FloatArray:
    left_right = np.where(np.arange(n) % 2 == 0, 1.0, rng.uniform(0.85, 1.15))
    return np.asarray(strength * left_right * rng.lognormal(0.0, 0.18, n))


PACES: dict[str, float] = {"pause": 0.3, "turn": 0.25, "wander": 0.2, "shuffle": 0.15, "limp": 0.1}
"""How people who do not walk a steady line move about a room (shares): they stop for a
moment, turn back, wander with stops and turns, shuffle, or limp. Real floor recordings are
full of such walks (capstone's labelled takes: pauses, turns, shuffles, limps), and a steady
gait is what a straight crossing alone would teach a footstep to be."""


def _turn_steps(
    rng: np.random.Generator, t: float, seconds: float, strength: float
) -> tuple[list[float], list[float]]:
    """Turning on the spot: two or three short, lighter steps."""
    n = int(rng.integers(2, 4))
    times = t + np.sort(rng.uniform(0.0, seconds, n))
    return times.tolist(), (strength * rng.uniform(0.35, 0.8, n)).tolist()


def _paced_legs(rng: np.random.Generator, style: str, half: float) -> list[tuple[str, float]]:
    """The walk as legs: ("walk", to where past the CPA point), ("stop", s), ("turn", s)."""
    if style == "pause":
        return [
            ("walk", float(rng.uniform(-0.5, 0.5)) * half),
            ("stop", float(rng.uniform(0.8, 4.0))),
            ("walk", half),
        ]
    if style == "turn":
        return [
            ("walk", float(rng.uniform(-0.3, 0.8)) * half),
            ("turn", float(rng.uniform(0.7, 1.5))),
            ("walk", -half),
        ]
    if style == "wander":
        legs: list[tuple[str, float]] = []
        at, heading = -half, 1.0
        for _ in range(int(rng.integers(3, 7))):
            if legs and rng.random() < 0.5:
                heading = -heading
                legs.append(("turn", float(rng.uniform(0.6, 1.2))))
            elif legs and rng.random() < 0.5:
                legs.append(("stop", float(rng.uniform(0.5, 3.0))))
            target = float(np.clip(at + heading * rng.uniform(0.8, 3.0), -half, half))
            if target == at:  # at the end of the room: back the other way
                heading = -heading
                target = float(np.clip(at + heading * rng.uniform(0.8, 3.0), -half, half))
            legs.append(("walk", target))
            at = target
        return legs
    return [("walk", half)]  # shuffle, limp: a straight line at their own gait


def paced_walk(
    rng: np.random.Generator,
    t_cpa: float,
    range_m: float,
    gait: dict[str, float],
    half: float,
    *,
    bearing: float | None,
    style: str | None = None,
) -> tuple[PacedTrack, FloatArray, FloatArray, str]:
    """A walk about a room at a person's own pace (``style``, one of ``PACES``; None: drawn):
    its track, footfall times and strengths (toe-offs included), and its style. It sets off
    when a steady walk of the same line would, ``half`` metres before the CPA point."""
    if style is None:
        style = str(rng.choice(list(PACES), p=list(PACES.values())))
    cadence, jitter, strength = gait["cadence"], gait["jitter"], gait["strength"]
    stride = gait["speed"] / cadence
    if style == "shuffle":  # short, quick, soft steps that slide more than they strike
        cadence = float(rng.uniform(1.8, 2.4))
        stride = float(rng.uniform(0.25, 0.45))
        strength *= float(rng.uniform(0.25, 0.5))
        jitter *= 2.0
    base = crossing_track(rng, t_cpa, range_m, cadence * stride, half, bearing=bearing)
    t, at = base.t_start, -half
    knots = [(t, at)]
    times: list[float] = []
    amps: list[float] = []
    for what, value in _paced_legs(rng, style, half):
        if what == "walk":
            pace = cadence * float(rng.uniform(0.8, 1.15)) if style == "wander" else cadence
            steps = max(1, round(abs(value - at) / stride))
            end = t + steps / pace
            leg = step_times(rng, t, end, pace, jitter)
            times += leg.tolist()
            amps += _step_strengths(rng, leg.size, strength).tolist()
            t, at = end, value
        else:
            if what == "turn":
                turn_t, turn_a = _turn_steps(rng, t, value, strength)
                times += turn_t
                amps += turn_a
            t += value
        knots.append((t, at))
    order = np.argsort(times)
    step_t, step_a = np.asarray(times)[order], np.asarray(amps)[order]
    if style == "limp":  # the bad leg lands late and light
        bad = np.arange(step_t.size) % 2 == 1
        step_t[bad] += float(rng.uniform(0.06, 0.15)) / cadence
        step_a[bad] *= float(rng.uniform(0.35, 0.7))
    if style != "shuffle":
        step_t, step_a = _with_toe_off(rng, step_t, step_a)
    track = PacedTrack(
        t_cpa=base.t_cpa,
        range_m=range_m,
        bearing=base.bearing,
        direction=base.direction,
        speed=base.speed,
        t_start=knots[0][0],
        t_end=t,
        height=base.height,
        knots=tuple(knots),
    )
    return track, step_t, step_a, style


def _walk(
    rng: np.random.Generator,
    t_cpa: float,
    range_m: float,
    gait: dict[str, float],
    half: float,
    *,
    bearing: float | None,
    running: bool = False,
    pacing: float = 0.0,
) -> tuple[Track, FloatArray, FloatArray, str | None]:
    """One person's line past the sensor: its track, footfall times and strengths, and its
    pace (a ``paced_walk`` style with probability ``pacing`` for a walker, else "steady";
    None where no pacing is drawn). A walker's steps carry their push-off, a runner's not."""
    if pacing > 0.0 and not running and rng.random() < pacing:
        return paced_walk(rng, t_cpa, range_m, gait, half, bearing=bearing)
    track = crossing_track(rng, t_cpa, range_m, gait["speed"], half, bearing=bearing)
    times = step_times(rng, track.t_start, track.t_end, gait["cadence"], gait["jitter"])
    amps = _step_strengths(rng, times.size, gait["strength"])
    if not running:
        times, amps = _with_toe_off(rng, times, amps)
    return track, times, amps, "steady" if pacing > 0.0 else None


def person(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    *,
    running: bool = False,
    bearing: float | None = None,
    ferrous: float = 0.05,
    half_m: tuple[float, float] | None = None,
    pacing: float = 0.0,
) -> Contribution:
    """One walker or runner crossing past the sensor, on a straight stretch of 2 x
    ``half_m`` metres (default 20-40 m walking, 40-80 m running); a walker walks it at
    their own pace (``paced_walk``) with probability ``pacing``."""
    gait = person_gait(rng, running=running)
    if half_m is not None:
        half = rng.uniform(*half_m)
    else:
        half = rng.uniform(20.0, 40.0) if running else rng.uniform(10.0, 20.0)
    track, times, amps, style = _walk(
        rng, t_cpa, range_m, gait, half, bearing=bearing, running=running, pacing=pacing
    )
    pace = {} if style is None else {"pace": style}
    seis, i0 = render_footfalls(
        rng,
        scene,
        [(track, times, amps)],
        RUN_MODES if running else HEEL_MODES,
        track.t_start,
        track.t_end,
    )
    body = Body(
        track, thermal=PERSON_THERMAL * rng.uniform(0.8, 1.3), moment=_random_moment(rng, ferrous)
    )
    return Contribution(
        seis,
        i0,
        [body],
        {
            "speed_mps": gait["speed"],
            "cadence_hz": gait["cadence"],
            "n_walkers": 1,
            "heading_deg": track.heading_deg(),
            "present": [track.t_start, track.t_end],
            "ferrous_am2": float(np.linalg.norm(body.moment)),
            **pace,
        },
    )


def group(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    size: int,
    *,
    bearing: float | None = None,
    ferrous: float = 0.05,
) -> Contribution:
    """People walking together in file: one pace, each with their own cadence and weight."""
    lead = person_gait(rng, running=False)
    speed = lead["speed"]
    half = rng.uniform(10.0, 18.0)
    leader = crossing_track(rng, t_cpa, range_m, speed, half, bearing=bearing)
    walkers = []
    bodies = []
    behind = 0.0
    cadences = []
    for k in range(size):
        track = leader if k == 0 else leader.follower(behind, float(rng.uniform(-1.0, 1.0)))
        gait = person_gait(rng, running=False)
        cadence = float(np.clip(lead["cadence"] * rng.normal(1.0, 0.05), 1.35, 2.1))
        cadences.append(cadence)
        times = step_times(rng, track.t_start, track.t_end, cadence, gait["jitter"])
        amps = _step_strengths(rng, times.size, gait["strength"])
        times, amps = _with_toe_off(rng, times, amps)
        walkers.append((track, times, amps))
        bodies.append(
            Body(
                track,
                thermal=PERSON_THERMAL * rng.uniform(0.8, 1.3),
                moment=_random_moment(rng, ferrous),
            )
        )
        behind += float(rng.uniform(1.0, 3.0))
    t_end = max(tr.t_end for tr, _, _ in walkers)
    seis, i0 = render_footfalls(rng, scene, walkers, HEEL_MODES, leader.t_start, t_end)
    return Contribution(
        seis,
        i0,
        bodies,
        {
            "speed_mps": speed,
            "cadence_hz": float(np.mean(cadences)),
            "n_walkers": size,
            "heading_deg": leader.heading_deg(),
            "present": [leader.t_start, t_end],
            "ferrous_am2": float(max(np.linalg.norm(b.moment) for b in bodies)),
        },
    )


def occupants(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    size: int,
    *,
    ranges: tuple[float, float],
    bearing: float | None = None,
    ferrous: float = 0.05,
    half_m: tuple[float, float] = (2.0, 5.0),
    pacing: float = 0.0,
) -> Contribution:
    """People walking about a room, each on a short path of their own, crossing within a
    few seconds of one another; the first passes ``range_m`` from the sensor at ``t_cpa``,
    the others anywhere in ``ranges``; each walks at their own pace (``paced_walk``) with
    probability ``pacing``."""
    walkers = []
    bodies = []
    cadences = []
    starts = []
    ends = []
    for k in range(size):
        gait = person_gait(rng, running=False)
        if k == 0:
            r, b, t_k = range_m, bearing, t_cpa
        else:
            r = float(math.exp(rng.uniform(math.log(ranges[0]), math.log(ranges[1]))))
            b = float(rng.uniform(0.0, 2.0 * math.pi))
            t_k = t_cpa + float(rng.uniform(-4.0, 4.0))
        half = rng.uniform(*half_m)
        track, times, amps, _ = _walk(rng, t_k, r, gait, half, bearing=b, pacing=pacing)
        walkers.append((track, times, amps))
        cadences.append(gait["cadence"])
        starts.append(track.t_start)
        ends.append(track.t_end)
        bodies.append(
            Body(
                track,
                thermal=PERSON_THERMAL * rng.uniform(0.8, 1.3),
                moment=_random_moment(rng, ferrous),
            )
        )
    seis, i0 = render_footfalls(rng, scene, walkers, HEEL_MODES, min(starts), max(ends))
    lead = walkers[0][0]
    return Contribution(
        seis,
        i0,
        bodies,
        {
            "speed_mps": lead.speed,
            "cadence_hz": float(np.mean(cadences)),
            "n_walkers": size,
            "heading_deg": lead.heading_deg(),
            "present": [min(starts), max(ends)],
            "ferrous_am2": float(max(np.linalg.norm(b.moment) for b in bodies)),
        },
    )


def quadruped(
    rng: np.random.Generator,
    scene: Scene,
    t_cpa: float,
    range_m: float,
    species: str | None = None,
    *,
    bearing: float | None = None,
) -> Contribution:
    """A dog, deer or cow wandering past: four uneven footfalls per stride, with pauses."""
    name = species or str(rng.choice(list(SPECIES), p=[0.4, 0.35, 0.25]))
    sp = SPECIES[name]
    mass = float(rng.uniform(*sp["mass"]))
    stride = float(rng.uniform(*sp["stride"]))
    speed = float(rng.uniform(*sp["speed"]))
    half = rng.uniform(8.0, 16.0)
    track = crossing_track(rng, t_cpa, range_m, speed, half, bearing=bearing, height=0.6)
    times = quadruped_footfalls(rng, track.t_start, track.t_end, stride)
    per_foot = WALK_AMPLITUDE * 0.55 * (mass / 75.0) ** 0.6
    amps = per_foot * rng.lognormal(0.0, 0.35, times.size)
    seis, i0 = render_footfalls(
        rng, scene, [(track, times, amps)], HOOF_MODES, track.t_start, track.t_end
    )
    body = Body(track, thermal=float(rng.uniform(*sp["thermal"])))
    return Contribution(
        seis,
        i0,
        [body],
        {
            "species": name,
            "mass_kg": mass,
            "stride_hz": stride,
            "speed_mps": speed,
            "footfalls_per_s": 4.0 * stride,
            "heading_deg": track.heading_deg(),
            "present": [track.t_start, track.t_end],
        },
    )


def _random_moment(rng: np.random.Generator, median: float) -> tuple[float, float, float]:
    """Dipole of what a person carries (phone, keys, tools): random direction."""
    if median <= 0:
        return (0.0, 0.0, 0.0)
    v = rng.standard_normal(3)
    v *= median * rng.lognormal(0.0, 0.6) / np.linalg.norm(v)
    return (float(v[0]), float(v[1]), float(v[2]))
