"""The walk test fed from simulated recordings: what it records, what it says about each
pass, and what calibrate says about every kind of walk test it cannot use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from drivers.recordings import read_recording
from gateway.errors import InputError
from gateway.walktest.files import MANIFEST, TRUTH, read_walktest
from gateway.walktest.summary import summary_lines
from hil.scenarios import generate
from hil.scoring import score
from hil.site_examples import site_examples
from tests.gateway.walktest_rig import config, run_walktest

DURATION_S = 110.0
SEED = 5


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    rec = generate("walktest", DURATION_S, SEED)
    directory = tmp_path_factory.mktemp("walk") / "wt"
    _, result = run_walktest(rec, directory)
    return directory, result


def copy_of(walked: tuple[Path, object], tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(walked[0], target)
    return target


def test_a_walk_test_records_everything_and_scores_each_pass(walked: tuple[Path, object]) -> None:
    directory, result = walked
    names = {p.name for p in directory.iterdir()}
    assert {MANIFEST, TRUTH} <= names and any(n.endswith(".mseed") for n in names)
    passes = result.passes  # type: ignore[attr-defined]
    assert passes and all(r.outcome == "detected" for r in passes), passes
    text = "\n".join(summary_lines(passes, result.stray, result.incidents))  # type: ignore[attr-defined]
    assert "detected" in text and "Farthest people detected" in text
    assert f"Detected {len(passes)} of {len(passes)} passes." in text
    # The recording and its truth are what eval reads: the passes score as detected.
    walk = read_walktest(directory)
    rec = read_recording(sorted(directory.glob("*.mseed")))
    assert walk.recording.start_time == pytest.approx(rec.start_time)
    manifest = json.loads((directory / MANIFEST).read_text())
    assert manifest["format"] == "ugs-walktest" and manifest["model"]["hash"]
    assert [m["kind"] for m in manifest["marks"]][:2] == ["walk", "nothing"]
    detections = manifest["detections"]
    from dsp.records import Detection

    dets = [
        Detection(d["class"], d["conf"], d["t0"] - rec.start_time, d["t1"] - rec.start_time,
                  tuple(d["sensors"]), {})
        for d in detections
    ]  # fmt: skip
    counts = score(walk.recording.truth, dets, rec.duration).summary()
    assert counts["per_class"]["footstep"]["pd"] == 1.0


def test_a_sensor_that_dies_is_named_and_teaches_nothing_after(tmp_path: Path) -> None:
    rec = generate("walktest", DURATION_S, SEED)
    _, result = run_walktest(rec, tmp_path / "wt", stop={"pir1": 40.0})
    assert any(line.startswith("pir1 delivered nothing from") for line in result.incidents)
    walk = read_walktest(tmp_path / "wt")
    assert any("pir1 delivered nothing" in w for w in walk.warnings)
    examples = site_examples([walk.recording], config().dsp, clips_per_pass=0)
    dead = examples.dead.get("pir")
    assert dead and dead[0][1] == pytest.approx(40.0, abs=1.0)


def test_a_missed_pass_says_what_the_model_made_of_it(tmp_path: Path) -> None:
    # A unit set to report only what the model is certain of misses every pass; the
    # summary says, per pass, what the model found it most like and how near it came.
    rec = generate("walktest", DURATION_S, SEED)
    strict = "\n[dsp.classifier]\nmin_conf = 1.0\n"
    _, result = run_walktest(rec, tmp_path / "wt", extra_config=strict)
    assert result.passes and all(r.outcome == "missed" for r in result.passes)
    lines = summary_lines(result.passes, result.stray, result.incidents)
    judged = [line for line in lines if " missed: most like " in line]
    assert len(judged) == len(result.passes)
    assert all("sure it is real, under min_conf 1" in line for line in judged)
    assert all(len(line) <= 80 for line in lines)
    assert any(line.startswith(" 1  missed: most like footstep, ") for line in judged)
    walk = json.loads((tmp_path / "wt" / MANIFEST).read_text())
    passes = [p for p in walk["passes"] if p["outcome"] == "missed"]
    assert passes and all(p["judged"]["why_not_reported"] for p in passes)


def test_a_mark_nothing_was_seen_in_says_so(tmp_path: Path) -> None:
    rec = generate("walktest", DURATION_S, SEED)
    # A pass marked in the quiet lead-in: no sensor rises above its noise.
    _, result = run_walktest(
        rec,
        tmp_path / "wt",
        marks=False,
        extra_marks=[(8.0, "walk", 30.0), (16.0, "nothing", None)],
    )
    assert [r.outcome for r in result.passes] == ["no signal"]
    examples = site_examples([read_walktest(tmp_path / "wt").recording], config().dsp)
    assert not any(p.signal for p in examples.passes)


def test_a_walk_test_without_marks_is_refused(tmp_path: Path) -> None:
    rec = generate("walktest", 60.0, SEED)
    _, result = run_walktest(rec, tmp_path / "wt", marks=False)
    assert "No passes were marked" in summary_lines(result.passes, [], [])[0]
    with pytest.raises(InputError, match="no walk, run or vehicle marks"):
        read_walktest(tmp_path / "wt")


def test_a_truth_file_from_another_recording_is_refused(
    walked: tuple[Path, object], tmp_path: Path
) -> None:
    d = copy_of(walked, tmp_path)
    truth = json.loads((d / TRUTH).read_text())
    truth["start_time"] += 3600.0
    (d / TRUTH).write_text(json.dumps(truth))
    with pytest.raises(InputError, match="does not match the recording: it starts at"):
        read_walktest(d)
    truth["start_time"] -= 3600.0
    truth["events"][0].update(t0=5000.0, t1=5010.0, t_cpa=5005.0)
    (d / TRUTH).write_text(json.dumps(truth))
    with pytest.raises(InputError, match="lies outside the recording"):
        read_walktest(d)


def test_what_is_not_a_walk_test_is_named(walked: tuple[Path, object], tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a walk test \(walktest.json is missing"):
        read_walktest(tmp_path)
    d = copy_of(walked, tmp_path)
    manifest = json.loads((d / MANIFEST).read_text())
    manifest["version"] = 99
    (d / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="walk test format version 99"):
        read_walktest(d)
    manifest["version"] = 1
    (d / MANIFEST).write_text(json.dumps(manifest))
    for f in d.glob("*.mseed"):
        f.unlink()
    with pytest.raises(InputError, match="no recording"):
        read_walktest(d)
