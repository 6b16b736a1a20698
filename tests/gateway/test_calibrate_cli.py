"""`ugs-gateway calibrate`: a site model from walk tests, deterministic, named by
check-config; refused (nothing overwritten) when it scores worse, unless --force; clear
words for every input it cannot use."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

import hil.site_calibration
from dsp.classifier import load_model
from gateway.cli import main
from gateway.commands.calibrate import next_step
from gateway.walktest.files import MANIFEST
from hil.scenarios import generate
from hil.training_data import TRAIN_SCENARIOS
from tests.gateway.walktest_rig import CONFIG, run_walktest

ANCHORS = ["--anchor-minutes", "0.2"]


def _floor_config(folder: Path) -> Path:
    """A unit's config that says it stands on a floor."""
    config = folder / "gateway.toml"
    config.write_text(CONFIG + '\n[dsp.classifier]\ninstallation = "floor"\n')
    return config


@pytest.fixture(scope="module")
def walk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rec = generate("walktest", 110.0, 5)
    directory = tmp_path_factory.mktemp("walk") / "wt"
    run_walktest(rec, directory)
    return directory


def test_calibrate_writes_the_same_site_model_twice_and_check_config_names_it(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site-model.json"
    assert main(["calibrate", str(walk_dir), "--out", str(out), *ANCHORS]) == 0
    first = out.read_bytes()
    text = capsys.readouterr().out
    assert "packaged model" in text and "site model" in text and "written to" in text
    assert main(["calibrate", str(walk_dir), "--out", str(out), *ANCHORS]) == 0
    assert out.read_bytes() == first  # deterministic, byte for byte
    assert (tmp_path / "site-model.json.prev").read_bytes() == first
    model = json.loads(first)
    assert model["info"]["prior"]["id"] and model["info"]["kind"] == "site"
    # A walk test's site may be anywhere the packaged model was trained for.
    assert model["info"]["anchors"]["scenarios"] == list(TRAIN_SCENARIOS)
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG + f'\n[dsp.classifier]\nmodel = "{out}"\n')
    capsys.readouterr()
    assert main(["check-config", str(config)]) == 0
    said = capsys.readouterr().out
    assert "ok" in said and f"site model {model['info']['id']}" in said


