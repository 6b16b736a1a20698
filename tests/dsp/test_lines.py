"""Steady lines in a magnetometer's background (mains folded down by a slow sampling rate)
are found and notched out, and a car under them is still seen."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dsp.config import DspConfig
from dsp.design import sos_response
from dsp.detector import StreamingDetector
from dsp.lines import find_lines, notch_sos
from dsp.records import SensorSpec

RATE = 10.64  # a roadside unit's magnetometer: 50 Hz mains folds to |50 - 5 x 10.64| = 3.2 Hz


def _field(seconds: float, *, line: float, car_at: float | None, seed: int = 1) -> np.ndarray:
    """One axis in raw counts: its offset, a little noise, the folded mains line, and a
    weak car (a 2-s bump of 14 counts)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = 160.0 + rng.standard_normal(t.size) * 2.0 + line * np.sin(2 * np.pi * 3.2 * t + 0.4)
    if car_at is not None:
        x += 14.0 * np.exp(-0.5 * ((t - car_at) / 0.7) ** 2)
    return np.round(x)


def test_a_folded_mains_line_is_found_and_nothing_else():
    assert find_lines(_field(60.0, line=12.0, car_at=None)[:, None], RATE) == pytest.approx(
        [3.2], abs=0.15
    )
    assert find_lines(_field(60.0, line=0.0, car_at=None)[:, None], RATE) == []
    # A car is slow and broad: no line.
    assert find_lines(_field(60.0, line=0.0, car_at=30.0)[:, None], RATE) == []


def test_a_notch_takes_its_line_out_and_leaves_the_rest():
    sos = notch_sos([3.2], RATE)
    gain = np.abs(sos_response(sos, [0.0, 0.5, 3.2], RATE))
    assert gain[0] == pytest.approx(1.0) and gain[1] > 0.95 and gain[2] < 1e-6


def _detections(x: np.ndarray, with_status: bool = False):
    det = StreamingDetector(DspConfig(), [SensorSpec("mag1", "magnetometer", RATE, 1)])
    found = []
    step = 2
    for a in range(0, x.size, step):
        found += det.feed("mag1", a / RATE, x[a : a + step, None])
    status = det.status()["sensors"]["mag1"]
    found += det.flush()
    return (found, status) if with_status else found


def test_a_weak_car_under_a_folded_mains_line_is_reported_and_the_line_is_not():
    # The line swings 30 counts either way, twice what the car moves the field: with the
    # line in it, the anomaly's noise buried the car (found on 2 of 12 seeds, now 12).
    found, status = _detections(_field(90.0, line=30.0, car_at=60.0, seed=2), with_status=True)
    assert status["lines_hz"] == pytest.approx([3.2], abs=0.15)  # what a technician sees
    assert [d.cls for d in found] == ["vehicle"]
    assert 57.0 < found[0].t0 < 60.0 < found[0].t1 < 63.0


def test_a_line_from_the_first_sample_rings_no_event_at_the_start():
    # The notches start as if the line had always been there: no transient to report.
    assert _detections(_field(40.0, line=30.0, car_at=None, seed=3)) == []


def test_lost_samples_under_a_line_ring_no_event():
    # The notches run on through a dropout on the last good sample, and start on an axis
    # whose first samples are lost.
    x = _field(60.0, line=30.0, car_at=None, seed=4)
    x[round(40.0 * RATE) : round(40.5 * RATE)] = np.nan
    x[:3] = np.nan
    assert _detections(x) == []


def test_the_line_note_is_said_for_one_file_and_kept_quiet_over_a_bulk_run(caplog):
    # One line per analysed file tells a technician what was notched; a calibration goes
    # through hundreds of recordings and clips, where the same line would bury its output.
    from hil.analysis import per_file_notes_quiet

    x = _field(30.0, line=30.0, car_at=None)
    with caplog.at_level(logging.INFO):
        _detections(x)
        said = [r.getMessage() for r in caplog.records if r.name == "dsp.magnetic"]
        caplog.clear()
        with per_file_notes_quiet():
            _detections(x)
        assert not [r for r in caplog.records if r.name.startswith("dsp")]
        _detections(x)
        again = [r.getMessage() for r in caplog.records if r.name == "dsp.magnetic"]
    assert len(said) == 1 and "notched out" in said[0]
    assert again == said
