"""The scenario generator: deterministic, complete, and its truth consistent with its signals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from drivers.recordings.waveforms import Recording
from hil.scenarios import SCENARIOS, UnknownScenarioError, generate


@pytest.fixture(scope="module")
def patrol() -> Recording:
    return generate("patrol", 900.0, seed=11)


def test_same_seed_same_recording_other_seed_differs() -> None:
    a = generate("patrol", 120.0, seed=3)
    b = generate("patrol", 120.0, seed=3)
    c = generate("patrol", 120.0, seed=4)
    for name, ch in a.channels.items():
        assert np.array_equal(ch.data, b.channels[name].data)
    assert [ev.to_json() for ev in a.truth] == [ev.to_json() for ev in b.truth]
    assert not np.array_equal(a.channels["geo1"].data, c.channels["geo1"].data)


def test_channels_have_the_documented_shapes_units_and_rates(patrol: Recording) -> None:
    geo, pir, mag = patrol.channels["geo1"], patrol.channels["pir1"], patrol.channels["mag1"]
    assert (geo.kind, geo.rate, geo.data.shape) == ("seismic", 500.0, (450_000, 1))
    assert (pir.kind, pir.rate, pir.data.shape) == ("pir", 50.0, (45_000, 1))
    assert (mag.kind, mag.rate, mag.data.shape) == ("magnetometer", 50.0, (45_000, 3))
    assert patrol.duration == pytest.approx(900.0)
    # Earth's field dominates the magnetometer; PIR is AC-coupled; ground velocity is tiny.
    assert 30_000 < np.linalg.norm(mag.data.mean(axis=0)) < 70_000
    assert abs(float(np.mean(pir.data))) < 0.05
    assert np.max(np.abs(geo.data)) < 1e-2
    for ch in patrol.channels.values():
        assert np.all(np.isfinite(ch.data))
        counts = ch.to_counts()
        assert counts.dtype == np.int32
        assert ch.clipped_fraction() == 0.0


def test_patrol_has_an_event_every_half_minute_or_so(patrol: Recording) -> None:
    n = len(patrol.truth)
    assert 900 / 60 <= n <= 900 / 20
    labels = {ev.label for ev in patrol.truth}
    assert labels <= {"footstep", "vehicle", "unknown"}
    for ev in patrol.truth:
        assert 0.0 <= ev.t0 < ev.t1 <= patrol.duration
        if ev.extra["detectable"]:
            # The closest approach is where the signal peaks: inside the detectable span.
            assert ev.t0 <= ev.t_cpa <= ev.t1


def test_truth_spans_are_separated_unless_marked(patrol: Recording) -> None:
    for i, ev in enumerate(patrol.truth):
        for j, other in enumerate(patrol.truth):
            if i != j and ev.overlaps(other):
                assert j in ev.extra["overlaps"]


@pytest.mark.parametrize("name", ["quiet-night", "windy", "range-sweep"])
def test_events_are_apart_where_no_overlap_is_asked_for(name: str) -> None:
    truth = generate(name, 600.0, seed=12).truth
    assert len(truth) >= 5
    for a, b in itertools.pairwise(truth):
        assert b.t0 >= a.t1 + 1.0
        assert "overlaps" not in a.extra


def test_noise_only_scenarios_have_no_events() -> None:
    for name in SCENARIOS:
        if name.startswith("noise-"):
            rec = generate(name, 30.0, seed=1)
            assert rec.truth == []
            assert rec.meta["noise_only"] is True


def test_every_scenario_generates() -> None:
    for name in SCENARIOS:
        rec = generate(name, 60.0, seed=2)
        assert set(rec.channels) == {"geo1", "pir1", "mag1"}


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(UnknownScenarioError):
        generate("no-such-thing", 10.0, seed=1)
