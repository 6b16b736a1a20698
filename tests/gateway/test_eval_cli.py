"""``ugs-gateway eval`` and ``ugs-gateway train``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from drivers.recordings import write_recording
from gateway.cli import main
from hil.analysis import OFFLINE_PRIME_S, run_detector
from hil.clips import cut
from hil.scenarios import generate
from hil.scoring import score


def test_simulate_analyze_and_score_in_one_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "eval.png"
    rc = main(
        ["eval", "--scenario", "patrol", "--duration", "300", "--seed", "9101", "--plot", str(plot)]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    # The same recording and detector (primed on the whole file, as offline analysis is),
    # scored by the library: the command adds nothing and loses nothing on the way to its JSON.
    rec = generate("patrol", 300.0, 9101)
    found = run_detector(rec, prime_s=OFFLINE_PRIME_S).detections
    expected = score(rec.truth, found, rec.duration).summary()
    for cls in ("footstep", "vehicle"):
        entry, want = report["per_class"][cls], expected["per_class"][cls]
        for key in ("n_truth", "n_detected", "n_reported", "n_correct", "pd", "precision"):
            assert entry[key] == want[key], (cls, key)
        # And the figures mean what they say.
        assert entry["n_truth"] > 0 and entry["n_reported"] > 0
        assert entry["n_detected"] <= entry["n_truth"]
        assert entry["n_correct"] <= entry["n_reported"]
        assert entry["pd"] == pytest.approx(entry["n_detected"] / entry["n_truth"], abs=1e-4)
        assert entry["precision"] == pytest.approx(
            entry["n_correct"] / entry["n_reported"], abs=1e-4
        )
        assert entry["pd"] >= 0.5, "the detector finds most of a patrol's events"
    hours = 300 / 3600
    assert report["false_alarms"] == expected["false_alarms"]
    assert report["false_alarms_per_hour"] == pytest.approx(
        report["false_alarms"] / hours, abs=1e-3
    )
    assert report["confusion"] == expected["confusion"]
    assert (
        sum(report["confusion"]["footstep"].values())
        == report["per_class"]["footstep"]["n_truth_all"]
    )
    assert report["pd_by_range"]["footstep"][0]["range_m"] == [0.0, 5.0]
    assert (
        sum(b["n"] for b in report["pd_by_range"]["footstep"])
        <= report["per_class"]["footstep"]["n_truth"]
    )
    assert plot.stat().st_size > 10_000


def test_scores_a_file_against_its_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = generate("noise-quiet", 300.0, seed=9102)
    path = tmp_path / "quiet.npz"
    write_recording(rec, path)
    truth = rec.write_truth(tmp_path / "elsewhere.truth.json")
    assert main(["eval", str(path), "--truth", str(truth)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["noise_only_hours"] == pytest.approx(300 / 3600, abs=1e-3)
    assert report["false_alarms"] == 0
    # A recording of events without its truth file cannot be scored: refuse.
    other = tmp_path / "patrol.npz"
    write_recording(generate("patrol", 60.0, seed=9103), other)
    assert main(["eval", str(other)]) == 2
    assert "truth" in capsys.readouterr().err


def test_clips_apart_in_time_are_scored_each_against_its_own_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three triggered clips of one unit, hours apart, each with its truth file, and one
    # cut too short to analyse: scored as analyze reads them, not as one padded recording.
    rec = generate("patrol", 240.0, seed=77)
    clips = []
    for i, (t0, lag) in enumerate(((0.0, 0.0), (80.0, 3 * 3600.0), (160.0, 9 * 3600.0))):
        clip = cut(rec, t0, t0 + 80.0)
        clip.start_time += lag
        clips.append(write_recording(clip, tmp_path / f"clip{i}.npz"))
        clip.write_truth(f"{clips[-1]}.truth.json")
    short = cut(rec, 40.0, 40.8)
    short.start_time += 5 * 3600.0
    clips.append(write_recording(short, tmp_path / "short.npz"))
    short.write_truth(f"{clips[-1]}.truth.json")
    assert main(["eval", *map(str, clips)]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out)
    assert [Path(r["recording"]).name for r in report["recordings"]] == [
        "clip0.npz",
        "clip1.npz",
        "short.npz",
        "clip2.npz",
    ]
    each = []
    for c in clips:
        assert main(["eval", str(c)]) == 0
        each.append(json.loads(capsys.readouterr().out))
    for cls in ("footstep", "vehicle"):
        n = sum(e["per_class"][cls]["n_truth"] for e in each)
        assert report["per_class"][cls]["n_truth"] == n
    assert report["false_alarms"] == sum(e["false_alarms"] for e in each)
    assert "short.npz: 0.80 s is too short to analyse" in out.err
    # Their folder is scored as they are: the truth files beside them are not recordings.
    assert main(["eval", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == report
    # One truth file cannot be the truth of several recordings.
    truth = tmp_path / "clip0.npz.truth.json"
    assert main(["eval", str(clips[0]), str(clips[1]), "--truth", str(truth)]) == 2
    assert "make 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["eval"], "either"),
        (["eval", "x.npz", "--scenario", "patrol"], "either"),
        (["eval", "--scenario", "patrol,nowhere"], "unknown scenario"),
        (["eval", "--scenario", "patrol", "--seed", "9-x"], "--seed"),
        (["eval", "--scenario", "patrol", "--model", "/nonexistent/model.json"], "cannot read"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_plot_without_matplotlib_is_a_clear_refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the extra were not installed
    rc = main(["eval", "--scenario", "patrol", "--duration", "60", "--plot", "x.png"])
    assert rc == 2
    assert "pip install 'ugs-gateway[plot]'" in capsys.readouterr().err


def test_training_is_reproducible_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outs = []
    # One process, then two: the model does not depend on how the work was shared.
    for name, jobs in (("a.json", "1"), ("b.json", "2")):
        out = tmp_path / name
        argv = [
            "train",
            "--jobs",
            jobs,
            "--seeds",
            "1000-1001",
            "--duration",
            "120",
            "--out",
            str(out),
            "--scenarios",
            "patrol,noise-wind",
        ]
        assert main(argv) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    model = json.loads(outs[0])
    assert model["info"]["seeds"] == [1000, 1001]
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["examples"]["footstep"] > 0


def test_a_unit_with_only_some_sensors(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--scenario", "demo", "--duration", "240", "--seed", "1", "--sensor", "pir"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sensors"] == ["pir"]
    # The vehicles of this recording are out of the PIR's sight: not counted as missed.
    assert report["per_class"]["vehicle"]["n_truth"] == 0
    assert report["per_class"]["vehicle"]["n_truth_all"] == 3
    assert report["per_class"]["footstep"]["n_truth"] == 2
    assert main(["eval", "--scenario", "demo", "--seed", "1", "--sensor", "sonar"]) == 2
    assert "sonar" in capsys.readouterr().err


def test_triggered_clips_are_scored_one_by_one(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--scenario", "demo", "--duration", "240", "--seed", "3", "--clips"])
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    clips = report["clips"]
    # Four walkers within 15 m are alone in their 10 s (the vehicle is too far from them).
    assert clips["n"] == len(report["recordings"]) >= 4
    assert 0.0 <= clips["right_class"] <= 1.0
    assert all(" clip at " in r["recording"] for r in report["recordings"])


def test_misses_list_what_was_not_reported_and_what_was_said_instead(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # People indoors under a running machine: the lone geophone misses some, and names some
    # others wrongly (docs/evaluation.md).
    args = ["eval", "--scenario", "indoor", "--duration", "300", "--seed", "9501"]
    assert main([*args, "--sensor", "seismic", "--misses"]) == 0
    report = json.loads(capsys.readouterr().out)
    listed = report["recordings"][0]["misses"]
    assert listed, "this recording has misses to list"
    for cls in ("footstep", "vehicle"):
        pc = report["per_class"][cls]
        assert sum(m["label"] == cls for m in listed) == pc["n_truth"] - pc["n_detected"]
    for m in listed:
        assert m["t0"] <= m["t1"] and m["sensors"] == ["seismic"]
        assert set(m["peak_snr_db"]) == {"seismic"}
        # What the confusion matrix says of it, and the reports that say it.
        classes = {r["class"] for r in m["reports"]}
        assert m["label"] not in classes
        assert (m["outcome"] == "missed") == (not classes)
        assert m["outcome"] == "missed" or m["outcome"] in classes
    outcomes = Counter((m["label"], m["outcome"]) for m in listed)
    for label, row in report["confusion"].items():
        for outcome, n in row.items():
            if label in ("footstep", "vehicle") and outcome != label:
                assert outcomes[(label, outcome)] == n
    assert main(args) == 0
    assert "misses" not in json.loads(capsys.readouterr().out)["recordings"][0]
