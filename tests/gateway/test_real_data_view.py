"""The per-file ("per clip") view of gateway.bench.real_data, on made-up files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from drivers.recordings import Channel, Recording, TruthEvent, read_recording
from dsp.priming import SHORTEST_CLIP_S
from gateway.bench.real.common import write_clip, write_manifest
from gateway.bench.real_data import FileTally, Tally, main, per_file_lines
from hil.analysis import OFFLINE_PRIME_S, as_analysed, run_detector
from hil.clips import beside_quiet_magnetometer, cut, slower_seismic
from hil.scenarios import generate


@dataclass
class Det:
    cls: str
    t0: float
    t1: float
    conf: float = 0.9
    sensors: tuple[str, ...] = ("geo1",)


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
    assert "missed_files" not in s["footstep"] and "alarmed_files" not in s["noise_only"]


def test_the_files_behind_the_per_file_figures_are_named() -> None:
    t = FileTally()
    t.add(clip(("footstep", True)), [Det("footstep", 50.0, 52.0)], "found.npz")
    t.add(clip(("footstep", True)), [Det("vehicle", 12.0, 14.0, 0.64)], "as-vehicle.npz")
    t.add(clip(("footstep", True)), [], "silent.npz")
    t.add(clip(noise_only=True), [Det("unknown", 1.0, 2.5, 0.8)], "alarmed.npz")
    t.add(clip(noise_only=True), [], "quiet.npz")
    s = t.summary(files=True)
    assert s["footstep"]["missed_files"] == [
        {
            "name": "as-vehicle.npz",
            "reported": [
                {"class": "vehicle", "conf": 0.64, "t0": 12.0, "t1": 14.0, "sensors": ["geo1"]}
            ],
        },
        {"name": "silent.npz", "reported": []},
    ]
    assert [f["name"] for f in s["noise_only"]["alarmed_files"]] == ["alarmed.npz"]
    lines = per_file_lines(s)
    assert lines[1:3] == [
        "  missed: as-vehicle.npz (vehicle 0.64 at 12.0-14.0 s)",
        "  missed: silent.npz (nothing reported)",
    ]
    assert lines[-1] == "  alarmed: alarmed.npz (unknown 0.80 at 1.0-2.5 s)"


def test_the_tally_reports_both_views() -> None:
    tally = Tally()
    tally.add(clip(("vehicle", True)), [Det("vehicle", 40.0, 45.0)])
    s = tally.summary()
    assert s["vehicle"]["recall"] == 0.0  # per event: 20 s after the span, beyond tolerance
    assert s["per_file"]["vehicle"]["recall"] == 1.0  # per file: it is in the file


def test_a_clip_too_short_to_analyse_is_scored_as_analyze_runs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # analyze reports nothing of a clip under SHORTEST_CLIP_S; a bench that ran the detector
    # over it anyway would score what no user of the unit ever gets.
    rec = generate("indoor", 120.0, seed=5).only(["seismic"])
    step = next(ev for ev in rec.truth if ev.label == "footstep" and 0 <= ev.range_m < 5)
    folder = tmp_path / "footstep" / "short-test"
    folder.mkdir(parents=True)
    files = []
    for name, length in (("long.npz", 12.0), ("short.npz", SHORTEST_CLIP_S - 0.5)):
        write_clip(folder, name, cut(rec, max(0.0, step.t0 - 0.3), step.t0 - 0.3 + length))
        files.append({"file": name, "split": "heldout"})
    write_manifest(folder, {"dataset": "t", "repo": "o/r", "commit": "c", "files": files})
    assert as_analysed(read_recording(folder / "short.npz")) is None
    assert main([str(tmp_path), "--json"]) == 0
    per_file = json.loads(capsys.readouterr().out)["sets"]["short-test"]["per_file"]
    assert per_file["footstep"]["files"] == 2
    assert per_file["footstep"]["found"] == 1
    assert per_file["footstep"]["missed_with"] == {"nothing": 1}
    assert "missed_files" not in per_file["footstep"]
    # Which file that was, when asked.
    assert main([str(tmp_path), "--files"]) == 0
    assert "    missed: short.npz (nothing reported)" in capsys.readouterr().out.splitlines()


def test_a_geophone_is_read_as_a_slower_logger_would_read_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A 100-Hz seismograph beside the same walker: what it passes (10 Hz) it keeps, what
    # lies above its Nyquist (330 Hz) its converter's filter took out; other kinds as they
    # were, and a lost stretch still lost.
    rate = 1000.0
    t = np.arange(int(20 * rate)) / rate
    valid = np.ones(t.size, dtype=bool)
    valid[5000:6000] = False
    geo = Channel(
        "geo1",
        "seismic",
        rate,
        np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 330 * t),
        1.0,
        valid=valid,
    )
    pir = Channel("pir1", "pir", 50.0, np.zeros(1000), 1.0)
    slow = slower_seismic(Recording({"geo1": geo, "pir1": pir}, [], 0.0, {}), 100.0)
    g = slow.channels["geo1"]
    assert g.rate == 100.0 and len(g) == 2000
    spectrum = np.abs(np.fft.rfft(g.data[:, 0])) / (len(g) / 2)
    freqs = np.fft.rfftfreq(len(g), 1 / 100.0)
    assert spectrum[np.argmin(np.abs(freqs - 10.0))] == pytest.approx(1.0, abs=0.05)
    assert spectrum[freqs > 15.0].max() < 0.05  # 330 Hz did not fold down to 30 Hz
    assert g.valid is not None and not g.valid[500:600].any() and g.valid[:500].all()
    assert slow.channels["pir1"] is pir
    assert main([str(tmp_path), "--seismic-rate", "0"]) == 2
    assert "--seismic-rate 0" in capsys.readouterr().err


def test_a_quiet_magnetometer_beside_a_geophone_feels_nothing_and_the_walk_is_still_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No public recording has a geophone and a magnetometer side by side: the bench adds a
    # magnetometer that nothing ferrous comes near, so the unit it scores is the pair, and
    # the pair must name a walk the lone geophone names.
    rec = generate("patrol", 300.0, seed=1).only(["seismic"])
    walk = next(e for e in rec.truth if e.label == "footstep" and e.extra.get("detectable"))
    clip = cut(rec, max(0.0, walk.t0 - 3.0), walk.t1 + 3.0)
    beside = beside_quiet_magnetometer(clip, "walk")
    mag = beside.channels["mag1"]
    assert mag.kind == "magnetometer" and mag.rate == 10.0 and mag.data.shape[1] == 3
    assert len(mag) / mag.rate >= clip.duration
    assert np.array_equal(mag.data, beside_quiet_magnetometer(clip, "walk").channels["mag1"].data)
    assert beside_quiet_magnetometer(beside, "walk") is beside  # it has one already
    assert beside.channels["geo1"] is clip.channels["geo1"]

    folder = tmp_path / "footstep" / "walk-test"
    folder.mkdir(parents=True)
    write_clip(folder, "walk.npz", clip)
    files = [{"file": "walk.npz", "split": "heldout"}]
    write_manifest(folder, {"dataset": "t", "repo": "o/r", "commit": "c", "files": files})
    assert main([str(tmp_path), "--json", "--quiet-magnetometer"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quiet_magnetometer"] is True
    assert report["sets"]["walk-test"]["per_file"]["footstep"]["found"] == 1
    analysed = as_analysed(beside)
    assert analysed is not None
    detections = run_detector(analysed, prime_s=OFFLINE_PRIME_S).detections
    assert detections and all("mag1" not in d.sensors for d in detections)
