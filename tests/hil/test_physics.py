"""The generator's signals obey the published figures (FACTS.md), measured from the signals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hil.scenarios import generate
from hil.synth import magnetometer as synth_mag
from hil.synth import pir as synth_pir
from hil.synth.ground import Ground, band, shape_spectrum
from hil.synth.people import person, quadruped
from hil.synth.scene import Body, Scene, Track
from hil.synth.vehicles import vehicle

RATE = 500.0
SCENE = Scene(
    duration_s=120.0,
    seismic_rate=RATE,
    pir_rate=50.0,
    mag_rate=50.0,
    ground=Ground(),
    pir_axis=math.pi / 2,
)


def _band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / RATE)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec[f > 0.5].sum())


def _cadence(x: np.ndarray) -> float:
    """Step rate from the autocorrelation of the 10-60 Hz envelope (what a detector does)."""
    filtered = shape_spectrum(x[:, None], RATE, lambda f: band(f, 10.0, 60.0).astype(complex))
    env = np.abs(filtered[:, 0])
    step = 10  # 50 Hz envelope
    env = env[: env.size // step * step].reshape(-1, step).mean(axis=1)
    env = env - env.mean()
    ac = np.correlate(env, env, mode="full")[env.size - 1 :]
    lags = np.arange(ac.size) / 50.0
    # The earliest strong peak is the step; the stride (two steps, left and right foot not
    # quite alike) can be as strong.
    peaks = [
        i
        for i in range(1, ac.size - 1)
        if 0.2 <= lags[i] <= 0.8 and ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1]
    ]
    best = max(ac[i] for i in peaks)
    return float(1.0 / lags[next(i for i in peaks if ac[i] >= 0.6 * best)])


@pytest.mark.parametrize("running", [False, True])
def test_footstep_cadence_measured_from_the_signal(running: bool) -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        ev = person(rng, SCENE, 60.0, 4.0, running=running)
        measured = _cadence(ev.seismic[:, 0])
        lo, hi = (2.5, 3.6) if running else (1.35, 2.05)
        assert lo <= measured <= hi, (seed, measured)
        assert measured == pytest.approx(ev.info["cadence_hz"], rel=0.08)


def test_footsteps_are_impulses_with_energy_mostly_in_10_100_hz() -> None:
    ev = person(np.random.default_rng(1), SCENE, 60.0, 3.0)
    x = ev.seismic[:, 0]
    assert _band_power(x, 10.0, 100.0) > 0.75
    kurtosis = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
    assert kurtosis > 6  # impulsive, not a steady hum


def test_vehicle_energy_is_in_2_30_hz_with_harmonic_lines() -> None:
    for model in ("car", "truck", "tracked"):
        ev = vehicle(np.random.default_rng(3), SCENE, 60.0, 40.0, model)
        x = ev.seismic[:, 0]
        assert _band_power(x, 2.0, 30.0) > 0.8, model
        # Lines: the fundamental stands out of its spectral neighbourhood by 10 dB (7 dB
        # for tracked vehicles, whose track clatter is broadband).
        seg = x[x.size // 2 - 2048 : x.size // 2 + 2048]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
        f = np.fft.rfftfreq(seg.size, 1.0 / RATE)
        f0 = float(ev.info["f0_hz"])
        near = (f > f0 - 0.5) & (f < f0 + 0.5)
        around = (f > f0 + 1.0) & (f < f0 + 4.0) & ((f < 2 * f0 - 0.6) | (f > 2 * f0 + 0.6))
        contrast = 5.0 if model == "tracked" else 10.0
        assert spec[near].max() > contrast * np.median(spec[around]), model


def test_vehicle_envelope_rises_and_falls_around_closest_approach() -> None:
    ev = vehicle(np.random.default_rng(4), SCENE, 60.0, 30.0, "car")
    x = ev.seismic[:, 0]
    t = (ev.seismic_i0 + np.arange(x.size)) / RATE
    rms = np.sqrt(np.convolve(x**2, np.ones(500) / 500, mode="same"))
    assert abs(t[np.argmax(rms)] - 60.0) < 2.0
    before = rms[(t > 60 - 12) & (t < 60 - 8)].mean()
    after = rms[(t > 60 + 8) & (t < 60 + 12)].mean()
    peak = rms.max()
    assert before < peak / 3 and after < peak / 3


def test_amplitude_and_high_frequencies_fall_with_distance() -> None:
    peaks, centroids = [], []
    for r in (2.0, 5.0, 10.0, 20.0, 50.0):
        ev = person(np.random.default_rng(7), SCENE, 60.0, r)  # same person at each range
        x = ev.seismic[:, 0]
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(x.size, 1.0 / RATE)
        peaks.append(np.abs(x).max())
        centroids.append(float((f * spec).sum() / spec.sum()))
    assert all(a > b for a, b in itertools.pairwise(peaks))
    assert peaks[0] / peaks[-1] > 25  # spreading and anelastic loss
    assert all(a > b for a, b in itertools.pairwise(centroids))
    assert centroids[-1] < 30.0  # at 50 m mostly the low modes are left


def _crossing(
    range_m: float, direction: int, thermal: float = 7.0, bearing: float = math.pi / 2
) -> Body:
    track = Track(
        t_cpa=60.0,
        range_m=range_m,
        bearing=bearing,
        direction=direction,
        speed=1.4,
        t_start=40.0,
        t_end=80.0,
    )
    return Body(track, thermal=thermal)


def test_pir_sees_a_warm_body_crossing_in_range_with_the_order_giving_direction() -> None:
    first_swing = {}
    for direction in (1, -1):
        sig, _, seen = synth_pir.body_signal(SCENE, _crossing(6.0, direction))
        assert np.abs(sig).max() > 10 * synth_pir.NOISE_RMS
        # Opposite polarities in turn: both signs swing strongly.
        assert sig.max() > 0.3 * np.abs(sig).max() and sig.min() < -0.3 * np.abs(sig).max()
        first = sig[np.flatnonzero(np.abs(sig) > 0.3 * np.abs(sig).max())[0]]
        first_swing[seen] = float(np.sign(first))
    # Left to right the leading (+) element is crossed first; the other way round, (-).
    assert first_swing == {"left-to-right": 1.0, "right-to-left": -1.0}


def test_pir_ignores_far_cold_or_out_of_view_bodies() -> None:
    far, _, _ = synth_pir.body_signal(SCENE, _crossing(25.0, 1))
    assert np.abs(far).max() < synth_pir.DETECTABLE_FACTOR * synth_pir.NOISE_RMS
    cold, _, _ = synth_pir.body_signal(SCENE, _crossing(5.0, 1, thermal=0.0))
    assert not np.any(cold)
    behind, _, seen = synth_pir.body_signal(SCENE, _crossing(5.0, 1, bearing=-math.pi / 2))
    assert not np.any(behind) and seen is None
    near, _, _ = synth_pir.body_signal(SCENE, _crossing(12.0, 1))
    assert np.abs(near).max() > synth_pir.DETECTABLE_FACTOR * synth_pir.NOISE_RMS


def test_small_warm_things_darting_past_the_pir_give_short_sharp_swings() -> None:
    rng = np.random.default_rng(3)
    out, drawn = synth_pir.glimpses(rng, SCENE, per_hour=120.0)
    assert len(drawn) >= 2
    for g in drawn:
        i = round(g["t"] * SCENE.pir_rate)
        local = out[max(i - 150, 0) : i + 150]  # +-3 s
        peak = np.abs(local).max()
        # As strong as drawn (a neighbour may add to it) and over within about a second.
        assert peak >= 0.9 * g["peak_v"]
        loud = np.flatnonzero(np.abs(local) > 0.2 * peak)
        assert (loud[-1] - loud[0]) / SCENE.pir_rate < 1.5
    assert np.abs(out).max() < 2 * synth_pir.GLIMPSE_V[1]


def test_magnetic_anomaly_falls_as_inverse_cube() -> None:
    for r in (5.0, 10.0, 40.0):
        north = np.array([r, 2 * r])
        b = synth_mag.dipole_field((0.0, 0.0, 200.0), north, np.zeros(2), np.zeros(2))
        ratio = np.linalg.norm(b[0]) / np.linalg.norm(b[1])
        assert ratio == pytest.approx(8.0, rel=1e-9)
    # A 200 A.m^2 car 1.5 m away: a few microtesla.
    b = synth_mag.dipole_field((0.0, 0.0, 200.0), np.array([1.5]), np.zeros(1), np.zeros(1))
    assert 2_000 < np.linalg.norm(b) < 20_000


def test_vehicles_are_magnetic_people_barely_animals_not() -> None:
    car = vehicle(np.random.default_rng(5), SCENE, 60.0, 10.0, "car")
    walker = person(np.random.default_rng(5), SCENE, 60.0, 10.0)
    dog = quadruped(np.random.default_rng(5), SCENE, 60.0, 5.0, "dog")
    peak = {
        name: float(np.linalg.norm(synth_mag.body_signal(SCENE, ev.bodies[0])[0], axis=1).max())
        for name, ev in (("car", car), ("walker", walker), ("dog", dog))
    }
    assert peak["car"] > 5.0  # nT at 10 m
    assert peak["walker"] < 1.0
    assert peak["dog"] == 0.0
    far = vehicle(np.random.default_rng(5), SCENE, 60.0, 20.0, "car")
    far_peak = float(np.linalg.norm(synth_mag.body_signal(SCENE, far.bodies[0])[0], axis=1).max())
    assert peak["car"] / far_peak == pytest.approx(8.0, rel=0.25)


def test_quadrupeds_step_four_times_per_stride_irregularly() -> None:
    ev = quadruped(np.random.default_rng(2), SCENE, 60.0, 4.0, "deer")
    x = np.abs(ev.seismic[:, 0])
    # Count footfalls: peaks of the envelope separated by at least 80 ms.
    env = np.convolve(x, np.ones(10) / 10, mode="same")
    thresh = 0.2 * env.max()
    above = np.flatnonzero((env[1:-1] > thresh) & (env[1:-1] >= env[:-2]) & (env[1:-1] >= env[2:]))
    hits = [above[0]]
    for i in above[1:]:
        if i - hits[-1] > 0.08 * RATE:
            hits.append(i)
    duration = ev.info["present"][1] - ev.info["present"][0]
    rate = len(hits) / duration
    assert rate > 2.0 * ev.info["stride_hz"]  # several feet per stride, not two
    intervals = np.diff(hits) / RATE
    assert np.std(intervals) / np.mean(intervals) > 0.3  # uneven, unlike a walker


def test_truth_in_a_long_patrol_matches_the_sensors() -> None:
    rec = generate("patrol", 1800.0, seed=8)
    assert len(rec.truth) >= 1800 / 45  # at least one event every 45 s
    for ev in rec.truth:
        spans = ev.extra["spans"]
        if "pir" in spans and ev.label != "vehicle":
            assert ev.range_m <= 16.0, ev
        if "magnetometer" in spans and ev.label == "vehicle":
            assert ev.range_m <= 60.0, ev
        if ev.label == "unknown":
            assert "magnetometer" not in spans
        if ev.extra["detectable"]:
            assert spans and ev.t0 == min(s[0] for s in spans.values())
    near_people = [ev for ev in rec.truth if ev.label == "footstep" and ev.range_m <= 15]
    assert near_people and all(ev.extra["detectable"] for ev in near_people)
    near_vehicles = [ev for ev in rec.truth if ev.label == "vehicle" and ev.range_m <= 100]
    assert near_vehicles and all(ev.extra["detectable"] for ev in near_vehicles)
