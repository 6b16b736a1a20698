"""Training rows from prepared real recordings: the dev split only, labelled by their truth,
and the ``train --real`` command that adds them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import dsp
from drivers.recordings import read_recording
from dsp.classifier import CLASSES, FEATURES, load_model, sensor_set
from dsp.config import DspConfig
from gateway.bench.real.common import write_clip, write_manifest
from gateway.cli import main
from gateway.errors import InputError
from hil.analysis import OFFLINE_PRIME_S
from hil.clips import cut, slower_seismic
from hil.real_examples import (
    RECUTS,
    SILENT_MAGNETOMETER,
    TRAINING_SETS,
    real_examples,
    recuts,
    views,
)
from hil.scenarios import generate
from hil.training_data import labelled_candidates
from tests.gateway.walktest_rig import CONFIG

VEHICLE = CLASSES.index("vehicle")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared data set as ``gateway.bench.real.prepare`` writes one: two dev clips around
    passes of a roadside geophone, one dev clip whose only truth is a stretch nobody can
    explain, and a held-back file that is not a recording at all."""
    root = tmp_path_factory.mktemp("real")
    folder = root / "vehicle" / "roadside-test"
    folder.mkdir(parents=True)
    rec = generate("roadside", 300.0, seed=1).only(["seismic"])
    passes = [ev for ev in rec.truth if ev.label == "vehicle"][:3]
    files = []
    for i, ev in enumerate(passes[:2]):
        name = f"pass{i}.npz"
        write_clip(folder, name, cut(rec, max(0.0, ev.t0 - 2.0), ev.t0 + 10.0))
        files.append({"file": name, "split": "dev"})
    unexplained = cut(rec, max(0.0, passes[2].t0 - 2.0), passes[2].t0 + 10.0)
    spans = [
        replace(ev, label="unknown", extra={**ev.extra, "dont_care": True})
        for ev in unexplained.truth
    ]
    write_clip(folder, "unexplained.npz", replace(unexplained, truth=spans))
    files.append({"file": "unexplained.npz", "split": "dev"})
    (folder / "heldout.npz").write_bytes(b"not a recording")
    files.append({"file": "heldout.npz", "split": "heldout"})
    write_manifest(folder, {"dataset": "test", "repo": "o/r", "commit": "c0ffee", "files": files})
    return root


def test_dev_files_teach_their_truth_and_held_back_files_are_never_read(prepared: Path) -> None:
    rows = real_examples(prepared, {"roadside-test": 2.0})
    assert rows.sets["roadside-test"]["files"] == 3
    assert rows.sets["roadside-test"]["weight"] == 2.0
    assert set(rows.weight) == {2.0}
    assert rows.sets["roadside-test"]["commit"] == "c0ffee"
    assert rows.sets["roadside-test"]["split"] == "dev"
    # Each file and its shorter cuts: the passes are taught as vehicles.
    assert np.count_nonzero(rows.y == VEHICLE) >= 2
    assert set(np.unique(rows.file)) <= {0, 1, 2}


def test_a_stretch_marked_dont_care_teaches_nothing(prepared: Path) -> None:
    rows = real_examples(prepared, {"roadside-test": 3.0})
    # The third file holds a pass the truth only calls unexplained: neither noise nor a class.
    assert np.count_nonzero(rows.file == 2) == 0
    assert np.count_nonzero(rows.file == 0) > 0


def test_an_event_its_signal_never_shows_teaches_nothing(tmp_path: Path) -> None:
    # A file labelled as a whole ("a walk") whose truth found no moment above the floor
    # marks its event not detectable: whatever the detector finds there may be the walker
    # or the room, so it is taught neither as the walker nor as noise.
    rec = generate("roadside", 300.0, seed=1).only(["seismic"])
    ev = next(e for e in rec.truth if e.label == "vehicle")
    clip = cut(rec, max(0.0, ev.t0 - 2.0), ev.t0 + 10.0)
    taught = {}
    for heard in (True, False):
        folder = tmp_path / str(heard) / "vehicle" / "labelled-test"
        folder.mkdir(parents=True)
        truth = [replace(e, extra={**e.extra, "detectable": heard}) for e in clip.truth]
        write_clip(folder, "clip.npz", replace(clip, truth=truth))
        files = [{"file": "clip.npz", "split": "dev"}]
        write_manifest(folder, {"dataset": "t", "repo": "o/r", "commit": "c", "files": files})
        taught[heard] = real_examples(tmp_path / str(heard), {"labelled-test": 3.0})
    assert np.count_nonzero(taught[True].y == VEHICLE) > 0
    assert len(taught[False]) == 0


