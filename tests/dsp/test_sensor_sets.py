"""Any sensor alone, any subset, and a sensor that dies on the way: each kind reports what it
can perceive, with the packaged model's booster for the sensors that are live."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.classifier import load_model
from dsp.config import DspConfig
from dsp.detector import StreamingDetector
from dsp.records import SensorSpec
from hil.analysis import run_detector
from hil.scenarios import generate


@pytest.fixture(scope="module")
def demo():
    # Seed 1: walkers at 3.6 and 6.0 m (geophone and PIR), then three cars at 22-34 m, the
    # last two close enough for the magnetometer.
    rec = generate("demo", 240.0, seed=1)
    assert [ev.label for ev in rec.truth] == ["footstep"] * 2 + ["vehicle"] * 3
    return rec


def _found(rec, kinds):
    part = rec.only(kinds)
    return part, run_detector(part).detections


def _hits(truth, detections, label):
    return [
        ev
        for ev in truth
        if ev.label == label
        and ev.extra.get("detectable")
        and any(d.cls == label and d.t0 - 2 < ev.t1 and d.t1 + 2 > ev.t0 for d in detections)
    ]


def test_a_magnetometer_alone_reports_the_cars_it_perceives(demo):
    part, found = _found(demo, ["magnetometer"])
    seen = [ev for ev in part.truth if ev.extra.get("detectable")]
    assert [ev.label for ev in seen] == ["vehicle", "vehicle"]
    assert _hits(part.truth, found, "vehicle") == seen
    assert all(d.sensors == ("mag1",) for d in found)


def test_a_pir_alone_reports_the_walkers_as_people(demo):
    part, found = _found(demo, ["pir"])
    seen = [ev for ev in part.truth if ev.extra.get("detectable")]
    assert len(seen) == 2 and all(ev.label == "footstep" for ev in seen)
    assert _hits(part.truth, found, "footstep") == seen


def test_with_two_kinds_the_answer_is_at_least_as_good_as_either_alone(demo):
    both, found = _found(demo, ["pir", "magnetometer"])
    for label in ("footstep", "vehicle"):
        alone = max(
            len(_hits(p.truth, f, label))
            for p, f in (_found(demo, ["pir"]), _found(demo, ["magnetometer"]))
        )
        assert len(_hits(both.truth, found, label)) >= alone


def test_a_unit_whose_geophone_dies_goes_on_with_the_others(demo):
    # The geophone's cable is cut after the walkers: it delivers nothing more. After
    # stale_s the others no longer wait for it, and the cars the magnetometer sees are
    # classified by the booster for the PIR and the magnetometer.
    specs = [
        SensorSpec(ch.name, ch.kind, ch.rate, ch.data.shape[1]) for ch in demo.channels.values()
    ]
    det = StreamingDetector(DspConfig(), specs)
    found = []
    cut = 100.0
    for t in np.arange(0.0, demo.duration, 0.5):
        for ch in demo.channels.values():
            if ch.kind == "seismic" and t >= cut:
                continue
            a, b = round(t * ch.rate), round((t + 0.5) * ch.rate)
            found += det.feed(ch.name, t, ch.data[a:b])
    found += det.flush()
    late = [d for d in found if d.t0 > cut + 20.0]
    assert [d.cls for d in late] == ["vehicle", "vehicle"]
    assert all("geo1" not in d.sensors for d in late)
    assert det.status()["waiting_on"] == ["pir1", "mag1"]


def test_every_booster_of_the_packaged_model_was_trained_on_both_kinds_of_example():
    model = load_model()
    for kinds, booster in model.boosters.items():
        examples = booster.info["examples"]
        assert examples["noise"] > 0 and sum(examples.values()) > 100, kinds
