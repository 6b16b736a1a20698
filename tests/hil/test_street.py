"""The street scenario: a unit at the kerb of a town street, where a pass is a short, low
burst of axle knocks rather than the higher hiss of tyres on a gravel road."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.recordings.waveforms import Recording
from hil.scenarios import generate
from hil.scenarios.specs import SPECS, STUDIED
from hil.synth.road import road_vehicle
from hil.synth.scene import Scene
from hil.synth.site import DRAWN_SETTINGS, random_site, site_ground

RATE = 250.0


def _pass_shape(setting: str, seed: int, **road: object) -> tuple[float, float]:
    """Seconds a pass 4 m away stays within 10 dB of its peak (0.1-s RMS), and the
    centroid of its loudest 2 s, Hz."""
    scene = Scene(60.0, RATE, 50.0, 50.0, site_ground(np.random.default_rng(seed), setting))
    contrib = road_vehicle(np.random.default_rng(seed), scene, 30.0, 4.0, "car", **road)  # type: ignore[arg-type]
    x = contrib.seismic[:, 0]
    w = int(0.1 * RATE)
    frames = np.sqrt(np.mean(x[: x.size // w * w].reshape(-1, w) ** 2, axis=1))
    loud = float(np.sum(frames > frames.max() / np.sqrt(10.0)) * 0.1)
    i = int(np.argmax(frames)) * w
    core = x[max(0, i - int(RATE)) : i + int(RATE)]
    spec = np.abs(np.fft.rfft(core * np.hanning(core.size))) ** 2
    f = np.fft.rfftfreq(core.size, 1.0 / RATE)
    sel = (f >= 2.0) & (f <= 100.0)
    return loud, float((f[sel] * spec[sel]).sum() / spec[sel].sum())


@pytest.fixture(scope="module")
def street() -> Recording:
    return generate("street", 1200.0, seed=41)


def test_street_is_studied_and_a_drawn_unit_still_stands_where_it_did() -> None:
    assert "street" in STUDIED and SPECS["street"].setting == "street"
    # Units drawn with no setting keep their old odds: recordings made before stay the same.
    assert "street" not in DRAWN_SETTINGS
    assert random_site(np.random.default_rng(1), "street").setting == "street"


def test_a_street_pass_is_a_short_burst_lower_than_a_country_road_pass() -> None:
    street = [_pass_shape("street", s, speed_mps=(8.0, 12.0), roughness=6.0) for s in range(8)]
    country = [_pass_shape("road", s) for s in range(8)]
    street_loud, street_hz = np.median(street, axis=0)
    country_hz = float(np.median([hz for _, hz in country]))
    # Real kerbside nodes: 0.5-1 s within 10 dB of the peak, energy at 15-35 Hz.
    assert street_loud < 2.0
    assert 12.0 < street_hz < 35.0 and street_hz < country_hz


def test_street_traffic_is_slow_and_close(street: Recording) -> None:
    kerb = street.meta["scene"]["road_m"]
    assert 2.0 <= kerb <= 12.0 and street.meta["scene"]["setting"] == "street"
    vehicles = [ev for ev in street.truth if ev.label == "vehicle"]
    people = [ev for ev in street.truth if ev.label == "footstep"]
    assert len(vehicles) >= 20 and people
    for ev in vehicles:
        assert ev.extra["mode"] == "road" and 5.0 <= ev.extra["speed_mps"] <= 14.0
        assert ev.range_m < kerb + 2.0
