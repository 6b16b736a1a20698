"""The streaming miniSEED recorder: exact data, rotation, disk cap, and surviving a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from drivers.block import SampleBlock
from drivers.errors import RecordingError
from drivers.recordings import read_recording
from drivers.recordings.mseed_writer import MiniSeedWriter

T0 = 1795795230.0  # 30 s past a whole hour (and minute)


def _stream(seconds: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    geo = np.round(np.cumsum(rng.standard_normal(int(500 * seconds))) * 50).astype(np.int32)
    mag = (
        np.array([20_000, -1_500, 44_000]) + rng.integers(-3, 4, size=(int(50 * seconds), 3))
    ).astype(np.int32)
    return geo, mag


def _record(writer: MiniSeedWriter, geo: np.ndarray, mag: np.ndarray, block: int = 50) -> None:
    for k in range(0, geo.size, block):
        writer.append(
            SampleBlock(
                "geo1", "seismic", 500.0, T0 + k / 500, k, geo[k : k + block, None], scale=1e-9
            )
        )
        if k % (block * 10) == 0:
            j = k // 10
            writer.append(
                SampleBlock(
                    "mag1", "magnetometer", 50.0, T0 + j / 50, j, mag[j : j + block], scale=1.0
                )
            )


def test_rotates_by_data_time_and_reads_back_bit_exact(tmp_path: Path) -> None:
    geo, mag = _stream(200.0)
    with MiniSeedWriter(tmp_path, rotate_s=60.0) as writer:
        _record(writer, geo, mag)
        status = writer.status()
    files = sorted(tmp_path.iterdir())
    # 30 s into the first minute, 200 s of data: four one-minute files.
    assert [f.name for f in files] == [
        "XX.UGS.20261127T160000Z.mseed",
        "XX.UGS.20261127T160100Z.mseed",
        "XX.UGS.20261127T160200Z.mseed",
        "XX.UGS.20261127T160300Z.mseed",
    ]
    assert status["files_opened"] == 4 and status["write_errors"] == 0
    rec = read_recording(files)
    assert rec.start_time == pytest.approx(T0, abs=1e-6)
    assert np.array_equal(rec.channels["geo1"].to_counts()[:, 0], geo)
    assert np.array_equal(rec.channels["mag1"].to_counts(), mag)
    assert rec.channels["geo1"].valid is None  # contiguous across file boundaries
    # Each file alone is a valid recording too.
    for f in files:
        assert read_recording(f).channels["geo1"].rate == 500.0


def test_gaps_in_blocks_become_invalid_samples(tmp_path: Path) -> None:
    geo, _ = _stream(20.0)
    with MiniSeedWriter(tmp_path) as writer:
        for k in range(0, geo.size, 100):
            if 3000 <= k < 3500:  # a dropout of one second
                continue
            writer.append(
                SampleBlock(
                    "geo1", "seismic", 500.0, T0 + k / 500, k, geo[k : k + 100, None], scale=1e-9
                )
            )
    ch = read_recording(sorted(tmp_path.iterdir())).channels["geo1"]
    assert ch.valid is not None
    assert np.flatnonzero(~ch.valid).tolist() == list(range(3000, 3500))
    keep = ch.valid
    assert np.array_equal(ch.to_counts()[keep, 0], geo[keep])


def test_disk_cap_deletes_the_oldest_files(tmp_path: Path) -> None:
    geo, mag = _stream(600.0)
    with MiniSeedWriter(tmp_path, rotate_s=60.0, max_bytes=250_000) as writer:
        _record(writer, geo, mag)
        status = writer.status()
    files = sorted(tmp_path.iterdir())
    total = sum(f.stat().st_size for f in files)
    assert status["files_deleted"] >= 1
    assert total <= 250_000 + max(f.stat().st_size for f in files)
    # What is left is the most recent data, still readable and exact.
    assert files[-1].name == "XX.UGS.20261127T161000Z.mseed"
    rec = read_recording(files)
    n = len(rec.channels["geo1"])
    assert np.array_equal(rec.channels["geo1"].to_counts()[:, 0], geo[-n:])


def test_refuses_floats_and_bad_codes(tmp_path: Path) -> None:
    with pytest.raises(RecordingError):
        MiniSeedWriter(tmp_path, station="bad station")
    with MiniSeedWriter(tmp_path) as writer, pytest.raises(RecordingError, match="integer"):
        writer.append_samples("geo1", T0, 500.0, np.zeros(10))


def test_wide_jumps_fall_back_to_plain_integers(tmp_path: Path) -> None:
    data = np.array([0, 2**31 - 1, -(2**31), 5] * 50, dtype=np.int32)
    with MiniSeedWriter(tmp_path) as writer:
        writer.append_samples(
            "mag1", T0, 50.0, np.repeat(data[:, None], 3, axis=1), kind="magnetometer", scale=1.0
        )
    ch = read_recording(sorted(tmp_path.iterdir())).channels["mag1"]
    assert np.array_equal(ch.to_counts()[:, 0], data)


WRITER_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from drivers.recordings.mseed_writer import MiniSeedWriter
    w = MiniSeedWriter(sys.argv[1], rotate_s=5.0, flush_interval_s=1.0)
    t0, k = 1795795200.0, 0
    while True:   # writes until killed
        block = ((np.arange(k, k + 50) * 7919) % 20001 - 10000).astype(np.int32)
        w.append_samples("geo1", t0 + k / 500.0, 500.0, block, kind="seismic", scale=1e-9)
        k += 50
""")


def test_survives_sigkill_mid_write(tmp_path: Path) -> None:
    """Kill a recorder while it writes: every file, including the last, stays readable."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(tmp_path)], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60.0
        while len(list(tmp_path.glob("*.mseed"))) < 4:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the recorder did not rotate in time"
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
    files = sorted(tmp_path.glob("*.mseed"))
    expected_all = ((np.arange(10_000_000) * 7919) % 20001 - 10000).astype(np.int32)
    for f in files[:-1]:
        ch = read_recording(f).channels["geo1"]
        assert len(ch) == 2500  # five seconds at 500 Hz
    rec = read_recording(files)
    counts = rec.channels["geo1"].to_counts()[:, 0]
    assert rec.channels["geo1"].valid is None
    assert np.array_equal(counts, expected_all[: counts.size])


def test_a_torn_last_record_is_read_around_and_cut_before_appending(tmp_path: Path) -> None:
    """What a kill between two pages of a write() leaves: whole records, then part of one."""
    block = ((np.arange(5000) * 7919) % 20001 - 10000).astype(np.int32)
    with MiniSeedWriter(tmp_path, record_length=512) as writer:
        writer.append_samples("geo1", T0, 500.0, block[:2500], kind="seismic", scale=1e-9)
    (path,) = tmp_path.glob("*.mseed")
    whole = path.read_bytes()
    os.truncate(path, len(whole) - 60)  # the last record loses its tail
    torn = read_recording(path).channels["geo1"].to_counts()[:, 0]
    assert 0 < torn.size < 2500
    assert np.array_equal(torn, block[: torn.size])
    # A recorder restarted in the same period cuts the torn record and appends after it.
    with MiniSeedWriter(tmp_path, record_length=512) as writer:
        writer.append_samples("geo1", T0 + 5.0, 500.0, block[2500:], kind="seismic", scale=1e-9)
    rec = read_recording(sorted(tmp_path.glob("*.mseed")))
    assert rec.channels["geo1"].valid is not None  # the torn record's samples are a gap
    assert not rec.channels["geo1"].valid.all()
