"""The roadside and indoor scenarios: their events, truth and physics, measured from the
signals."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.recordings.waveforms import Recording
from hil.scenarios import SCENARIOS, generate
from hil.scenarios.events import DETECTABLE, PEOPLE_BAND, background_levels, distant_footsteps
from hil.scenarios.specs import SPECS, STUDIED
from hil.synth.ground import Ground, band, moving_peak, shape_spectrum
from hil.synth.people import PACES, paced_walk, person_gait
from hil.synth.road import road_vehicle
from hil.synth.scene import PacedTrack, Scene
from hil.synth.site import floor_ground, site_ground
from hil.synth.vehicles import vehicle

RATE = 500.0


def _centroid(x: np.ndarray, rate: float) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    sel = (f >= 2.0) & (f <= 100.0)
    return float((f[sel] * spec[sel]).sum() / spec[sel].sum())


@pytest.fixture(scope="module")
def roadside() -> Recording:
    return generate("roadside", 1800.0, seed=31)


@pytest.fixture(scope="module")
def indoor() -> Recording:
    return generate("indoor", 900.0, seed=32)


def test_new_scenarios_are_studied() -> None:
    for name in ("roadside", "indoor", "noise-roadside", "noise-indoor"):
        assert name in SCENARIOS and name in STUDIED
    assert SPECS["noise-roadside"].noise_only and SPECS["noise-indoor"].noise_only


def test_road_passes_are_short_broadband_bursts_unlike_distant_vehicles() -> None:
    scene = Scene(120.0, RATE, 50.0, 50.0, site_ground(np.random.default_rng(2), "road"))
    near = road_vehicle(np.random.default_rng(1), scene, 60.0, 4.0, "car")
    far = vehicle(
        np.random.default_rng(1), Scene(120.0, RATE, 50.0, 50.0, Ground()), 60.0, 40.0, "car"
    )
    x = near.seismic[:, 0]
    t = (near.seismic_i0 + np.arange(x.size)) / RATE
    rms = np.sqrt(np.convolve(x**2, np.ones(250) / 250, mode="same"))
    peak = rms.max()
    assert abs(t[np.argmax(rms)] - 60.0) < 2.0
    # A burst: 20 dB down within ~10 s of the closest approach at 8-30 m/s.
    loud = t[rms > 0.1 * peak]
    assert loud[-1] - loud[0] < 20.0
    core = x[np.abs(t - 60.0) < 2.0]
    assert 25.0 < _centroid(core, RATE) < 60.0
    y = far.seismic[:, 0]
    assert _centroid(y[y.size // 2 - 1000 : y.size // 2 + 1000], RATE) < 20.0
    assert near.info["mode"] == "road" and near.info["axle_impacts"] > 0


def test_roadside_vehicles_pass_on_the_road(roadside: Recording) -> None:
    road = roadside.meta["scene"]["road_m"]
    assert 1.0 <= road <= 30.0
    vehicles = [ev for ev in roadside.truth if ev.label == "vehicle"]
    assert len(vehicles) >= 20
    spans = []
    for ev in vehicles:
        assert ev.extra["kind"] in ("car", "truck") and ev.extra["mode"] == "road"
        assert 8.0 <= ev.extra["speed_mps"] <= 30.0
        assert (
            abs(ev.range_m - max(0.5, abs(road - 1.75))) < 0.01
            or abs(ev.range_m - (road + 1.75)) < 0.01
        )
        if ev.extra["detectable"]:
            assert ev.t0 <= ev.t_cpa <= ev.t1
            spans.append(ev.t1 - ev.t0)
    # A few seconds to ~20 s, not the minute-long swell of a vehicle heard from afar.
    assert 2.0 <= float(np.median(spans)) <= 25.0
    close = [ev for ev in vehicles if ev.range_m <= 10.0]
    if close:
        seen = [set(ev.extra["sensors"]) for ev in close]
        assert sum("magnetometer" in s for s in seen) >= 0.8 * len(close)
        assert sum("pir" in s for s in seen) >= 0.6 * len(close)


def test_roadside_people_and_dogs_use_the_road(roadside: Recording) -> None:
    road = roadside.meta["scene"]["road_m"]
    people = [ev for ev in roadside.truth if ev.label == "footstep"]
    dogs = [ev for ev in roadside.truth if ev.label == "unknown"]
    assert people and dogs
    for ev in people + dogs:
        assert ev.range_m <= road + 5.0 + 1e-6
    assert all(ev.extra["species"] == "dog" for ev in dogs)


def test_roadside_vehicle_energy_is_at_tens_of_hertz(roadside: Recording) -> None:
    geo = roadside.channels["geo1"]
    for ev in [e for e in roadside.truth if e.label == "vehicle" and e.extra["detectable"]][:8]:
        i = round(ev.t_cpa * geo.rate)
        seg = geo.data[max(0, i - 1000) : i + 1000, 0]
        assert _centroid(seg, geo.rate) > 20.0, ev


def test_indoor_people_walk_about_the_room(indoor: Recording) -> None:
    assert indoor.meta["counts"]["vehicle"] == 0
    people = indoor.truth
    assert len(people) >= 20
    sizes = {ev.extra["n_walkers"] for ev in people}
    assert 1 in sizes and max(sizes) <= 4 and len(sizes) >= 2
    assert all(0.5 <= ev.range_m <= 8.0 for ev in people)
    assert all(ev.extra["detectable"] for ev in people)
    b = indoor.meta["background"]["building"]
    assert b["impacts"] > 0 and b["machines"] and b["distant_walkers"] >= 0
    assert indoor.meta["scene"]["setting"] == "building"


def test_floor_footfalls_ring_in_the_floors_low_modes(indoor: Recording) -> None:
    geo = indoor.channels["geo1"]
    ev = min(indoor.truth, key=lambda e: e.range_m)
    seg = geo.data[round(ev.t0 * geo.rate) : round(ev.t1 * geo.rate), 0]
    spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
    f = np.fft.rfftfreq(seg.size, 1.0 / geo.rate)
    low = spec[(f >= 5.0) & (f < 60.0)].sum()
    assert low > 0.6 * spec[f >= 2.0].sum()
    modes = indoor.meta["scene"]["ground"]["modes_hz"]
    assert 6.0 <= modes[0] <= 22.0
    assert indoor.meta["scene"]["ground"]["mode_q"] >= 8.0


def test_noise_companions_have_no_events() -> None:
    for name in ("noise-roadside", "noise-indoor"):
        rec = generate(name, 300.0, seed=3)
        assert rec.truth == [] and rec.meta["noise_only"] is True


def test_footsteps_elsewhere_in_the_building_stay_undetectable() -> None:
    scene = Scene(600.0, RATE, 50.0, 50.0, floor_ground(np.random.default_rng(4)))
    rng = np.random.default_rng(5)
    quiet = rng.standard_normal((scene.n(RATE), 1)) * 2e-7
    pir = np.zeros(scene.n(50.0))
    mag = np.zeros((scene.n(50.0), 3))
    levels = background_levels(scene, quiet, pir, mag)
    steps, count = distant_footsteps(
        np.random.default_rng(6), scene, levels, 120.0, ranges=(2.0, 5.0)
    )
    assert count >= 5
    z = shape_spectrum(steps[:, :1], RATE, lambda f: band(f, *PEOPLE_BAND).astype(complex))
    env, _ = moving_peak(z, RATE, 0.25)
    assert (
        env.max() / float(np.median(levels.people)) <= 0.5 * DETECTABLE["seismic_impulsive"] * 1.01
    )
    assert env.max() > 0.0


def _paced(style: str, seed: int = 3) -> tuple[PacedTrack, np.ndarray, np.ndarray]:
    gait = person_gait(np.random.default_rng(seed), running=False)
    track, times, amps, got = paced_walk(
        np.random.default_rng(seed), 60.0, 2.0, gait, 3.0, bearing=0.0, style=style
    )
    assert got == style
    return track, times, amps


def test_a_person_who_stops_stands_still_and_makes_no_footfall() -> None:
    track, times, _ = _paced("pause")
    (t_stop, at), (t_go, still) = track.knots[1], track.knots[2]
    assert t_go - t_stop >= 0.8 and at == still
    quiet = times[(times > t_stop + 0.2) & (times < t_go)]
    assert quiet.size == 0, quiet
    during = np.linspace(t_stop, t_go, 20)
    assert np.ptp(track.distance(during)) == 0.0
    assert track.along(np.array([track.t_end]))[0] == pytest.approx(3.0)


def test_a_person_who_turns_back_ends_where_they_set_off() -> None:
    track, times, _ = _paced("turn")
    ends = track.along(np.array([track.t_start, track.t_end]))
    assert ends[0] == pytest.approx(-3.0) and ends[1] == pytest.approx(-3.0)
    t_turn, t_back = track.knots[1][0], track.knots[2][0]
    turning = (times >= t_turn) & (times < t_back)
    assert 2 <= np.count_nonzero(turning) <= 6  # a few light steps on the spot (and toe-offs)
    assert np.all(np.diff(times) >= 0.0) and times[0] >= track.t_start


def test_a_shuffle_is_soft_and_has_no_toe_off() -> None:
    _, times, amps = _paced("shuffle")
    gait = person_gait(np.random.default_rng(3), running=False)
    assert np.median(amps) < 0.6 * gait["strength"]  # a quarter to half a heel strike
    # Short quick steps: no push-off 80-140 ms after each.
    assert np.min(np.diff(times)) > 0.2
    assert times.size >= 6 / 0.45 * 0.8  # 6 m in steps of 0.25-0.45 m


def test_paced_tracks_move_with_their_event() -> None:
    track, _, _ = _paced("wander")
    moved = track.shifted(10.0)
    assert isinstance(moved, PacedTrack)
    t = np.linspace(track.t_start, track.t_end, 50)
    assert np.allclose(moved.distance(t + 10.0), track.distance(t))


def test_people_at_home_walk_at_their_own_pace_and_the_floors_are_quieter() -> None:
    home = generate("home", 900.0, seed=32)
    assert "home" not in STUDIED and home.meta["counts"]["vehicle"] == 0
    paces = [ev.extra["pace"] for ev in home.truth if "pace" in ev.extra]
    assert "steady" in paces and len(set(paces) & set(PACES)) >= 2
    walks = [ev for ev in home.truth if ev.extra.get("pace") in PACES]
    # Nearly all are heard: a shuffle or a limp at the far side of a slab may not be.
    assert walks and sum(ev.extra["detectable"] for ev in walks) >= 0.8 * len(walks)
    # Quiet houses as well as busy buildings: the floor's own noise reaches well under
    # the indoor scenario's 300 nm/s (drawn log-uniform from 50 nm/s).
    quiet = [generate("home", 60.0, seed=s).meta["background"]["site_rms"] for s in range(12)]
    assert min(quiet) < 3e-7 and max(quiet) <= 3e-6
