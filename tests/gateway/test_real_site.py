"""gateway.bench.real_site: a data set's dev split taken as a walk test, its held-back split
scored per session with the packaged and the site model, on a prepared data set made here
from walk tests on a ground the packaged model was not trained for."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from drivers.recordings import write_recording
from drivers.recordings.waveforms import Recording, TruthEvent, truth_path
from gateway.bench import real_site
from gateway.bench.calibration import FOREIGN
from gateway.bench.real.common import write_manifest
from hil.clips import cut
from hil.scenarios import generate
from hil.synth.site import Site
from hil.training_data import TRAIN_SCENARIOS


def _ringing() -> Site:
    """Field soil ringing low and long (the bench's foreign ground, longer still), where
    the packaged model once took footfalls for engines (docs/calibration.md)."""
    assert FOREIGN.ground is not None
    return replace(FOREIGN, ground=replace(FOREIGN.ground, mode_q=30.0))


def _prepared(root: Path, files: list[tuple[str, str, Recording]]) -> None:
    folder = root / "footstep" / "floorset"
    folder.mkdir(parents=True)
    entries = []
    for name, split, rec in files:
        path = write_recording(rec, folder / f"{name}.npz")
        rec.write_truth(truth_path(path))
        entries.append({"file": path.name, "split": split})
    write_manifest(folder, {"dataset": "floorset", "files": entries})


def _session(rec: Recording, session: str) -> Recording:
    return replace(rec, meta={**rec.meta, "session": session})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real")
    walk = generate("walktest", 300.0, 11, site=_ringing())
    later = generate("walktest", 300.0, 12, site=_ringing())
    keys = replace(
        cut(walk, 0.0, 20.0),
        truth=[TruthEvent("unknown", "dropped keys", 5.0, 6.0, 5.5, -1.0, {})],
    )
    short = replace(cut(later, 0.0, 0.5), truth=[])  # too short for any model
    _prepared(
        root,
        [
            ("walk", "dev", _session(walk, "day-1")),
            ("keys", "dev", _session(keys, "day-1")),
            ("later", "heldout", _session(later, "same-floor")),
            ("short", "heldout", _session(short, "same-floor")),
        ],
    )
    return root


def _report(root: Path, *more: str) -> dict[str, Any]:
    said = io.StringIO()
    args = [str(root), "--dataset", "floorset", "--anchor-minutes", "0.2", "--json", *more]
    with contextlib.redirect_stdout(said):
        assert real_site.main(args) == 0
    result: dict[str, Any] = json.loads(said.getvalue())["floorset"]
    return result


@pytest.fixture(scope="module")
def report(root: Path) -> dict[str, Any]:
    return _report(root)


def test_the_walk_test_is_the_dev_split_without_what_nobody_marks(report: dict[str, Any]) -> None:
    assert report["walk_test"]["files"] == 1  # the dropped keys are no pass
    assert report["accepted"] is True


def test_the_held_back_split_is_scored_per_session_with_both_models(
    report: dict[str, Any],
) -> None:
    session = report["heldout"]["same-floor"]
    assert session["files"] == 2 and session["cannot_analyse"] == 1
    packaged, site = session["packaged"], session["site"]
    assert packaged["footstep"]["n"] == site["footstep"]["n"] > 0
    # What the walk test taught holds on the same ground another time: the site model is
    # surer of the marked passes, and names nothing worse on a later walk. (Since the
    # cadence is the beat of the band that beats the strongest, the packaged model names this
    # ground's footfalls too: what the walk test adds here is confidence, not answers.)
    cross = report["cross_validated"]
    assert cross["site"]["log_loss"] < cross["packaged"]["log_loss"]
    for cls in ("footstep", "vehicle"):
        assert site[cls]["recall"] >= packaged[cls]["recall"]
        assert site[cls]["precision"] >= packaged[cls]["precision"]


def test_a_floor_unit_s_walk_test_is_anchored_in_the_building_and_held_to_the_floor_model(
    root: Path, report: dict[str, Any]
) -> None:
    floor = _report(root, "--installation", "floor")
    assert report["anchors"] == list(TRAIN_SCENARIOS)
    assert floor["anchors"] == ["indoor", "noise-indoor"]
    # The floor model is what such a unit runs without a walk test: scored beside the
    # others, on the walk test and on the held-back split.
    assert list(floor["cross_validated"]) == ["packaged", "floor", "site"]
    assert floor["cross_validated"]["packaged"] == report["cross_validated"]["packaged"]
    session = floor["heldout"]["same-floor"]
    assert session["floor"]["footstep"]["n"] == session["site"]["footstep"]["n"] > 0
    assert floor["accepted"] == (not floor["refused_because"])
    # As calibrate on such a unit: a site model from each prior, the better one kept.
    assert list(floor["site_models"]) == ["packaged model", "floor model"]
    assert floor["site_from"] in floor["site_models"]
    kept = floor["site_models"][floor["site_from"]]
    assert kept["after"] == floor["cross_validated"]["site"]
    assert kept["accepted"] == floor["accepted"]


def test_a_floor_model_that_never_saw_the_floor_can_stand_in_for_the_packaged_one(
    root: Path, report: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leaving a floor out of the floor model is how a floor it never learnt is seen: here
    # the ground model stands in, so the "floor model" scores as the packaged one does.
    ground = resources.files("dsp").joinpath("model.json")
    floor = _report(root, "--installation", "floor", "--floor-model", str(ground))
    assert floor["cross_validated"]["floor"] == report["cross_validated"]["packaged"]
    assert "learnt the dev split" not in capsys.readouterr().err
    # One that learnt this data set's dev split is named as such: its score is in-sample.
    model = json.loads(ground.read_text())
    model["info"]["real"] = {"split": "dev", "sets": {"floorset": {"files": 2}}}
    learnt = tmp_path / "learnt.json"
    learnt.write_text(json.dumps(model))
    _report(root, "--installation", "floor", "--floor-model", str(learnt))
    assert "learnt the dev split of floorset" in capsys.readouterr().err
    # A file that is no model is named, before anything is simulated.
    (tmp_path / "notes.json").write_text('{"x": 1}')
    args = [str(root), "--dataset", "floorset", "--installation", "floor"]
    assert real_site.main([*args, "--floor-model", str(tmp_path / "notes.json")]) == 2
    assert "--floor-model: " in capsys.readouterr().err
    assert real_site.main([*args, "--floor-model", str(tmp_path / "gone.json")]) == 2
    assert "cannot read model" in capsys.readouterr().err


def test_a_data_set_that_is_not_there_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert real_site.main([str(tmp_path), "--dataset", "nowhere"]) == 2
    assert "nowhere: no prepared data set under" in capsys.readouterr().err


def test_a_dev_split_with_no_pass_to_learn_from_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quiet = generate("noise-wind", 30.0, 3).only(("seismic",))
    _prepared(tmp_path, [("quiet", "dev", quiet), ("later", "heldout", quiet)])
    assert real_site.main([str(tmp_path), "--dataset", "floorset", "--anchor-minutes", "0"]) == 2
    assert "floorset: no pass in its dev split that a sensor saw" in capsys.readouterr().err


def test_a_shorter_walk_test_takes_the_first_minutes() -> None:
    clips = [cut(generate("noise-wind", 60.0, 3), a, a + 20.0) for a in (0.0, 20.0, 40.0)]

    def taken(minutes: float | None) -> list[int]:
        got = real_site.first_minutes(clips, minutes)
        return [i for i, c in enumerate(clips) if any(c is r for r in got)]

    assert taken(None) == [0, 1, 2]
    assert taken(0.5) == [0, 1]  # 20 s, then 40 s: enough for 30 s
    assert taken(0.0) == []


def test_a_data_set_that_cannot_be_read_is_named_before_anything_is_simulated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "footstep" / "floorset"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text('{"files": [{"file": "gone.npz", "split": "dev"}]}')
    assert real_site.main([str(tmp_path), "--dataset", "floorset"]) == 2
    said = capsys.readouterr().err
    assert "floorset: cannot be read" in said and "gone.npz" in said
    (folder / "manifest.json").write_text("{not json")
    assert real_site.main([str(tmp_path), "--dataset", "floorset"]) == 2
    assert "floorset: cannot be read" in capsys.readouterr().err
