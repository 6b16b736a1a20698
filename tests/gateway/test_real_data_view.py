"""The per-file ("per clip") view of gateway.bench.real_data, on made-up files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real_data import FileTally, Tally, per_file_lines


@dataclass
class Det:
    cls: str
    t0: float
    t1: float
    conf: float = 0.9


def clip(*labels: tuple[str, bool], noise_only: bool = False) -> Recording:
    ch = Channel("geo1", "seismic", 100.0, np.zeros(6000), 1.0)
    truth = [
        TruthEvent(label, "x", 10.0, 20.0, 15.0, -1.0, {"detectable": detectable})
        for label, detectable in labels
    ]
    return Recording({"geo1": ch}, truth, 0.0, {"noise_only": noise_only})


def test_files_are_found_right_or_alarmed_as_a_whole() -> None:
    t = FileTally()
    # found although the detection lies far outside the (signal-derived) span
    t.add(clip(("footstep", True)), [Det("footstep", 50.0, 52.0)])
    # missed: only a vehicle was reported in it
    t.add(clip(("footstep", True)), [Det("vehicle", 12.0, 14.0)])
    # missed: nothing reported
    t.add(clip(("footstep", True), ("footstep", True)), [])
    # a footstep that cannot be seen does not count for recall, but makes a report right
    t.add(clip(("footstep", False)), [Det("footstep", 1.0, 2.0)])
    # noise-only: one alarmed file (two detections), one quiet
    t.add(clip(noise_only=True), [Det("unknown", 1.0, 2.0), Det("footstep", 5.0, 6.0)])
    t.add(clip(noise_only=True), [])
    s = t.summary()
    assert s["footstep"] == {
        "files": 3,
        "found": 1,
        "recall": 0.333,
        "missed_with": {"nothing": 1, "vehicle": 1},
        "reported_in": 3,
        "right": 2,
        "precision": 0.667,
    }
    assert s["vehicle"]["files"] == 0 and s["vehicle"]["recall"] is None
    assert s["vehicle"]["precision"] == 0.0
    assert s["noise_only"] == {"files": 2, "with_detection": 1, "share": 0.5}
    lines = per_file_lines(s)
    assert lines[0] == (
        "footstep found in 1/3 files (recall 0.333), reported in 3 files, right in 2 "
        "(precision 0.667); reported in the missed files: {'nothing': 1, 'vehicle': 1}"
    )
    assert lines[1] == "vehicle reported in 1 files, right in 0 (precision 0.0)"
    assert lines[-1] == "noise-only files with a detection: 1/2 (0.5)"


def test_the_tally_reports_both_views() -> None:
    tally = Tally()
    tally.add(clip(("vehicle", True)), [Det("vehicle", 40.0, 45.0)])
    s = tally.summary()
    assert s["vehicle"]["recall"] == 0.0  # per event: 20 s after the span, beyond tolerance
    assert s["per_file"]["vehicle"]["recall"] == 1.0  # per file: it is in the file
