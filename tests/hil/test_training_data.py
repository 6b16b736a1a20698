"""Labelling of training examples from ground truth."""

from __future__ import annotations

from dsp.detector import Candidate
from hil.recording import TruthEvent
from hil.training_data import label


def _cand(t0: float, t1: float) -> Candidate:
    return Candidate(t0, t1, ("geo1",), {}, (0.25, 0.25, 0.25, 0.25))


def _ev(label_: str, source: str, t0: float, t1: float, range_m: float = 10.0) -> TruthEvent:
    return TruthEvent(label_, source, t0, t1, (t0 + t1) / 2, range_m, {})


def test_label_is_the_most_overlapping_event_or_noise():
    truth = [_ev("footstep", "walker", 10, 20), _ev("vehicle", "tracked", 18, 60, 120.0)]
    assert label(_cand(11, 19), truth) == 1  # footstep
    assert label(_cand(25, 50), truth) == 2  # vehicle
    assert label(_cand(70, 80), truth) == 0  # nothing there: noise
    assert label(_cand(60.5, 65), truth) == 2  # within the 1 s tolerance


def test_wheeled_vehicles_beyond_the_design_range_are_background():
    truth = [_ev("vehicle", "wheeled", 10, 40, 280.0), _ev("vehicle", "tracked", 50, 90, 280.0)]
    assert label(_cand(12, 38), truth) == 0
    assert label(_cand(52, 88), truth) == 2
