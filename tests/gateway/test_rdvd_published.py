"""rdvd_traffic's window files read as published: one axis each, the file's own labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.bench import rdvd_published


def _window(path: Path, *, stalled: bool = False) -> None:
    # 60 s of a roadside axis at ~10.6 Hz (94-ms steps), a car at 40 s, labelled on site.
    rng = np.random.default_rng(2)
    n = 640
    t_ms = 1610678462805 + np.arange(n) * 94
    if stalled:
        t_ms[300:] = t_ms[300]  # the logger's clock stops: no rate to read from it
    t = np.arange(n) * 0.094
    field = 430 + 4 * rng.standard_normal(n) + 160 * np.exp(-0.5 * ((t - 40.0) / 0.4) ** 2)
    label = (np.abs(t - 40.0) < 1.0).astype(int)
    columns = zip(t_ms, field, label, strict=True)
    rows = [f"{i},{ms},{round(v)},{lab}" for i, (ms, v, lab) in enumerate(columns)]
    path.write_text("\n".join(rows) + "\n")


def test_each_window_file_is_scored_against_its_own_labels(tmp_path, capsys) -> None:
    folder = tmp_path / "Datasets" / "traffic"
    folder.mkdir(parents=True)
    _window(folder / "sample1.txt")
    _window(folder / "sample2.txt", stalled=True)
    assert rdvd_published.main([str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    every = report["all"]
    assert every["files"] == 2 and every["not read"] == 1
    assert every["passes"] == 1 and every["found"] == 1 and every["away"] == 0


def test_a_folder_without_window_files_is_said_so(tmp_path) -> None:
    with pytest.raises(SystemExit, match="no sample"):
        rdvd_published.main([str(tmp_path)])
