"""The robustness bench compares a sensor set with its members on the same events.

A set faces every event any of its kinds could perceive; a member's own row counts only
those it could. Comparing the two rows would charge the set for the events only its other
kind perceives, so the bench also scores each member's detections against the set's truth.
"""

from __future__ import annotations

from dataclasses import replace

from dsp.classifier import load_model
from dsp.config import DspConfig
from gateway.bench.robustness import SENSOR_SETS, SetCounts, tally_sets
from hil.scenarios import generate


def test_a_pair_is_compared_with_each_member_on_the_pairs_own_events() -> None:
    # Roadside seed 1: six cars beside the unit, each within the magnetometer's reach. Say
    # one of them passed where only the PIR and the geophone could perceive it.
    rec = generate("roadside", 300.0, seed=1)
    cars = [i for i, ev in enumerate(rec.truth) if ev.label == "vehicle"]
    hidden = cars[0]
    ev = rec.truth[hidden]
    truth = list(rec.truth)
    truth[hidden] = replace(ev, extra={**ev.extra, "sensors": ["pir", "seismic"]})
    rec = replace(rec, truth=truth)

    out: dict[tuple[str, ...], SetCounts] = {}
    tally_sets(rec, False, DspConfig(), load_model(None, "ground"), out)

    assert set(out) == set(SENSOR_SETS)
    mag_alone = out[("magnetometer",)]
    pair = out[("pir", "magnetometer")]
    assert mag_alone.events.truth["vehicle"] == len(cars) - 1
    assert pair.events.truth["vehicle"] == len(cars)
    # The magnetometer, scored on the pair's events, faces the car it could not perceive.
    assert pair.members["magnetometer"].truth["vehicle"] == len(cars)
    assert set(pair.members) == {"pir", "magnetometer"}
    assert not mag_alone.members
