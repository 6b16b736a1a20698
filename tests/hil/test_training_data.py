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


def test_a_far_louder_piece_of_a_reported_source_is_taught_as_that_source() -> None:
    # A car on a street: the first piece is its faint approach, the next, 40 dB louder, its
    # knocks at the kerb. The faint piece may go unreported; the loud one must not be
    # taught as noise. A piece only a little louder is still more of the same.
    truth = [_ev("vehicle", "wheeled", 10, 30, 3.0)]

    def piece(t0: float, t1: float, cont: float, log_snr: float) -> Candidate:
        vector = {"seis_cont": cont, "seis_log_snr": log_snr}
        return Candidate(t0, t1, ("geo1",), vector, (0.25, 0.25, 0.25, 0.25))

    approach, kerb, tail = piece(9, 14, 0.0, 2.9), piece(14, 22, 1.0, 6.8), piece(22, 30, 1.0, 3.3)
    assert labels([approach, kerb, tail], truth) == [2, 2, 0]
    assert labels([approach, piece(14, 22, 1.0, 3.5)], truth) == [2, 0]