def test_real_walks_are_taught_again_beside_a_silent_magnetometer_but_passes_are_not(
    prepared: Path, tmp_path: Path
) -> None:
    # A geophone with a magnetometer beside it hears a walk as the lone geophone does, and
    # its magnetometer feels nothing; a vehicle near enough to be heard may well be felt, so
    # a pass is not taught as one the magnetometer missed.
    rec = generate("patrol", 300.0, seed=1).only(["seismic"])
    walk = next(ev for ev in rec.truth if ev.label == "footstep" and ev.extra.get("detectable"))
    folder = tmp_path / "footstep" / "walk-test"
    folder.mkdir(parents=True)
    write_clip(folder, "walk.npz", cut(rec, max(0.0, walk.t0 - 2.0), walk.t1 + 2.0))
    files = [{"file": "walk.npz", "split": "dev"}]
    write_manifest(folder, {"dataset": "w", "repo": "o/r", "commit": "c", "files": files})
    walks = real_examples(tmp_path, {"walk-test": 3.0})
    mag_live = FEATURES.index("mag_live")
    beside = walks.x[:, mag_live] != 0.0
    assert np.count_nonzero(walks.y[beside] == CLASSES.index("footstep")) > 0
    assert set(walks.y[beside]) <= {CLASSES.index(c) for c in SILENT_MAGNETOMETER}
    # Each is a lone geophone's row as it stands, from the same file, at the same weight.
    alone = walks.x[~beside]
    for x in walks.x[beside]:
        as_alone = x.copy()
        as_alone[mag_live] = 0.0
        assert np.any(np.all(alone == as_alone, axis=1))
    assert np.count_nonzero(beside) == np.count_nonzero(
        np.isin(walks.y[~beside], [CLASSES.index(c) for c in SILENT_MAGNETOMETER])
    )

    passes = real_examples(prepared, {"roadside-test": 3.0})
    assert np.count_nonzero(passes.y == VEHICLE) >= 2
    assert np.all(passes.x[passes.y == VEHICLE, mag_live] == 0.0)


def test_a_data_set_that_was_not_prepared_says_how_to_prepare_it(prepared: Path) -> None:
    with pytest.raises(InputError, match=r"gateway\.bench\.real\.prepare mlmsa-nodes"):
        real_examples(prepared, {"mlmsa-nodes": 3.0})


