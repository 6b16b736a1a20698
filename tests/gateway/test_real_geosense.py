"""The geosense_geophones preparation on a tree of walk files made here, laid out as the
source's: four geophone columns per walk, one clip per geophone, split by person."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import InputError
from drivers.recordings import read_recording
from gateway.bench.real import geosense_geophones as geosense
from gateway.bench.real.common import Source

RATE = 1000


def walk(rng: np.random.Generator, first_step_s: float, loudness: tuple[float, ...]) -> np.ndarray:
    """10 s of four geophones: background, then a step every 0.6 s for 5 s, each geophone
    hearing them ``loudness[i]`` x louder than its background."""
    x = 0.01 * rng.standard_normal((10 * RATE, 4))
    t = np.arange(int(0.12 * RATE)) / RATE
    step = np.sin(2 * np.pi * 30.0 * t) * np.hanning(t.size)
    for k in range(9):
        i = int((first_step_s + 0.6 * k) * RATE)
        for g, gain in enumerate(loudness):
            x[i : i + t.size, g] += 0.01 * gain * step
    return x


def write_tree(root: Path, walks: dict[str, np.ndarray]) -> None:
    (root / geosense.WALKS).mkdir(parents=True)
    for name, data in walks.items():
        np.savetxt(root / geosense.WALKS / name, data, delimiter=",", fmt="%.10g")
    for path in geosense.QUIET:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(root / path, np.sin(np.arange(20 * RATE) * 0.3), fmt="%.10g")


def test_each_geophone_of_a_walk_is_a_clip_of_its_own_split_by_person(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(5)
    early = walk(rng, 1.0, (40.0, 30.0, 20.0, 10.0))
    faint = walk(rng, 3.0, (40.0, 1.5, 40.0, 40.0))  # the second geophone barely hears it
    write_tree(tmp_path / "src", {"P2_Shoe3_01.csv": early, "P7_Barefoot_04.csv": faint})
    out = tmp_path / "out"
    out.mkdir()

    geosense.prepare(Source.open(tmp_path / "src", geosense.DATASET), out)

    manifest = json.loads((out / "manifest.json").read_text())
    splits = {f["file"]: f["split"] for f in manifest["files"]}
    assert splits == {
        **{f"P2_Shoe3_01_g{g}.npz": "dev" for g in range(1, 5)},
        **{f"P7_Barefoot_04_g{g}.npz": "heldout" for g in range(1, 5)},
        "quiet_static_noise.npz": "dev",
        "quiet_static2.npz": "heldout",
    }
    assert manifest["n_events"] == 8 and manifest["commit"] == geosense.COMMIT

    clip = read_recording(out / "P2_Shoe3_01_g3.npz")
    geo = clip.channels["geo1"]
    assert geo.kind == "seismic" and geo.rate == RATE and geo.data.shape == (10 * RATE, 1)
    np.testing.assert_allclose(geo.data[:, 0], early[:, 2], rtol=1e-9, atol=1e-12)
    (event,) = clip.truth
    assert event.label == "footstep" and event.extra["detectable"]
    # The span runs from the first step to the last (9 steps from 1.0 s, 0.6 s apart).
    assert 0.9 <= event.t0 <= 1.1 and 5.8 <= event.t1 <= 6.2
    assert clip.meta["subject"] == "P2" and clip.meta["footwear"] == "Shoe3"

    (unheard,) = read_recording(out / "P7_Barefoot_04_g2.npz").truth
    assert not unheard.extra["detectable"]  # counted neither as found nor as missed

    quiet = read_recording(out / "quiet_static2.npz")
    assert quiet.truth == [] and quiet.meta["noise_only"]


def test_a_foreign_tree_or_a_damaged_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty" / geosense.WALKS).mkdir(parents=True)
    with pytest.raises(InputError, match="no walk files"):
        geosense.prepare(Source.open(tmp_path / "empty", geosense.DATASET), tmp_path)
    rng = np.random.default_rng(6)
    write_tree(tmp_path / "src", {"P1_Shoe1_01.csv": walk(rng, 1.0, (20.0,) * 4)[:, :3]})
    with pytest.raises(InputError, match="rows of 3 columns; expected at least 1000 rows of 4"):
        geosense.prepare(Source.open(tmp_path / "src", geosense.DATASET), tmp_path / "out")
    with pytest.raises(InputError, match="not 4 columns of numbers"):
        geosense.read_columns(b"1,2,3,x\n", "P1_Shoe1_01.csv", 4)
