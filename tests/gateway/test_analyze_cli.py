"""``ugs-gateway analyze``: JSON lines per detection, flagged bad input, clear refusals."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from drivers.recordings import write_recording
from drivers.recordings.waveforms import Recording
from gateway.cli import main
from hil.clips import cut, longest_quiet, stopped_sooner
from hil.scenarios import generate
from tests.drivers.test_recording_formats import sac_bytes
from tests.gateway.walktest_rig import CONFIG

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def patrol_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = generate("patrol", 240.0, seed=77)
    out = tmp_path_factory.mktemp("rec") / "patrol.npz"
    write_recording(rec, out)
    rec.write_truth(f"{out}.truth.json")
    return out


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_detections_as_json_lines(patrol_npz: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(patrol_npz)]) == 0
    lines = _lines(capsys.readouterr().out)
    dets = [obj for obj in lines if "class" in obj]
    assert dets, "a patrol recording holds detections"
    for obj in dets:
        assert obj["class"] in ("footstep", "vehicle", "unknown")
        assert 0 < obj["conf"] <= 1
        assert obj["t0"].endswith("Z") and obj["t1"].endswith("Z")  # the NPZ has its start
        assert obj["file"] == str(patrol_npz)
        assert 0 <= obj["start_s"] <= obj["end_s"] <= 240.5
        assert obj["sensors"] and isinstance(obj["features"], dict)


def test_bad_samples_are_flagged_stretches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = generate("patrol", 120.0, seed=78)
    geo = rec.channels["geo1"]
    geo.valid = np.ones(len(geo), dtype=bool)
    geo.valid[10_000:10_500] = False  # a dropout
    geo.data[20_000:21_000, 0] = geo.data[20_000, 0]
    rec.channels = {"geo1": geo}
    rec.start_time = 0.0  # no clock: times come out in seconds
    path = tmp_path / "geo.npz"
    write_recording(rec, path)
    assert main(["analyze", str(path)]) == 0
    lines = _lines(capsys.readouterr().out)
    flags = {(obj["flag"], obj["start_s"]) for obj in lines if "flag" in obj}
    assert ("gap", 20.0) in flags
    assert ("flatline", 40.0) in flags
    for obj in lines:
        assert isinstance(obj["t0"], float)


def test_triggered_clips_given_together_are_analysed_each_on_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Clips a recorder kept of one geophone over three days, and one of them cut too short.
    # Read as one recording they would be padded to three days each, gigabytes of nothing.
    rec = generate("patrol", 60.0, seed=77).only(["seismic"])
    clips = []
    for i, lag in enumerate((0.0, 86400.0, 3 * 86400.0)):
        clip = replace(rec, start_time=rec.start_time + lag)
        clips.append(write_recording(clip, tmp_path / f"clip{i}.wav"))
    short = rec.channels["geo1"]
    trimmed = replace(rec, start_time=rec.start_time + 7200.0)
    trimmed.channels = {"geo1": replace(short, data=short.data[: int(0.8 * short.rate)])}
    clips.append(write_recording(trimmed, tmp_path / "cut.wav"))
    assert main(["analyze", "--no-flags", *(str(c) for c in clips)]) == 0
    out = capsys.readouterr()
    found = {Path(d["file"]).name for d in _lines(out.out)}
    assert found == {"clip0.wav", "clip1.wav", "clip2.wav"}
    one = [d for d in _lines(out.out) if d["file"].endswith("clip0.wav")]
    alone = _lines_of(["analyze", "--no-flags", str(clips[0])], capsys)
    assert [(d["class"], d["start_s"]) for d in one] == [(d["class"], d["start_s"]) for d in alone]
    assert "cut.wav: 0.80 s is too short to analyse" in out.err
    # The last line says what the whole run found, per class in how many clips.
    per_clip = {(d["file"], d["class"]) for d in _lines(out.out)}
    classes = sorted({cls for _, cls in per_clip})
    counts = ", ".join(f"{c} in {sum(cls == c for _, cls in per_clip)}" for c in classes)
    assert out.err.splitlines()[-1] == (
        f"ugs-gateway analyze: 4 recordings: 3 with a detection ({counts}), 0 with none, "
        "1 not analysable (said above)"
    )


def test_bare_clips_of_one_sensor_are_each_analysed_on_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A folder of one geophone's clips as bare values: nothing says when each was taken,
    # and one sensor cannot have recorded them side by side.
    rec = generate("patrol", 90.0, seed=77)
    geo = rec.channels["geo1"].data[:, 0]
    clips = []
    for i in range(3):
        clips.append(tmp_path / f"clip{i}.csv")
        np.savetxt(clips[-1], geo[i * 15_000 : (i + 1) * 15_000] * 1e9, fmt="%.3f")
    together = _lines_of(["analyze", "--no-flags", "--rate", "500", *map(str, clips)], capsys)
    alone = [
        d
        for c in clips
        for d in _lines_of(["analyze", "--no-flags", "--rate", "500", str(c)], capsys)
    ]
    assert together and together == alone
    assert all(d["sensors"] == ["geo1"] for d in together)
    # Different sensors, times from 0 (no clock): still taken as recorded together.
    room = generate("indoor", 90.0, seed=77)
    files = []
    for name in ("geo1", "pir1"):
        ch = room.channels[name]
        files.append(tmp_path / f"{name}.csv")
        t = np.arange(len(ch)) / ch.rate
        header = f"time,{ch.kind}"  # a column headed for its kind of sensor
        rows = np.column_stack([t, ch.data[:, 0]])
        np.savetxt(files[-1], rows, fmt="%.9g", delimiter=",", header=header, comments="")
    both = _lines_of(["analyze", "--no-flags", *map(str, files)], capsys)
    assert any(set(d["sensors"]) == {"geo1", "pir1"} for d in both)


def test_a_folder_of_clips_is_analysed_as_its_clips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A logger's card copied as it is: clips, a truth sidecar, a manifest, notes, a hidden
    # file and a subfolder.
    rec = generate("patrol", 60.0, seed=77).only(["seismic"])
    card = tmp_path / "card"
    card.mkdir()
    clips = [
        write_recording(replace(rec, start_time=rec.start_time + lag), card / f"c{i}.wav")
        for i, lag in enumerate((0.0, 3600.0))
    ]
    rec.write_truth(card / "c0.wav.truth.json")
    (card / "manifest.json").write_text('{"files": []}')
    (card / "README.md").write_text("site 7, node 3\n")
    (card / "._c0.wav").write_bytes(b"\x00\x05\x16\x07")  # a Mac's shadow of c0.wav
    (card / "old").mkdir()
    (card / "old" / "c9.wav").write_bytes(b"not looked at")
    by_folder = _lines_of(["analyze", "--no-flags", str(card)], capsys)
    by_files = _lines_of(["analyze", "--no-flags", *map(str, clips)], capsys)
    assert by_folder and by_folder == by_files
    assert {Path(d["file"]).name for d in by_folder} == {"c0.wav", "c1.wav"}
    # A folder with nothing to analyse in it (only the card's folder) says so, and how to
    # name what its subfolders hold.
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: a folder with no recording in it" in err
    assert f"its 1 subfolders are not read: give {tmp_path / '*'}" in err


def test_a_damaged_clip_among_many_is_named_and_the_others_analysed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = generate("patrol", 60.0, seed=77).only(["seismic"])
    good = [
        write_recording(replace(rec, start_time=rec.start_time + lag), tmp_path / f"c{i}.wav")
        for i, lag in enumerate((0.0, 3600.0))
    ]
    damaged = tmp_path / "c2.wav"
    damaged.write_bytes(good[0].read_bytes()[:30])  # a copy cut off in its header
    assert main(["analyze", "--no-flags", str(good[0]), str(damaged), str(good[1])]) == 2
    out = capsys.readouterr()
    assert {Path(d["file"]).name for d in _lines(out.out)} == {"c0.wav", "c1.wav"}
    assert f"{damaged}:" in out.err and "(skipped)" in out.err
    assert "1 of 3 files could not be read" in out.err
    # None readable: one refusal, no detection.
    assert main(["analyze", str(damaged), str(damaged)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "none of the 2 files could be read" in out.err


def _lines_of(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict]:
    assert main(argv) == 0
    return _lines(capsys.readouterr().out)


def test_bare_csv_needs_a_rate_and_then_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    geo = generate("quiet-night", 60.0, seed=80).channels["geo1"].data[:, 0]
    path = tmp_path / "geo.csv"
    path.write_text("\n".join(f"{v:.6e}" for v in geo) + "\n")
    assert main(["analyze", str(path)]) == 2
    assert "rate" in capsys.readouterr().err
    assert main(["analyze", str(path), "--rate", "500"]) == 0


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", [], "empty"),
        (b"\x00\x01\x02garbage\xff" * 100, [], "unknown format"),
        (b"0.1\n0.2\n0.3\n" * 50, [], "rate"),
        (b"0.1\nnan\n0.3\n" * 50, ["--rate", "500"], "not a finite value"),
        (b"1e300\n-2e300\n3e299\n" * 500, ["--rate", "500"], "write the file in other units"),
        (b"1e-300\n-2e-300\n3e-299\n" * 500, ["--rate", "500"], "outside the 1e-100"),
    ],
)
def test_bad_files_exit_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, args: list, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["analyze", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err.lower() and "Traceback" not in err


def test_a_slow_file_that_names_no_sensor_says_which_sensor_to_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A roadside magnetometer's export: row number, a logger's epoch milliseconds at ~10.6
    # Hz, raw counts, no header. Read as the default geophone it is far too slow; the
    # message says to name the sensor, not that the clock may be in milliseconds (it was).
    counts = 800 + np.random.default_rng(6).normal(0.0, 3.0, 400)
    stamps = 1_610_678_855_000 + np.arange(400) * 94
    path = tmp_path / "window.txt"
    rows = (f"{i},{t},{c:.0f}\n" for i, (t, c) in enumerate(zip(stamps, counts, strict=True)))
    path.write_text("".join(rows))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "10.64 Hz, too slow for the seismic detector" in err
    assert "--sensor magnetometer" in err and "time_ms" not in err
    assert main(["analyze", "--sensor", "magnetometer", str(path)]) == 0
    assert "too slow" not in capsys.readouterr().err


def test_a_sensor_too_slow_for_its_detector_is_left_out_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Relative milliseconds under a plain "time" header read as seconds: 100 Hz becomes 0.1.
    noise = np.random.default_rng(4).standard_normal(600)
    path = tmp_path / "ms.csv"
    path.write_text("time,v\n" + "".join(f"{10 * i},{v:.4f}\n" for i, v in enumerate(noise)))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert "0.1 Hz, too slow for the seismic detector" in err and "time_ms" in err
    assert "that would be 100 Hz: give --rate 100" in err
    assert main(["analyze", str(path), "--rate", "100"]) == 0  # and so it is read
    assert "give --sensor" not in err  # no kind can use 0.1 Hz
    # A logger's clock since boot without a header (row, clock, value): no column to rename.
    bare = tmp_path / "bare.csv"
    rows = (f"{i},{36447261 + 10 * i},{v:.4f}" for i, v in enumerate(noise))
    bare.write_text("\n".join(rows) + "\n")
    assert main(["analyze", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "that would be 100 Hz: give --rate 100)" in err and "time_ms" not in err
    # A roadside magnetometer's log as published (row, clock since boot, value, label): the
    # kind is assumed and the clock read as seconds; each alone would not explain it.
    mag = generate("roadside", 120.0, seed=82).channels["mag1"]
    step_ms = 1000.0 / mag.rate
    log = tmp_path / "sample1.txt"
    rows = (f"{i},{36447261 + round(i * step_ms)},{v:.0f},0" for i, v in enumerate(mag.data[:, 0]))
    log.write_text("\n".join(rows) + "\n")
    assert main(["analyze", str(log)]) == 2
    err = capsys.readouterr().err
    by_ms = f"{mag.rate:.4g}"
    assert (
        f"so seismic was assumed; if the time column is in milliseconds, that is {by_ms} Hz" in err
    )
    assert f"give --rate {by_ms} with --sensor pir or --sensor magnetometer" in err
    assert main(["analyze", str(log), "--rate", by_ms, "--sensor", "magnetometer"]) == 0
    # A 40-Hz geophone beside a working magnetometer: the geophone is left out, not guessed
    # on (white noise at 30-50 Hz used to come out as footsteps), and the rest is analysed.
    rec = generate("quiet-night", 60.0, seed=81).only(["magnetometer"])
    rec.channels["geo1"] = replace(
        rec.channels["mag1"],
        name="geo1",
        kind="seismic",
        rate=40.0,
        components=("Z",),
        data=np.random.default_rng(5).standard_normal((2400, 1)),
        valid=None,
        scale=1e-9,
    )
    both = tmp_path / "both.npz"
    write_recording(rec, both)
    assert main(["analyze", str(both)]) == 0
    out = capsys.readouterr()
    assert "geo1 is sampled at 40 Hz, too slow" in out.err
    assert not [obj for obj in _lines(out.out) if "geo1" in obj.get("sensors", [])]


def test_truncated_npz_and_missing_file(
    tmp_path: Path, patrol_npz: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.npz"
    cut.write_bytes(patrol_npz.read_bytes()[:5000])
    assert main(["analyze", str(cut)]) == 2
    assert main(["analyze", str(tmp_path / "absent.mseed")]) == 2
    err = capsys.readouterr().err
    assert "cut.npz" in err and "absent.mseed" in err and "Traceback" not in err


def test_a_second_run_starts_from_the_cache_without_compiling(tmp_path: Path) -> None:
    # How long an hour takes is a benchmark (ugs-gateway bench --only analyze); what a
    # developer must never see twice is the kernels compiling.
    rec = generate("patrol", 300.0, seed=79)
    path = tmp_path / "patrol.npz"
    write_recording(rec, path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "gateway.cli", "analyze", str(path)]
    subprocess.run(cmd, env=env, capture_output=True, check=True, timeout=300)  # warm
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "compiling" not in done.stderr
    assert [json.loads(line)["class"] for line in done.stdout.splitlines()]


def test_a_geophone_clip_does_not_wait_on_the_kernels_of_sensors_it_lacks(
    tmp_path: Path, walker_clip: tuple[np.ndarray, float]
) -> None:
    # A developer who only ever analyses geophone clips has never run the PIR's kernel: it
    # is not in the cache, and saying "compiling" on every run would be a false alarm.
    cache = tmp_path / "numba-cache"
    shutil.copytree(os.environ["NUMBA_CACHE_DIR"], cache, dirs_exist_ok=True)
    for entry in cache.glob("**/pir.pir_block-*"):
        entry.unlink()
    path, rate = _bare_csv(tmp_path, walker_clip)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(cache))
    cmd = [
        sys.executable,
        "-m",
        "gateway.cli",
        "analyze",
        str(path),
        "--rate",
        str(rate),
        "--no-flags",
    ]
    subprocess.run(cmd, env=env, capture_output=True, check=True, timeout=300)  # warm
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "compiling" not in done.stderr
    assert [json.loads(line)["class"] for line in done.stdout.splitlines()] == ["footstep"]
    assert not list(cache.glob("**/pir.pir_block-*"))  # still never compiled


@pytest.fixture(scope="module")
def walker_clip() -> tuple[np.ndarray, float]:
    """What a foreign recorder keeps: 10 s of raw 12-bit counts on a DC offset, from half a
    second before a walker at 3.6 m; and its rate."""
    rec = generate("demo", 75.0, seed=1)
    walker = rec.truth[0]
    geo = rec.channels["geo1"]
    a = round((walker.t0 - 0.5) * geo.rate)
    return np.round(2048.0 + geo.data[a : a + round(10.0 * geo.rate), 0] / 2e-8), geo.rate


def _bare_csv(folder: Path, clip: tuple[np.ndarray, float]) -> tuple[Path, float]:
    """The clip as a CSV of bare counts, one per line (no rate in the file), and its rate."""
    counts, rate = clip
    path = folder / "clip.csv"
    np.savetxt(path, counts, fmt="%d")
    return path, rate


def test_a_triggered_clip_as_bare_csv_counts_is_detected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], walker_clip: tuple[np.ndarray, float]
) -> None:
    # One value per line, no rate in the file.
    path, rate = _bare_csv(tmp_path, walker_clip)
    assert main(["analyze", str(path), "--rate", str(rate), "--no-flags"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [obj["class"] for obj in lines] == ["footstep"]
    assert lines[0]["t0"] < 2.0


def test_a_person_beside_a_listening_geophone_is_reported_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Indoors, people walk close by the PIR: it trips at a person's first swing, a step
    # before the geophone's trigger, and its event may outlast the geophone's piece. Each
    # person is one `footstep` report, not that and an `unknown` from the PIR as well.
    rec = generate("indoor", 600.0, seed=7000)
    path = write_recording(rec, tmp_path / "room.npz")
    lines = _lines_of(["analyze", "--no-flags", "--candidates", str(path)], capsys)
    people = [d for d in lines if d.get("class") == "footstep" and "geo1" in d["sensors"]]

    def over(a: dict, b: dict) -> bool:
        return a["start_s"] < b["end_s"] and b["start_s"] < a["end_s"]

    assert len(people) > 20
    again = [
        d
        for d in lines
        if d.get("class") == "unknown"
        and "geo1" not in d["sensors"]
        and any(over(d, p) for p in people)
    ]
    assert again == []
    # What was left out for that says so, and names the report that covers it.
    said = [d for d in lines if d.get("why", "").startswith("already reported: the geophone")]
    assert said and all(any(over(d, p) for p in people) for d in said)


def test_candidates_show_what_was_judged_and_not_reported_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], walker_clip: tuple[np.ndarray, float]
) -> None:
    # Looking at a miss: the walker is reported, and nothing else the model judged shows
    # until asked for; with a bar no model clears, the walker is a candidate saying why.
    path, rate = _bare_csv(tmp_path, walker_clip)
    args = ["analyze", str(path), "--rate", str(rate), "--no-flags"]
    assert main([*args, "--candidates"]) == 0
    lines = _lines(capsys.readouterr().out)
    assert [obj["class"] for obj in lines if "class" in obj] == ["footstep"]
    assert all(obj["why"] for obj in lines if "candidate" in obj)
    strict = tmp_path / "strict.toml"
    strict.write_text(CONFIG + "\n[dsp.classifier]\nmin_conf = 1.0\n")
    assert main([*args, "-c", str(strict)]) == 0
    assert _lines(capsys.readouterr().out) == []
    assert main([*args, "-c", str(strict), "--candidates"]) == 0
    (walker,) = [obj for obj in _lines(capsys.readouterr().out) if obj["proba"]["footstep"] > 0.5]
    assert walker["candidate"] == "not reported" and walker["start_s"] < 2.0
    assert "sure it is real, under min_conf 1" in walker["why"]
    assert set(walker["proba"]) == {"noise", "footstep", "vehicle", "unknown"}
    assert abs(sum(walker["proba"].values()) - 1.0) < 0.01
    assert walker["sensors"] == ["geo1"]
    # Sure enough, but heard for less than it is asked to last (the clip's end cut it short).
    strict.write_text(CONFIG + "\n[dsp.classifier]\nmin_cut_short_s = 60\n")
    assert main([*args, "-c", str(strict), "--candidates"]) == 0
    (walker,) = _lines(capsys.readouterr().out)
    assert walker["why"].endswith(" s, too short to report (min_duration_s, min_cut_short_s)")


def test_a_pc_loggers_labelled_export_is_analysed_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], walker_clip: tuple[np.ndarray, float]
) -> None:
    # A PC stamped each row in whole milliseconds as the serial line delivered it (rows
    # arrive in bursts: stamps repeat and run late), and the data set added who was there.
    counts, rate = walker_clip
    rng = np.random.default_rng(8)
    stamps = 1_795_802_400_000 + np.round(1000.0 * np.arange(counts.size) / rate)
    stamps = np.maximum.accumulate(stamps + rng.integers(0, 25, counts.size))
    label = (np.arange(counts.size) >= round(0.5 * rate)).astype(int)
    path = tmp_path / "exported.csv"
    rows = (f"{t:.0f},{c:.0f},{k}" for t, c, k in zip(stamps, counts, label, strict=True))
    path.write_text("TIME,VALUE,LABEL\n" + "\n".join(rows) + "\n")
    assert main(["analyze", str(path), "--no-flags"]) == 0
    out = capsys.readouterr()
    assert "the time column stamps when rows were logged" in out.err
    assert "column 'label' is a label, not samples: left out" in out.err
    lines = _lines(out.out)
    assert [obj["class"] for obj in lines] == ["footstep"]
    assert lines[0]["start_s"] < 2.0


def test_a_nodes_json_packets_are_analysed_without_a_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], walker_clip: tuple[np.ndarray, float]
) -> None:
    # The same clip as a node sends it over MQTT: raw counts in messages of 100 samples
    # (0.2 s at its 500 Hz), each stamped (epoch milliseconds) when it arrived, a few ms
    # late at random.
    counts, _ = walker_clip
    late = np.random.default_rng(3).uniform(0.0, 30.0, counts.size // 100)
    packets = [
        {"node": "N7", "data": counts[k : k + 100].astype(int).tolist(), "timestamp": ms}
        for k, ms in zip(
            range(0, counts.size, 100),
            1_795_802_400_000 + 200.0 * np.arange(late.size) + late,
            strict=True,
        )
    ]
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(packets))
    assert main(["analyze", str(path), "--no-flags"]) == 0
    out = capsys.readouterr()
    # The rate is an estimate from the stamps: it is said, with how to override it.
    assert re.search(r"clip\.json: (499|500|501)\.\d* Hz from the packets' 'timestamp'", out.err)
    assert "give --rate HZ" in out.err
    lines = _lines(out.out)
    assert [obj["class"] for obj in lines] == ["footstep"]
    assert lines[0]["t0"].startswith("2026-11-27T")  # timed by the packets' stamps


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (np.random.default_rng(1).standard_normal(400), "too short"),
        (np.full(5000, 2048.0), "never changes"),
    ],
)
def test_clips_it_cannot_use_get_a_message_not_a_detection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], values: np.ndarray, says: str
) -> None:
    path = tmp_path / "bad.csv"
    np.savetxt(path, values)
    assert main(["analyze", str(path), "--rate", "500"]) == 0
    out = capsys.readouterr()
    assert says in out.err
    assert not [obj for obj in _lines(out.out) if "class" in obj]


def test_a_clip_of_one_stride_and_a_moment_of_quiet_is_long_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A recorder that keeps half a second after the last step keeps a guest who crossed a
    # floor in a stride as a clip of 1-2 s: it is analysed, and a floor unit names the
    # walker. As long a clip of the room's quiet reports nothing.
    rec = generate("home", 300.0, seed=1).only(["seismic"])
    quiet = longest_quiet(rec, 10.0)
    assert quiet is not None
    walk = [ev for ev in rec.truth if ev.label == "footstep" and ev.range_m < 5.0][1]
    stride = stopped_sooner(rec, walk.t0 - 0.1, walk.t0 + 0.6, (quiet[1] - 0.5, quiet[1]))
    room = replace(cut(rec, quiet[0] + 5.0, quiet[0] + 5.0 + stride.duration), truth=[])
    assert 1.0 < stride.duration < 2.0
    for name, clip, found in (("stride.npz", stride, ["footstep"]), ("room.npz", room, [])):
        path = write_recording(clip, tmp_path / name)
        assert main(["analyze", str(path), "--no-flags", "--installation", "floor"]) == 0
        out, err = capsys.readouterr()
        assert "too short" not in err
        assert [obj["class"] for obj in _lines(out)] == found


def test_a_file_that_is_all_event_makes_up_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A vehicle's hum from the first sample to the last: nothing in it to tell it from the
    # background, so nothing is reported (rather than a guess).
    t = np.arange(5000) / 500.0
    hum = 3000.0 * np.sin(2 * np.pi * 8.0 * t) * (1.0 + 0.2 * np.sin(2 * np.pi * t / 7.0))
    path = tmp_path / "hum.csv"
    np.savetxt(path, hum + np.random.default_rng(2).standard_normal(t.size) * 50.0)
    assert main(["analyze", str(path), "--rate", "500", "--no-flags"]) == 0
    assert _lines(capsys.readouterr().out) == []


def _patrol_geophone(duration_s: float) -> tuple[Recording, np.ndarray, float]:
    """A patrol's recording (walkers in it), its geophone trace and that trace's rate."""
    rec = generate("patrol", duration_s, seed=78)
    return rec, rec.channels["geo1"].data[:, 0], rec.channels["geo1"].rate


def test_a_sac_file_from_a_seismic_node_is_analysed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The geophone of a patrol as a seismic node's SAC file: float32 ground velocity, big
    # endian, header version 7; nothing but the content says what it is.
    rec, geo, rate = _patrol_geophone(120.0)
    start = datetime.fromtimestamp(rec.start_time, UTC)
    whole = tmp_path / "NODE7.DPZ.2026.331.18"
    whole.write_bytes(sac_bytes(geo, rate=rate, order=">", version=7, component="DPZ", start=start))
    assert main(["analyze", str(whole)]) == 0
    dets = [obj for obj in _lines(capsys.readouterr().out) if "class" in obj]
    assert dets, "the walkers in the patrol are detected"
    assert {obj["class"] for obj in dets} == {"footstep"}
    walkers = [e for e in rec.truth if e.label == "footstep"]
    for obj in dets:  # each overlaps a walk
        assert any(obj["start_s"] < e.t1 and obj["end_s"] > e.t0 for e in walkers)
    assert all(obj["t0"].startswith("2026-11-27T18:0") for obj in dets)  # the SAC start time
    # The same minutes as two consecutive files are joined in time: the same detections,
    # each named after the file it starts in.
    half = geo.size // 2
    later = datetime.fromtimestamp(rec.start_time + half / rate, UTC)
    first, second = tmp_path / "m00.sac", tmp_path / "m01.sac"
    first.write_bytes(sac_bytes(geo[:half], rate=rate, component="DPZ", start=start))
    second.write_bytes(sac_bytes(geo[half:], rate=rate, component="DPZ", start=later))
    assert main(["analyze", str(first), str(second)]) == 0
    joined = [obj for obj in _lines(capsys.readouterr().out) if "class" in obj]
    assert [obj["t0"] for obj in joined] == [obj["t0"] for obj in dets]
    for obj in joined:
        in_second = obj["t0"] >= later.strftime("%Y-%m-%dT%H:%M:%S")
        assert obj["file"] == str(second if in_second else first)


def test_a_horizontal_trace_alone_is_analysed_and_said_to_be_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A node's north component handed over without its vertical: still analysed, with a
    # word that the classes are less sure on it; with the vertical beside it, no word.
    _, geo, rate = _patrol_geophone(60.0)
    north, vertical = tmp_path / "NODE7.EHN.sac", tmp_path / "NODE7.EHZ.sac"
    north.write_bytes(sac_bytes(geo, rate=rate, component="EHN"))
    vertical.write_bytes(sac_bytes(geo, rate=rate, component="EHZ"))
    assert main(["analyze", str(north)]) == 0
    out, err = capsys.readouterr()
    assert "geo1 holds horizontal components only (N)" in err
    assert "give the vertical (Z) file with it" in err
    alone = [obj["class"] for obj in _lines(out) if "class" in obj]
    assert alone, "the walkers are still reported"
    assert main(["analyze", str(north), str(vertical)]) == 0
    out, err = capsys.readouterr()
    assert "horizontal" not in err
    assert [obj["class"] for obj in _lines(out) if "class" in obj] == alone


def test_a_floor_installation_names_more_of_the_people_in_a_home(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # People at their own pace on a floor: the ground model calls some of them `unknown`.
    rec = generate("home", 180.0, seed=9402)
    path = tmp_path / "home.npz"
    write_recording(rec, path)
    called: dict[str, list[str]] = {}
    for installation in ("ground", "floor"):
        assert main(["analyze", str(path), "--no-flags", "--installation", installation]) == 0
        called[installation] = [obj["class"] for obj in _lines(capsys.readouterr().out)]
    assert called["floor"].count("footstep") > called["ground"].count("footstep")
    assert called["floor"].count("unknown") < called["ground"].count("unknown")
    assert "vehicle" not in called["floor"]


def test_a_coarse_converter_that_reads_its_quiet_floor_as_one_value_still_hears_a_walker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A triggered recorder on a 10-bit converter: 0.1 s before a walker's first steps, 2.5 s
    # of them, then 2 s of a floor too quiet to move the converter off one value. The
    # quiet part's level is nothing; the converter's step is the least it can be.
    rec = generate("demo", 75.0, seed=1)
    geo, walker = rec.channels["geo1"], rec.truth[0]
    a = round((walker.t0 - 0.1) * geo.rate)
    quiet = geo.data[a - round(3 * geo.rate) : a - round(geo.rate), 0]
    step = 8.0 * float(np.std(quiet))
    counts = np.round(
        512 + np.concatenate([geo.data[a : a + round(2.6 * geo.rate), 0], quiet]) / step
    )
    assert np.unique(counts[-quiet.size :]).size == 1  # the quiet reads as one value
    path = tmp_path / "clip.csv"
    np.savetxt(path, counts, fmt="%d")
    assert main(["analyze", str(path), "--rate", str(geo.rate), "--no-flags"]) == 0
    assert [obj["class"] for obj in _lines(capsys.readouterr().out)] == ["footstep"]


@pytest.mark.parametrize("steps", [1.0, 3.0, 8.0])
def test_a_coarse_converter_flickering_in_a_quiet_field_reports_nothing(
    steps: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    geo = generate("noise-quiet", 120.0, seed=5).channels["geo1"]
    x = geo.data[:, 0]
    path = tmp_path / "quiet.csv"
    np.savetxt(path, np.round(512 + x / (steps * float(np.std(x)))), fmt="%d")
    assert main(["analyze", str(path), "--rate", str(geo.rate), "--no-flags"]) == 0
    assert _lines(capsys.readouterr().out) == []
