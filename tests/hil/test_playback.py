"""Playing recordings and scenarios through the emulators, as the live gateway hears them."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from drivers.block import SampleBlock
from drivers.errors import RecordingError
from drivers.manager import SensorManager
from drivers.recordings import write_recording
from drivers.recordings.waveforms import Recording
from gateway.cli import main
from gateway.config import load_config
from hil.playback import load_playback
from hil.scenarios import generate
from tests.drivers.seismic_rig import wait_for
from tests.hil.test_hil_command import read_lines_until


@pytest.fixture(scope="module")
def rec() -> Recording:
    return generate("patrol", 60.0, seed=21)


def test_sources_hold_the_device_counts_then_go_quiet(rec: Recording) -> None:
    pb = load_playback(rec)
    geo = rec.channels["geo1"].to_counts()
    src = pb.sources["seismic"]
    assert (src.rate, src.channels) == (500.0, 1)
    assert np.array_equal(src.read(0, len(geo)), geo)
    # Across the end: the last samples, then quiet noise at the same rate, never silence.
    tail = src.read(len(geo) - 10, 1000)
    assert tail.shape == (1000, 1) and np.array_equal(tail[:10], geo[-10:])
    assert 10 < np.std(tail[10:]) < 1000
    mag = pb.sources["magnetometer"].read(len(rec.channels["mag1"]), 100)
    last = rec.channels["mag1"].to_counts()[-50:].mean(axis=0)
    assert np.all(np.abs(mag.mean(axis=0) - last) < 5)  # Earth's field carries on
    assert pb.calibration == {
        "seismic": {"scale": 1e-9, "offset": 0.0, "units": "m/s"},
        "pir": {"scale": 1e-4, "offset": 0.0, "units": "V"},
        "magnetometer": {"scale": 1.0, "offset": 0.0, "units": "nT"},
    }


def test_a_missing_sensor_plays_quiet_background(rec: Recording) -> None:
    only_geo = Recording({"geo1": rec.channels["geo1"]})
    pb = load_playback(only_geo)
    assert set(pb.channels) == {"seismic"}
    pir = pb.sources["pir"].read(0, 500)
    assert pir.shape == (500, 1) and np.abs(pir).max() < 1000  # below the motion threshold
    assert "quiet background" in "\n".join(pb.summary())


def test_a_rate_the_device_cannot_do_is_refused(rec: Recording) -> None:
    ch = rec.channels["geo1"]
    odd = Recording({"geo1": type(ch)("geo1", "seismic", 333.0, ch.data, ch.scale)})
    with pytest.raises(RecordingError, match="333 Hz; resample"):
        load_playback(odd)


def _collect(config_path: Path, need: dict[str, int]) -> dict[str, np.ndarray]:
    config = load_config(config_path)
    got: dict[str, list[SampleBlock]] = defaultdict(list)
    lock = threading.Lock()

    def sink(block: SampleBlock) -> None:
        with lock:
            got[block.sensor].append(block)

    def enough() -> bool:
        with lock:
            return all(sum(len(b) for b in got[n]) >= k for n, k in need.items())

    manager = SensorManager(config.sensors, sink)
    manager.start()
    try:
        wait_for(enough, timeout=30.0, what="samples from every emulator")
    finally:
        manager.stop()
    with lock:
        for name, blocks in got.items():
            scale = {s.name: s.calibration.scale for s in config.sensors}[name]
            assert all(b.scale == scale for b in blocks)
        return {n: np.concatenate([b.data for b in blocks]) for n, blocks in got.items()}


def _find(expected: np.ndarray, got: np.ndarray) -> int:
    """Offset of ``got`` inside ``expected`` (the driver joins a stream already running)."""
    m = min(len(got), 40)
    for off in np.flatnonzero(np.all(expected == got[0], axis=1)):
        if np.array_equal(expected[off : off + m], got[:m]):
            return int(off)
    raise AssertionError("received samples are not a stretch of the recording")


def test_hil_plays_a_recording_file_to_the_real_drivers(rec: Recording, tmp_path: Path) -> None:
    path = write_recording(rec, tmp_path / "patrol.mseed")
    config = tmp_path / "hil.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "--log-level",
            "WARNING",
            "hil",
            "--recording",
            str(path),
            "--speed",
            "2",
            "--write-config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = read_lines_until(proc, "running")
        assert any("plays geo1, 500 Hz x 1" in line for line in lines)
        got = _collect(config, {"geo1": 1000, "pir1": 100, "mag1": 100})
    finally:
        proc.terminate()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode == 0
    # Bit for bit what the recording holds, over the real pty and Modbus links.
    for name, column in (("geo1", slice(None)), ("pir1", slice(0, 1)), ("mag1", slice(None))):
        expected = rec.channels[name].to_counts()
        received = got[name][:, column]
        off = _find(expected, received)
        n = min(len(received), len(expected) - off)
        assert np.array_equal(expected[off : off + n], received[:n])


def test_hil_unknown_scenario_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hil", "--scenario", "picnic"]) == 2
    assert "unknown scenario 'picnic'" in capsys.readouterr().err


def test_hil_unreadable_recording_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1\n2\n3\n")
    assert main(["hil", "--recording", str(bad)]) == 2
    assert "needs its sample rate" in capsys.readouterr().err