def test_train_adds_the_real_rows_and_says_so_in_the_model(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = [
        "train",
        "--seeds",
        "1000-1001",
        "--duration",
        "120",
        "--scenarios",
        "patrol,noise-wind",
    ]
    out = tmp_path / "m.json"
    saved = tmp_path / "examples.npz"
    real = ["--real", str(prepared), "--real-sets", "roadside-test=5"]
    assert main([*base, "--out", str(out), *real, "--save-examples", str(saved)]) == 0
    info = json.loads(out.read_text())["info"]
    assert info["id"].endswith("+real1")
    assert info["real"]["sets"]["roadside-test"]["files"] == 3
    assert info["real"]["sets"]["roadside-test"]["weight"] == 5.0
    assert "seismic_also_at_hz" not in info["real"]
    seismic = next(s for s in json.loads(out.read_text())["sets"] if s["sensors"] == ["seismic"])
    assert seismic["info"]["examples"]["vehicle"] >= 2

    # The same files read by a 100-Hz seismograph as well: more rows, and the model says so.
    slow = tmp_path / "slow.json"
    extra = ["--from-examples", str(saved), "--real-seismic-hz", "100"]
    assert main([*base, "--out", str(slow), *real, *extra]) == 0
    model = json.loads(slow.read_text())
    assert model["info"]["id"].endswith("+real1-seismic100hz")
    assert model["info"]["real"]["seismic_also_at_hz"] == 100.0
    slow_rows = model["info"]["real"]["sets"]["roadside-test"]["rows"]
    assert slow_rows > info["real"]["sets"]["roadside-test"]["rows"]

    # A model that cannot be written (here: its folder is a file) is said so, not a traceback.
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    capsys.readouterr()
    assert main([*base, "--out", str(blocked / "m.json"), *real, *extra]) == 2
    assert f"--out {blocked / 'm.json'}: cannot write" in capsys.readouterr().err


def test_a_refit_fits_the_sets_it_names_and_keeps_every_other_booster_of_its_base(
    prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["train", "--seeds", "1000-1001", "--duration", "120"]
    common += ["--scenarios", "patrol,noise-wind"]
    base, saved = tmp_path / "base.json", tmp_path / "examples.npz"
    real = ["--real", str(prepared), "--real-sets"]
    argv = [*common, *real, "roadside-test=1", "--out", str(base), "--save-examples", str(saved)]
    assert main(argv) == 0
    capsys.readouterr()
    # The real passes weigh five rendered rows now, for the lone geophone only.
    out = tmp_path / "refit.json"
    argv = [*common, "--from-examples", str(saved), *real, "roadside-test=5"]
    assert main([*argv, "--out", str(out), "--refit", "seismic", "--base", str(base)]) == 0
    before, after = load_model(base), load_model(out)
    assert set(after.boosters) == set(before.boosters)
    for kinds, booster in after.boosters.items():
        same = booster.to_json() == before.boosters[kinds].to_json()
        assert same == (kinds != ("seismic",)), kinds
    refit = after.info["refit"]
    assert refit["sets"] == ["seismic"]
    assert refit["base"] == {"id": before.name, "hash": before.digest}
    assert refit["real"]["sets"]["roadside-test"]["weight"] == 5.0
    assert after.info["seeds"] == before.info["seeds"]

    # Refitting the refitted model keeps what the first refit said.
    again = tmp_path / "again.json"
    assert main([*argv, "--out", str(again), "--refit", "seismic", "--base", str(out)]) == 0
    history = load_model(again).info["refit"]
    assert history["base"]["hash"] == after.digest
    assert history["before"] == refit


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--refit", "seismic"], "--refit and --base go together"),
        (["--base", "BASE"], "--refit and --base go together"),
        (["--refit", "seismic+radar", "--base", "BASE"], "joined by '+'"),
        (["--refit", "seismic,", "--base", "BASE"], "joined by '+'"),
        (["--refit", "seismic", "--base", "NOT_A_MODEL"], "not JSON"),
        (["--refit", "seismic", "--base", "BASE", "-c", "CONFIG"], "other [dsp] settings"),
    ],
)
def test_train_refuses_a_refit_it_cannot_make_before_simulating(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG + "\n[dsp.seismic]\ntrigger_on = 4.5\n")
    packaged = Path(dsp.__file__).parent / "model.json"
    paths = {"BASE": str(packaged), "NOT_A_MODEL": str(junk), "CONFIG": str(config)}
    extra = [paths.get(a, a) for a in extra]
    argv = ["train", "--seeds", "1000-1015", "--out", str(tmp_path / "m.json"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_a_refit_with_too_few_examples_for_its_set_keeps_no_half_made_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two minutes of a patrol give the PIR with the magnetometer too little to learn from:
    # the base's booster is not passed off as a refitted one.
    out = tmp_path / "m.json"
    packaged = Path(dsp.__file__).parent / "model.json"
    argv = ["train", "--seeds", "1000", "--duration", "120", "--scenarios", "patrol"]
    argv += ["--refit", "pir+magnetometer", "--base", str(packaged), "--out", str(out)]
    assert main(argv) == 2
    assert "too few examples to fit pir+magnetometer" in capsys.readouterr().err
    assert not out.exists()


def test_the_packaged_model_learnt_from_the_sets_training_names_at_their_weights() -> None:
    # Adding a data set to the training, or weighing one otherwise, means remaking the
    # packaged model (docs/dsp.md, "Training"); until then its figures are not this code's.
    real = load_model().info["real"]
    assert real["split"] == "dev"
    assert {name: s["weight"] for name, s in real["sets"].items()} == TRAINING_SETS
    assert load_model().info["id"].endswith(f"+real{len(TRAINING_SETS)}")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--real-sets", "mlmsa-nodes"], "need --real DIR"),
        (["--real", "/tmp", "--real-sets", "mlmsa-nodes=0"], "W above 0"),
        (["--real", "/tmp", "--real-sets", "mlmsa-nodes=heavy"], "NAME=W"),
        (["--real", "/nonexistent/ugs-real"], "no prepared data set"),
        (["--real-seismic-hz", "100"], "need --real DIR"),
        (["--real", "/tmp", "--real-seismic-hz", "0"], "from 5 to 10000 Hz"),
    ],
)
def test_train_refuses_real_options_it_cannot_use_before_simulating(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--seeds", "1000-1015", "--out", str(tmp_path / "m.json"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize(
    "manifest",
    [
        "{not json",
        json.dumps({"files": "pass0.npz"}),
        json.dumps({"files": [{"file": "gone.npz", "split": "dev"}]}),
        json.dumps({"files": [{"file": "heldout.npz", "split": "heldout"}]}),
    ],
)
def test_a_damaged_prepared_set_is_refused_with_what_to_do(manifest: str, tmp_path: Path) -> None:
    folder = tmp_path / "vehicle" / "broken"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(manifest)
    with pytest.raises(InputError, match=r"prepare (it|the data set) again"):
        real_examples(tmp_path, {"broken": 3.0})


