"""The matching rule of the evaluation (docs/evaluation.md)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from drivers.recordings.waveforms import TruthEvent
from hil.scoring import Counts, misses, score


@dataclass
class Det:
    cls: str
    t0: float
    t1: float
    conf: float = 0.9


def ev(label: str, t0: float, t1: float, range_m: float = 5.0, detectable: bool = True):
    return TruthEvent(label, label, t0, t1, (t0 + t1) / 2, range_m, {"detectable": detectable})


def two_walkers_a_vehicle_and_an_animal() -> list[TruthEvent]:
    return [
        ev("footstep", 10, 30),
        ev("vehicle", 50, 90, range_m=80.0),
        ev("footstep", 120, 140, range_m=12.0),
        ev("unknown", 200, 220),
    ]


def test_hits_misses_wrong_class_and_false_alarms():
    truth = two_walkers_a_vehicle_and_an_animal()
    dets = [
        Det("footstep", 12, 29),
        Det("vehicle", 55, 60),
        Det("vehicle", 61, 89),  # second detection of the same vehicle: a duplicate
        Det("vehicle", 118, 125),  # wrong class on the second walker
        Det("unknown", 205, 210),  # animal reported as unknown: fine
        Det("footstep", 300, 310),  # nothing there: false alarm
    ]
    s = score(truth, dets, 3600.0).summary()
    pc = s["per_class"]
    assert pc["footstep"]["pd"] == 0.5 and pc["footstep"]["n_truth"] == 2
    assert pc["vehicle"]["pd"] == 1.0
    assert pc["footstep"]["precision"] == 0.5  # one of two footstep reports was right
    assert pc["vehicle"]["precision"] == pytest.approx(2 / 3, abs=1e-4)
    assert pc["unknown"]["handled"] == 1.0
    assert s["false_alarms"] == 1 and s["false_alarms_per_hour"] == 1.0
    assert s["duplicates"] == 1
    assert s["confusion"]["footstep"] == {"footstep": 1, "vehicle": 1}
    assert s["confusion"]["none"] == {"footstep": 1}


def test_tolerance_and_undetectable_events():
    truth = [ev("footstep", 10, 20), ev("footstep", 40, 46, detectable=False)]
    near = [Det("footstep", 21.5, 25.0), Det("footstep", 41, 43)]
    s = score(truth, near, 600.0, tolerance_s=2.0).summary()
    # 21.5 is within 2 s of the first event; the undetectable one is neither a miss nor a
    # false alarm, but still counted in pd_all.
    assert s["per_class"]["footstep"]["pd"] == 1.0
    assert s["per_class"]["footstep"]["pd_all"] == 1.0
    assert s["false_alarms"] == 0
    far = score(truth, [Det("footstep", 23.0, 25.0)], 600.0, tolerance_s=2.0).summary()
    assert far["per_class"]["footstep"]["pd"] == 0.0 and far["false_alarms"] == 1


def test_animal_reported_as_footstep_is_wrong_and_counts_add_up():
    truth = [ev("unknown", 0, 10)]
    a = score(truth, [Det("footstep", 1, 9)], 1800.0)
    b = score([], [], 1800.0, noise_only=True)
    b.add(score([], [Det("vehicle", 5, 6)], 1800.0, noise_only=True))
    total = Counts()
    total.add(a)
    total.add(b)
    s = total.summary()
    assert s["per_class"]["unknown"]["handled"] == 0.0
    assert s["per_class"]["footstep"]["precision"] == 0.0
    assert s["noise_only_hours"] == 1.0 and s["noise_only_false_alarms_per_hour"] == 1.0
    assert s["duration_s"] == 5400.0


def test_pd_by_range_bins():
    truth = [ev("footstep", 0, 10, 3.0), ev("footstep", 20, 30, 14.0), ev("vehicle", 50, 60, 120.0)]
    s = score(truth, [Det("footstep", 1, 2)], 600.0).summary()
    rows = {tuple(r["range_m"]): r for r in s["pd_by_range"]["footstep"]}
    assert rows[(0.0, 5.0)] == {"range_m": [0.0, 5.0], "n": 1, "pd": 1.0}
    assert rows[(10.0, 15.0)]["pd"] == 0.0
    vrows = {tuple(r["range_m"]): r for r in s["pd_by_range"]["vehicle"]}
    assert vrows[(100.0, 150.0)]["n"] == 1


def test_misses_are_the_events_not_reported_with_their_class():
    # The animal left unreported is right, not a miss.
    truth = [
        *two_walkers_a_vehicle_and_an_animal(),
        ev("vehicle", 400, 420),
        ev("footstep", 500, 510, detectable=False),  # too weak to be seen: not a miss
    ]
    dets = [
        Det("footstep", 12, 29),
        Det("vehicle", 55, 89),
        Det("unknown", 119, 122),
        Det("vehicle", 121, 126),  # overlaps the walker most: its confusion row
        Det("footstep", 300, 310),
    ]
    found = misses(truth, dets)
    assert [(m.event.t0, m.outcome) for m in found] == [(120, "vehicle"), (400, "missed")]
    assert [d.cls for d in found[0].reports] == ["unknown", "vehicle"]
    assert found[1].reports == ()
    # They are what the scores count as not detected, by the same rule.
    s = score(truth, dets, 3600.0).summary()
    for cls in ("footstep", "vehicle"):
        pc = s["per_class"][cls]
        assert sum(m.event.label == cls for m in found) == pc["n_truth"] - pc["n_detected"]
