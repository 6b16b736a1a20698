"""rdvd_traffic's window files read as published: one axis each, the file's own labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gateway.bench import rdvd_published


def _window(path: Path, *, clock: str = "steady", car_at: float = 40.0) -> None:
    # 60 s of a roadside axis at ~10.6 Hz (94-ms steps), a car, labelled on site.
    rng = np.random.default_rng(2)
    n = 640
    t_ms = 1610678462805 + np.arange(n) * 94
    if clock == "stalled":
        t_ms[300:] = t_ms[300]  # the logger's clock stops: no rate to read from it
    elif clock == "bursts":
        # It pauses 5 s, then replays what it held 10 ms apart: read at its usual step.
        t_ms[290:340] = t_ms[290] + 5000 + np.arange(50) * 10
    t = np.arange(n) * 0.094
    field = 430 + 4 * rng.standard_normal(n) + 160 * np.exp(-0.5 * ((t - car_at) / 0.4) ** 2)
    label = (np.abs(t - car_at) < 1.0).astype(int)
    columns = zip(t_ms, field, label, strict=True)
    rows = [f"{i},{ms},{round(v)},{lab}" for i, (ms, v, lab) in enumerate(columns)]
    path.write_text("\n".join(rows) + "\n")


def _three_windows(checkout: Path) -> None:
    folder = checkout / "Datasets" / "traffic"
    folder.mkdir(parents=True)
    _window(folder / "sample1.txt")
    _window(folder / "sample2.txt", clock="stalled")
    # A car while the clock replays in bursts: its label is where the reader put its samples.
    _window(folder / "sample3.txt", clock="bursts", car_at=29.0)


def test_each_window_file_is_scored_against_its_own_labels(tmp_path, capsys) -> None:
    _three_windows(tmp_path)
    assert rdvd_published.main([str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    every = report["all"]
    assert every["files"] == 3 and every["not read"] == 1
    assert every["passes"] == 2 and every["found"] == 2 and every["away"] == 0


def test_a_checkout_without_window_files_is_said_so(tmp_path, capsys) -> None:
    assert rdvd_published.main([str(tmp_path)]) == 2
    assert "Datasets/traffic: no such folder" in capsys.readouterr().err
    (tmp_path / "Datasets" / "traffic").mkdir(parents=True)
    assert rdvd_published.main([str(tmp_path)]) == 2
    assert "no sampleN.txt window files" in capsys.readouterr().err


def test_a_window_file_that_is_not_numbers_is_named(tmp_path, capsys) -> None:
    folder = tmp_path / "Datasets" / "traffic"
    folder.mkdir(parents=True)
    _window(folder / "sample1.txt")
    (folder / "sample2.txt").write_bytes(b"\x00\xffgarbage,,\n1,2\n")
    assert rdvd_published.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "sample2.txt" in err and "Traceback" not in err


def test_every_other_sample_reads_the_windows_as_a_slower_logger(tmp_path, capsys) -> None:
    _three_windows(tmp_path)
    assert rdvd_published.main([str(tmp_path), "--every", "2", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)["all"]
    assert every["files"] == 3 and every["not read"] == 1
    assert every["passes"] == 2 and every["found"] == 2 and every["away"] == 0
    assert rdvd_published.main([str(tmp_path), "--every", "0"]) == 2
    assert "--every 0" in capsys.readouterr().err
