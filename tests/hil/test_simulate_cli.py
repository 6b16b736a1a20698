"""``ugs-gateway simulate``: files that read back, a listing, and clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drivers.recordings import read_recording
from drivers.recordings.waveforms import read_truth
from gateway.cli import main
from hil.scenarios import SCENARIOS, generate


@pytest.mark.parametrize("ext", ["npz", "mseed"])
def test_writes_a_recording_and_truth_that_read_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ext: str
) -> None:
    out = tmp_path / f"patrol.{ext}"
    rc = main(
        ["simulate", "--scenario", "patrol", "--duration", "120", "--seed", "9", "--out", str(out)]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(out) and summary["truth"] == f"{out}.truth.json"
    rec = read_recording(out)
    assert set(rec.channels) == {"geo1", "pir1", "mag1"}
    assert rec.duration == pytest.approx(120.0)
    assert len(rec.truth) == summary["events"] > 0
    truth, header = read_truth(f"{out}.truth.json")
    assert header["meta"]["scenario"] == "patrol" and header["meta"]["seed"] == 9
    # The file holds exactly what the generator makes for this seed.
    again = generate("patrol", 120.0, 9)
    assert np.array_equal(rec.channels["geo1"].to_counts(), again.channels["geo1"].to_counts())
    assert [ev.to_json() for ev in truth] == [ev.to_json() for ev in again.truth]


def test_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in SCENARIOS:
        assert f"  {name} " in listed


def test_unknown_scenario_exits_2_with_the_list(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "simulate",
            "--scenario",
            "picnic",
            "--out",
            str(tmp_path / "x.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown scenario 'picnic'" in proc.stderr
    assert "patrol" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.npz").exists()


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "simulate",
                "--scenario",
                "patrol",
                "--duration",
                "-5",
                "--out",
                str(tmp_path / "x.npz"),
            ]
        )
        == 2
    )
    assert "--duration" in capsys.readouterr().err
    assert (
        main(
            [
                "simulate",
                "--scenario",
                "patrol",
                "--duration",
                "5",
                "--out",
                str(tmp_path / "no-such-dir" / "x.npz"),
            ]
        )
        == 2
    )
    assert "cannot write" in capsys.readouterr().err


def test_a_random_site_writes_what_the_generator_makes_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "roadside.npz"
    args = ["simulate", "--scenario", "roadside", "--duration", "60", "--seed", "12"]
    assert main([*args, "--site", "random", "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    again = generate("roadside", 60.0, 12, site="random")
    rec = read_recording(out)
    assert summary["site"] == "random"
    for name, ch in again.channels.items():
        assert rec.channels[name].rate == ch.rate == summary["channels"][name]["rate"]
        assert np.array_equal(rec.channels[name].data, ch.data)
    _, header = read_truth(f"{out}.truth.json")
    assert header["meta"]["site"]["seismic_rate"] == again.channels["geo1"].rate