def test_a_three_axis_magnetometer_file_also_teaches_each_axis_alone(tmp_path: Path) -> None:
    road = generate("roadside", 120.0, seed=1).only(["magnetometer"])
    first = next(ev for ev in road.truth if ev.label == "vehicle" and ev.extra.get("detectable"))
    rec = cut(road, max(0.0, first.t0 - 15.0), first.t1 + 10.0)  # a pass at 5 m
    field = rec.channel("magnetometer")
    assert field.data.shape[1] == 3
    folder = tmp_path / "magnetometer" / "road-mag"
    folder.mkdir(parents=True)
    write_clip(folder, "road.npz", rec)
    write_manifest(folder, {"files": [{"file": "road.npz", "split": "dev"}]})

    taught = views(rec, "road-mag/road.npz")
    whole = recuts(rec, "road-mag/road.npz")
    assert len(taught) == 4 * len(whole)
    axes = [v.channel("magnetometer") for v in taught[len(whole) :]]
    assert {ax.data.shape[1] for ax in axes} == {1}
    assert {ax.components for ax in axes} == {(c,) for c in field.components}
    assert all(v.truth == rec.truth for v in taught[len(whole) :: len(whole)])

    # The pass is taught in every view: three axes together, and each alone.
    rows = real_examples(tmp_path, {"road-mag": 1.0})
    assert np.count_nonzero(rows.y == VEHICLE) == len(taught)
    assert set(rows.file) == {0}  # one file, however many views: one calibration group


def test_a_geophone_file_teaches_itself_and_its_cuts(prepared: Path) -> None:
    rec = read_recording(prepared / "vehicle" / "roadside-test" / "pass0.npz")
    assert len(views(rec, "k")) == len(recuts(rec, "k")) == 1 + RECUTS


def test_asked_to_a_geophone_file_also_teaches_its_reading_by_a_slower_seismograph(
    prepared: Path,
) -> None:
    rec = read_recording(prepared / "vehicle" / "roadside-test" / "pass0.npz")
    assert rec.channel("seismic").rate >= 200.0
    taught = views(rec, "k", seismic_also_at_hz=100.0)
    whole = recuts(rec, "k")
    assert len(taught) == 2 * len(whole)
    slow = taught[len(whole) :]
    assert {v.channel("seismic").rate for v in slow} == {100.0}
    # The whole file read slower, with its truth, and cuts of that reading.
    assert slow[0].duration == pytest.approx(rec.duration, abs=0.02)
    assert slow[0].truth == rec.truth
    # The pass is a candidate at 100 Hz too, and is taught there as a vehicle.
    labelled = [labelled_candidates(v, DspConfig(), OFFLINE_PRIME_S)[1] for v in (rec, slow[0])]
    assert all(VEHICLE in y for y in labelled)
    rows = real_examples(prepared, {"roadside-test": 3.0})
    slower_rows = real_examples(prepared, {"roadside-test": 3.0}, seismic_also_at_hz=100.0)
    assert np.count_nonzero(slower_rows.y == VEHICLE) > np.count_nonzero(rows.y == VEHICLE)
    # A geophone no faster than twice the rate is taught as it is, once.
    at_100 = slower_seismic(rec, 100.0)
    assert len(views(at_100, "k", seismic_also_at_hz=100.0)) == len(recuts(at_100, "k"))


def test_a_pir_set_teaches_the_lone_pir_its_people(tmp_path: Path) -> None:
    room = generate("indoor", 120.0, seed=1).only(["pir"])
    person = next(ev for ev in room.truth if ev.label == "footstep" and ev.extra.get("detectable"))
    folder = tmp_path / "pir" / "room"
    folder.mkdir(parents=True)
    write_clip(folder, "walk.npz", cut(room, max(0.0, person.t0 - 8.0), person.t1 + 5.0))
    write_manifest(folder, {"files": [{"file": "walk.npz", "split": "dev"}]})

    rows = real_examples(tmp_path, {"room": 3.0})
    assert np.count_nonzero(rows.y == CLASSES.index("footstep")) == 1 + RECUTS
    # Every row is the lone PIR's: only its booster learns from a PIR's file.
    for row in rows.x:
        assert sensor_set(dict(zip(FEATURES, row, strict=True))) == ("pir",)
