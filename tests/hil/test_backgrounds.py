"""Noise-only scenarios hold what they say: wind, rain, traffic, hum, clutter and faults."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.recordings.waveforms import Recording
from hil.scenarios import generate
from hil.synth.background import rain_noise
from hil.synth.ground import Ground
from hil.synth.scene import Scene


def _share(x: np.ndarray, rate: float, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean())) ** 2
    f = np.fft.rfftfreq(x.size, 1.0 / rate)
    return float(spec[(f >= lo) & (f < hi)].sum() / spec[f > 0.5].sum())


@pytest.fixture(scope="module")
def quiet() -> Recording:
    return generate("noise-quiet", 300.0, seed=4)


def _geo(rec: Recording) -> np.ndarray:
    return rec.channels["geo1"].data[:, 0]


def test_mains_hum_is_lines_at_the_mains_frequency_and_harmonics() -> None:
    rec = generate("noise-hum", 120.0, seed=4)
    mains = rec.meta["background"]["mains_hz"]
    x = _geo(rec)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 500.0)
    for k in (1, 2, 3):
        line = spec[np.abs(f - k * mains) < 0.3].sum()
        beside = spec[(np.abs(f - k * mains) > 2) & (np.abs(f - k * mains) < 6)].mean() * 1.2 * 120
        assert line > 20 * beside, k
    assert _share(x, 500.0, mains - 1, mains + 1) > 0.5


def test_rain_is_many_tiny_high_frequency_impulses() -> None:
    rec = generate("noise-rain", 60.0, seed=4)
    assert rec.meta["background"]["rain_drops_per_s"] > 300
    scene = Scene(60.0, 500.0, 50.0, 50.0, Ground())
    rain, drops = rain_noise(np.random.default_rng(1), scene, 10.0)
    x = rain[:, 0]
    assert drops > 500  # per second, at 10 mm/h
    assert 3e-8 < np.std(x) < 1e-6  # comparable with quiet site noise, not an event
    assert _share(x, 500.0, 50.0, 250.0) > 0.7
    kurt = np.mean((x - x.mean()) ** 4) / np.var(x) ** 2
    assert kurt > 3.5  # impulsive, heavier-tailed than Gaussian noise


def test_wind_shakes_the_ground_at_low_frequency_and_clutters_the_pir(quiet: Recording) -> None:
    rec = generate("noise-wind", 300.0, seed=4)
    wind = _geo(rec)
    assert np.std(wind) > 3 * np.std(_geo(quiet))
    # Mostly below 10 Hz (the geophone itself rolls off below 4.5 Hz).
    assert _share(wind, 500.0, 0.5, 10.0) > 2 * _share(_geo(quiet), 500.0, 0.5, 10.0)
    assert rec.meta["background"]["branch_knocks"] > 0
    clutter = rec.channels["pir1"].data[:, 0]
    calm = quiet.channels["pir1"].data[:, 0]
    assert np.std(clutter) > 1.5 * np.std(calm)


def test_distant_traffic_is_a_low_frequency_rumble(quiet: Recording) -> None:
    rec = generate("noise-traffic", 300.0, seed=4)
    assert rec.meta["background"]["traffic_vehicles"] > 20
    x = _geo(rec)
    quiet_low = _share(_geo(quiet), 500.0, 2.0, 30.0) * np.var(_geo(quiet))
    assert _share(x, 500.0, 2.0, 30.0) * np.var(x) > 1.5 * quiet_low


def test_faults_are_where_the_meta_says(quiet: Recording) -> None:
    rec = generate("noise-faults", 1800.0, seed=4)
    faults = rec.meta["faults"]
    kinds = {f["kind"] for f in faults}
    assert {"clipped", "spike", "dropout"} <= kinds
    for ch in rec.channels.values():
        dropouts = [f for f in faults if f["kind"] == "dropout" and f["channel"] == ch.name]
        invalid = 0 if ch.valid is None else int(np.count_nonzero(~ch.valid))
        assert (invalid > 0) == bool(dropouts)
        for f in dropouts:
            a, b = round(f["t0"] * ch.rate), round(f["t1"] * ch.rate)
            assert ch.valid is not None and not ch.valid[a:b].any()
            assert not np.any(ch.data[a:b])
    geo = rec.channels["geo1"]
    full = np.abs(geo.to_counts()[:, 0]).max()
    assert full == 2**23 - 1  # the amplifier's clipping is the converter's full scale
    for f in (f for f in faults if f["kind"] == "flatline"):
        a, b = round(f["t0"] * 500), round(f["t1"] * 500)
        assert np.ptp(geo.data[a:b, 0]) == 0.0
    assert rec.truth == [] and quiet.truth == []
