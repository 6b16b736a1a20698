"""Field recording: what the sensors delivered comes back bit for bit from the miniSEED."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drivers.block import SampleBlock
from drivers.recordings import read_recording
from gateway.errors import ConfigError
from gateway.field_recorder import FieldRecorder, RecordConfig, station_code

T0 = 1_795_800_000.0  # a whole minute, so hourly-style rotation falls on block edges
RATE = {"geo1": 500.0, "mag1": 50.0}


def blocks(seconds: float, block_s: float = 0.2) -> tuple[list[SampleBlock], dict[str, np.ndarray]]:
    """Blocks of two sensors covering ``seconds`` from T0, and the raw samples they carry."""
    rng = np.random.default_rng(5)
    out: list[SampleBlock] = []
    raw: dict[str, np.ndarray] = {}
    for name, rate in RATE.items():
        channels = 1 if name == "geo1" else 3
        n = round(seconds * rate)
        data = rng.integers(-50_000, 50_000, (n, channels)).astype(np.int32)
        raw[name] = data
        step = round(block_s * rate)
        kind = "seismic" if name == "geo1" else "magnetometer"
        scale = 1e-9 if name == "geo1" else 1.0
        for i in range(0, n, step):
            out.append(
                SampleBlock(name, kind, rate, T0 + i / rate, i, data[i : i + step], scale=scale)
            )
    out.sort(key=lambda b: b.t0)
    return out, raw


def counts(path: list[Path] | Path, name: str) -> np.ndarray:
    rec = read_recording([str(p) for p in (path if isinstance(path, list) else [path])])
    channel = rec.channels[name]
    return np.round(channel.data / channel.scale).astype(np.int64)


def run(
    recorder: FieldRecorder, items: list[SampleBlock], requests: dict[int, tuple[str, float, float]]
) -> None:
    recorder.start()
    for i, block in enumerate(items):
        recorder.submit(block)
        if i in requests:
            recorder.detection(*requests[i])
    recorder.stop(timeout=30)


def test_continuous_recording_rotates_and_reads_back_bit_exact(tmp_path: Path) -> None:
    config = RecordConfig(mode="continuous", directory=tmp_path / "rec", rotate_s=60)
    recorder = FieldRecorder(config, state_dir=tmp_path, node_id="ugs-0007")
    items, raw = blocks(150.0)
    run(recorder, items, {})
    files = sorted((tmp_path / "rec").glob("*.mseed"))
    assert len(files) == 3  # 150 s of data in 60 s files
    assert all(".UGS0007." in f.name for f in files)
    for name, data in raw.items():
        assert np.array_equal(counts(files, name), data)
    assert recorder.status()["dropped_blocks"] == 0


def test_snippets_cover_the_event_with_pre_and_post_roll(tmp_path: Path) -> None:
    config = RecordConfig(mode="snippets", pre_s=5, post_s=5)
    recorder = FieldRecorder(config, state_dir=tmp_path, node_id="ugs-0007")
    items, raw = blocks(60.0)
    # The detection of an event at 20-30 s is known once the data has reached ~33 s.
    at = next(i for i, b in enumerate(items) if b.t0 >= T0 + 33)
    run(recorder, items, {at: ("ugs-0007-1-1", T0 + 20, T0 + 30)})
    snippet = tmp_path / "recordings" / "ugs-0007-1-1.mseed"
    assert snippet.is_file()
    assert [p.name for p in (tmp_path / "recordings").iterdir()] == [snippet.name]
    rec = read_recording([str(snippet)])
    assert rec.start_time == pytest.approx(T0 + 15, abs=0.3)
    assert rec.duration == pytest.approx(20, abs=0.5)
    first = round((rec.start_time - T0) * RATE["geo1"])
    got = counts(snippet, "geo1")
    assert np.array_equal(got, raw["geo1"][first : first + len(got)])
    assert recorder.status()["snippets_written"] == 1


def test_snippets_keep_under_the_disk_cap(tmp_path: Path) -> None:
    config = RecordConfig(mode="snippets", pre_s=1, post_s=1, max_bytes=150_000)
    recorder = FieldRecorder(config, state_dir=tmp_path, node_id="ugs-0007")
    items, _ = blocks(120.0)
    requests = {}
    for k in range(10):  # a detection every 10 s
        at = next(i for i, b in enumerate(items) if b.t0 >= T0 + 10 * k + 8)
        requests[at] = (f"ugs-0007-1-{k + 1}", T0 + 10 * k + 2, T0 + 10 * k + 6)
    run(recorder, items, requests)
    files = list((tmp_path / "recordings").glob("*.mseed"))
    assert sum(f.stat().st_size for f in files) <= 150_000
    assert 0 < len(files) < 10
    assert (tmp_path / "recordings" / "ugs-0007-1-10.mseed") in files  # the newest stay


def test_an_unwritable_directory_is_reported_not_raised_from_the_thread(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the recordings should go")
    with pytest.raises(Exception, match="cannot create the recording directory"):
        FieldRecorder(
            RecordConfig(mode="continuous", directory=blocker), state_dir=tmp_path, node_id="x"
        )


def test_record_section_validation() -> None:
    from gateway.config import parse_config

    base = {
        "node": {"id": "ugs-0007", "site": "s"},
        "sensors": [
            {"name": "geo1", "kind": "seismic", "transport": "serial", "port": "/dev/ttyUSB0",
             "sample_rate": 500}
        ],
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"record\.rotate_s"):
        parse_config({**base, "record": {"mode": "continuous", "rotate_s": 1}})
    assert station_code("ugs-0007") == "UGS0007"
    assert station_code("a-very-long-node-name-42") == "DENAME42"
