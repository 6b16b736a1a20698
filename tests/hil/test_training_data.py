"""Labelling of training examples from ground truth."""

from __future__ import annotations

from drivers.recordings.waveforms import TruthEvent
from dsp.detector import Candidate
from hil.training_data import label, labels


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


def _piece(t0: float, t1: float, cont: float) -> Candidate:
    return Candidate(t0, t1, ("geo1",), {"seis_cont": cont}, (0.25, 0.25, 0.25, 0.25))


def test_a_piece_that_only_goes_on_with_a_reported_source_is_noise():
    # A truck passes for a minute; the geophone's event is cut at valleys as it goes. The
    # first piece is the truck; the pieces after it only repeat it: one report per event.
    # A walker that comes along in a later piece is what that piece adds.
    truth = [_ev("vehicle", "wheeled", 10, 70, 40.0), _ev("footstep", "walker", 72, 100)]
    pieces = [_piece(10, 40, 0.0), _piece(40, 55, 2.0), _piece(55, 71, 1.0), _piece(71, 98, 1.0)]
    assert labels(pieces, truth) == [2, 0, 0, 1]
    # Without the cuts (a new event each time), the same spans are all labelled by class:
    # nothing in them tells the model that they repeat a report.
    fresh = [_piece(c.t0, c.t1, 0.0) for c in pieces]
    assert labels(fresh, truth) == [2, 2, 2, 1]
    # A piece that holds a good part of a new event besides more of an old one reports it.
    truth = [_ev("vehicle", "wheeled", 10, 60, 40.0), _ev("footstep", "walker", 52, 62)]
    assert labels([_piece(10, 40, 0.0), _piece(40, 63, 2.0)], truth) == [2, 1]
