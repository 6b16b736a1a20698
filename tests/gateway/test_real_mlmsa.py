"""The mlmsa-nodes preparation on a tree of SAC cuts made here, laid out as the source's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drivers.errors import InputError
from drivers.recordings import read_recording
from gateway.bench.real import mlmsa_nodes
from gateway.bench.real.common import Source

RATE = 250.0


def sac_bytes(data: np.ndarray, *, order: str = "<", station: str = "EB000207") -> bytes:
    """A minimal evenly sampled SAC file: DELTA, B, E, NPTS, NVHDR, KSTNM and the samples."""
    floats = np.full(70, -12345.0, dtype=f"{order}f4")
    floats[0] = 1.0 / RATE
    floats[5] = 0.0
    floats[6] = (data.size - 1) / RATE
    ints = np.full(40, -12345, dtype=f"{order}i4")
    ints[6] = 6
    ints[9] = data.size
    chars = station.ljust(8).encode() + b"-12345  " * 23
    assert len(chars) == 192
    return floats.tobytes() + ints.tobytes() + chars + data.astype(f"{order}f4").tobytes()


def cut_with_burst(rng: np.random.Generator, at_s: float) -> np.ndarray:
    """6 s of background with a 0.6-s 20-Hz burst starting at ``at_s``."""
    x = 0.5 * rng.standard_normal(int(6 * RATE))
    i = int(at_s * RATE)
    t = np.arange(int(0.6 * RATE)) / RATE
    x[i : i + t.size] += 20.0 * np.sin(2 * np.pi * 20.0 * t) * np.hanning(t.size)
    centred: np.ndarray = x - x.mean()
    return centred


def test_cuts_become_vehicle_clips_split_by_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(3)
    data = tmp_path / "src" / "K-Shape" / "data"
    data.mkdir(parents=True)
    early = cut_with_burst(rng, 2.0)
    late = cut_with_burst(rng, 4.0)
    (data / "220318.190027.EB000207.EHZ.sac").write_bytes(sac_bytes(early))
    (data / "220319.081428.EB000207.EHZ.sac").write_bytes(sac_bytes(late, order=">"))
    out = tmp_path / "out"
    out.mkdir()

    mlmsa_nodes.prepare(Source.open(tmp_path / "src", mlmsa_nodes.DATASET), out)

    manifest = json.loads((out / "manifest.json").read_text())
    splits = {f["file"]: f["split"] for f in manifest["files"]}
    assert splits == {
        "220318.190027.EB000207.EHZ.npz": "dev",
        "220319.081428.EB000207.EHZ.npz": "heldout",
    }
    for name, samples, burst_s in (
        ("220318.190027.EB000207.EHZ.npz", early, 2.0),
        ("220319.081428.EB000207.EHZ.npz", late, 4.0),
    ):
        rec = read_recording(out / name)
        ch = rec.channels["geo1"]
        assert ch.kind == "seismic" and ch.rate == pytest.approx(RATE)
        np.testing.assert_allclose(ch.data.ravel(), samples.astype(np.float32))
        (event,) = rec.truth
        assert event.label == "vehicle" and event.extra["detectable"]
        # The span holds the burst and not much more.
        assert burst_s - 0.3 <= event.t0 <= burst_s + 0.1
        assert burst_s + 0.4 <= event.t1 <= burst_s + 0.9


def test_a_truncated_or_foreign_file_is_named(tmp_path: Path) -> None:
    data = np.zeros(1500)
    whole = sac_bytes(data)
    with pytest.raises(InputError, match="file too short"):
        mlmsa_nodes.read_sac(whole[:-400], "cut.sac")
    with pytest.raises(InputError, match="not a SAC file"):
        mlmsa_nodes.read_sac(b"\x00" * 700, "cut.sac")
    with pytest.raises(InputError, match="shorter than a SAC header"):
        mlmsa_nodes.read_sac(b"abc", "cut.sac")
    src = tmp_path / "src" / "K-Shape" / "data"
    src.mkdir(parents=True)
    with pytest.raises(InputError, match="no SAC cuts"):
        mlmsa_nodes.prepare(Source.open(tmp_path / "src", mlmsa_nodes.DATASET), tmp_path)