def test_a_worse_site_model_is_refused_and_nothing_is_overwritten(
    walk_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    real = hil.site_calibration.calibrate

    def worse(*args: object, **kwargs: object) -> hil.site_calibration.Calibration:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        result.accepted = False
        result.reasons = ["score per pass 1.000 -> 0.500 (footstep Pd 1.000 -> 0.000)"]
        return result

    monkeypatch.setattr(hil.site_calibration, "calibrate", worse)
    out = tmp_path / "site-model.json"
    out.write_text("what the unit had")
    assert main(["calibrate", str(walk_dir), "--out", str(out), *ANCHORS]) == 1
    err = capsys.readouterr().err
    assert "refused: the site model scores worse" in err and "footstep Pd 1.000 -> 0.000" in err
    assert out.read_text() == "what the unit had"
    assert main(["calibrate", str(walk_dir), "--out", str(out), "--force", *ANCHORS]) == 0
    assert "written anyway (--force)" in capsys.readouterr().out
    assert json.loads(out.read_text())["info"]["calibration"]["forced"] is True
    assert (tmp_path / "site-model.json.prev").read_text() == "what the unit had"
    # A floor unit tries both its priors: each refusal is named.
    config = _floor_config(tmp_path)
    written = out.read_bytes()
    assert main(["calibrate", str(walk_dir), "-c", str(config), "--out", str(out), *ANCHORS]) == 1
    err = capsys.readouterr().err
    assert "refused: every site model scores worse in cross-validation: the one from the " in err
    assert "the one from the floor model than the floor model: score per pass" in err
    assert "The unit keeps the packaged floor model it runs now" in err
    assert out.read_bytes() == written


def test_a_model_from_another_version_is_named(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "ugs-dsp-model", "version": 2, "info": {}}))
    assert main(["calibrate", str(walk_dir), "--prior", str(old), *ANCHORS]) == 2
    assert "model version 2 is not supported" in capsys.readouterr().err
    site = tmp_path / "site.json"
    site.write_text(json.dumps({"format": "ugs-dsp-model", "version": 2, "info": {"prior": {}}}))
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG + f'\n[dsp.classifier]\nmodel = "{site}"\n')
    assert main(["check-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dsp.classifier.model:") and "calibrate the site again" in err


def test_a_site_model_is_no_prior(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "site-model.json"
    assert main(["calibrate", str(walk_dir), "--out", str(out), *ANCHORS]) == 0
    assert main(["calibrate", str(walk_dir), "--prior", str(out), *ANCHORS]) == 2
    assert "a site model, not a prior" in capsys.readouterr().err
    # The package's floor model is made as a site model is, and is a prior all the same.
    floor = str(resources.files("dsp").joinpath("model-floor.json"))
    assert main(["calibrate", str(walk_dir), "--prior", floor, "--out", str(out), *ANCHORS]) == 0
    assert json.loads(out.read_text())["info"]["prior"]["hash"] == load_model(floor).digest
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    assert ["floor", "model"] in rows and ["packaged", "model"] not in rows  # named as it is
    # A model of one's own (retrained, say) is "the prior".
    own = json.loads(Path(str(resources.files("dsp").joinpath("model.json"))).read_text())
    own["info"]["id"] = "retrained-here"
    (tmp_path / "own.json").write_text(json.dumps(own))
    args = ["--prior", str(tmp_path / "own.json"), "--out", str(out), *ANCHORS]
    assert main(["calibrate", str(walk_dir), *args]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    assert ["prior", "footstep"] in rows and ["packaged", "model"] not in rows


def test_marks_no_sensor_saw_teach_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = generate("walktest", 60.0, 5)
    run_walktest(
        rec,
        tmp_path / "wt",
        marks=False,
        extra_marks=[(8.0, "walk", 30.0), (16.0, "nothing", None)],
    )
    assert (
        main(["calibrate", str(tmp_path / "wt"), "--out", str(tmp_path / "m.json"), *ANCHORS]) == 2
    )
    captured = capsys.readouterr()
    assert "no sensor rose above its noise" in captured.out
    assert "no marked pass was seen by any sensor" in captured.err
    assert not (tmp_path / "m.json").exists()


def test_a_floor_without_a_walk_test_learns_from_simulated_homes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "floor.json"
    args = ["calibrate", "--simulate", "home", "--simulate-minutes", "10", "--out", str(out)]
    assert main([*args, *ANCHORS]) == 0
    text = capsys.readouterr().out
    # The homes, and an empty building beside them: what a step followed by quiet is not.
    assert "2 simulated recordings, 20 min" in text and "written to" in text
    model = json.loads(out.read_text())
    assert model["info"]["kind"] == "site" and model["info"]["prior"]["id"]
    assert model["info"]["simulated"] == {
        "scenario": "home",
        "seeds": [4000],
        "site": "random",
        "empty": [["noise-indoor", 4500]],
    }
    assert model["info"]["id"] == "site-home-simulated-10min"
    # Anchored in the building's scenarios: the fields' animals are no floor's (the package's
    # floor model is made so too).
    assert model["info"]["anchors"]["scenarios"] == ["indoor", "noise-indoor"]
    floor = json.loads(Path(str(resources.files("dsp").joinpath("model-floor.json"))).read_text())
    assert floor["info"]["anchors"]["scenarios"] == ["indoor", "noise-indoor"]
    # The homes say what a floor does to a geophone; their PIRs and magnetometers are
    # simulated, not the site's: sets without a geophone keep the packaged booster.
    packaged = json.loads(Path(str(resources.files("dsp").joinpath("model.json"))).read_text())
    kept = {
        tuple(s["sensors"])
        for s in model["sets"]
        if s == next(p for p in packaged["sets"] if p["sensors"] == s["sensors"])
    }
    assert kept == {("pir",), ("magnetometer",), ("pir", "magnetometer")}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--simulate", "kitchen"], "unknown scenario 'kitchen'"),
        (["--simulate", "noise-quiet", "--simulate-minutes", "10"], "no event to learn from"),
        (["--simulate", "home", "--simulate-minutes", "5"], "--simulate-minutes must be 10-600"),
        ([], "give the site's walk test(s), or --simulate SCENARIO"),
    ],
)
def test_simulate_says_what_it_cannot_use(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    assert main(["calibrate", *argv, "--out", str(out), *ANCHORS]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_walk_tests_and_simulate_do_not_mix(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    assert main(["calibrate", str(walk_dir), "--simulate", "home", "--out", str(out)]) == 2
    assert "not both" in capsys.readouterr().err
    assert not out.exists()


def test_a_floor_unit_starts_from_its_floor_model_as_well_and_keeps_the_better(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A site model replaces the floor model such a unit runs. On this walk test (two people)
    # the one taught from the packaged ground model names them less surely than the floor
    # model does; the one taught from the floor model keeps what it knows, and is kept.
    config = _floor_config(tmp_path)
    out = tmp_path / "site-model.json"
    assert main(["calibrate", str(walk_dir), "-c", str(config), "--out", str(out), *ANCHORS]) == 0
    captured = capsys.readouterr()
    table = [line for line in captured.out.splitlines() if " footstep Pd " in line]
    assert [line.split(" footstep Pd")[0].strip() for line in table] == [
        "packaged model",
        "floor model",
        "site model from the packaged model",
        "site model from the floor model",
    ]
    assert "kept: the site model from the floor model" in captured.out
    # It taught the floor model nothing that shows here, and says so.
    assert "the unit may as well run the floor model" in captured.out
    info = json.loads(out.read_text())["info"]
    floor = load_model(None, "floor")
    assert info["prior"] == {"id": floor.name, "hash": floor.digest}
    tried = info["calibration"]["priors_tried"]
    assert tried["floor model"]["accepted"]
    assert not tried["packaged model"]["accepted"]
    assert "than the floor model: log-loss" in tried["packaged model"]["refused_because"][0]
    # Anchored where the unit stands, as the floor model is: not in the fields' animals.
    assert "training scenarios of the building (indoor, noise-indoor)" in captured.err
    assert info["anchors"]["scenarios"] == ["indoor", "noise-indoor"]
    capsys.readouterr()
    assert main(["check-config", str(config)]) == 0


def test_a_site_model_from_another_prior_must_also_beat_the_floor_model(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Told to start from the ground model alone, a floor unit's site model must still do
    # no worse than the floor model the unit runs: here it does, and is refused.
    config = _floor_config(tmp_path)
    out = tmp_path / "site-model.json"
    ground = str(resources.files("dsp").joinpath("model.json"))
    args = ["calibrate", str(walk_dir), "-c", str(config), "--out", str(out), "--prior", ground]
    assert main([*args, *ANCHORS]) == 1
    captured = capsys.readouterr()
    rows = [line.split()[:2] for line in captured.out.splitlines()]
    assert rows[-4:-1] == [["packaged", "model"], ["floor", "model"], ["site", "model"]]
    assert "worse in cross-validation than the floor model the unit runs: log-loss" in captured.err
    assert "The unit keeps the packaged floor model it runs now (site-home-" in captured.err
    assert not out.exists()
    assert main([*args, *ANCHORS, "--force"]) == 0 and out.exists()


def test_a_walk_test_recorded_on_a_floor_unit_is_calibrated_as_one_without_its_config(
    walk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Without -c, the [dsp] the walk test was recorded with says where the unit stands.
    floor_walk = tmp_path / "floor-walk"
    shutil.copytree(walk_dir, floor_walk)
    manifest_path = floor_walk / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["dsp"]["classifier"]["installation"] = "floor"
    manifest_path.write_text(json.dumps(manifest))
    out = tmp_path / "site-model.json"
    assert main(["calibrate", str(floor_walk), "--out", str(out), "--force", *ANCHORS]) == 0
    captured = capsys.readouterr()
    assert "training scenarios of the building (indoor, noise-indoor)" in captured.err
    rows = [line.split()[:2] for line in captured.out.splitlines()]
    table = [row for row in rows if row in (["packaged", "model"], ["floor", "model"])]
    assert table == [["packaged", "model"], ["floor", "model"]]  # held to the floor model
    assert json.loads(out.read_text())["info"]["anchors"]["scenarios"] == [
        "indoor",
        "noise-indoor",
    ]


def test_a_rebuilt_packaged_model_needs_no_config_change(tmp_path: Path) -> None:
    # `make floor-model` rewrites the package's own floor model: no config line points at it.
    packaged = Path(str(resources.files("dsp").joinpath("model-floor.json")))
    assert 'installation = "floor"' in next_step(packaged)
    elsewhere = next_step(tmp_path / "floor.json")
    assert (
        elsewhere.startswith("Next: set [dsp.classifier] model = ") and str(tmp_path) in elsewhere
    )
