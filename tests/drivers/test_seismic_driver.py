"""The seismic driver against the real emulator over real ptys: data, timing, and faults.

Every fault is injected into a running stream; the driver must recover by itself, say what
happened in ``status()``, and carry on delivering samples bit-exact with the source.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.block import SampleBlock
from drivers.registry import driver_class
from drivers.seismic import SeismicDriver
from tests.drivers.seismic_rig import Rig, wait_for

RATE = 1000


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig(tmp_path) as running:
        running.wait_samples(100)
        yield running


def test_registered_for_seismic() -> None:
    assert driver_class("seismic") is SeismicDriver


def test_1000_hz_3_components_bit_exact_with_correct_timestamps(tmp_path: Path) -> None:
    # Start the counter just below 2**32 so that the stream also crosses the wrap.
    with Rig(tmp_path, counter_start=(1 << 32) - 700, seconds=5) as rig:
        rig.wait_samples(2000)
        status = rig.status()
    blocks = rig.received()
    assert rig.check_bit_exact() >= 2000
    indices = [b.index for b in blocks]
    assert indices[0] == 0
    assert all(b.index == a.index + len(a) and b.gap == 0 for a, b in itertools.pairwise(blocks))
    offset = rig.source_offset()
    for block in blocks:
        expected = rig.emulator.t_start + (offset + block.index) / RATE
        # the sample's true time plus the pty's latency: whatever the first frame met, and
        # once the anchor has settled on the earliest arrivals, a few ms at most
        error = block.t0 - expected
        assert -0.001 < error < (0.05 if block.index < 1000 else 0.015), block.index
        assert block.t1 == pytest.approx(block.t0 + len(block) / RATE)
        assert (block.sensor, block.kind, block.rate) == ("geo1", "seismic", RATE)
        assert block.data.dtype == np.int32 and block.data.shape[1] == 3
        assert (block.scale, block.offset) == (2.5e-9, 3.0)
    first = blocks[0]
    np.testing.assert_allclose(first.physical(), (first.data - 3.0) * 2.5e-9)
    assert status["state"] == "ok", status
    assert status["gaps"] == status["crc_errors"] == status["resyncs"] == 0
    assert status["reanchors"] == 0 and status["timeouts"] == 0
    assert status["samples"] >= 2000 and status["frames_ok"] >= 100
    assert status["last_sample_age_s"] is not None and status["last_sample_age_s"] < 0.5
    json.dumps(status)  # plain JSON types only


def test_garbage_on_the_line_is_skipped_and_counted(rig: Rig) -> None:
    rig.faults.inject_garbage(bytes(range(0x20, 0x60)) * 4)
    rig.wait_samples(200)
    wait_for(lambda: rig.status()["garbage_bytes"] >= 256)
    status = rig.status()
    assert status["resyncs"] >= 1
    assert status["gaps"] == 0  # garbage between frames costs no samples
    assert status["state"] == "degraded" and "bad bytes" in status["error"]
    rig.check_bit_exact()


def test_corrupted_frames_are_rejected_as_a_counted_gap(rig: Rig) -> None:
    rig.faults.corrupt_next(3)
    wait_for(lambda: rig.status()["crc_errors"] >= 3)
    rig.wait_samples(100)
    status = rig.status()
    assert status["crc_errors"] == 3
    assert status["samples_lost"] == 3 * 20 and status["gaps"] >= 1
    assert status["state"] == "degraded"
    gapped = [b for b in rig.received() if b.gap]
    assert sum(b.gap for b in gapped) == 60
    rig.check_bit_exact()


def test_dropped_frames_show_as_exact_gaps(rig: Rig) -> None:
    rig.faults.drop_next(5)
    wait_for(lambda: rig.status()["gaps"] >= 1)
    rig.wait_samples(100)
    status = rig.status()
    assert (status["gaps"], status["samples_lost"], status["frames_lost"]) == (1, 100, 5)
    assert status["crc_errors"] == 0
    (gapped,) = [b for b in rig.received() if b.gap]
    assert gapped.gap == 100
    rig.check_bit_exact()  # the index skipped exactly the lost samples


def test_stall_counts_timeouts_then_reanchors(tmp_path: Path) -> None:
    kwargs = {"drift_tolerance_s": 0.05, "drift_window_s": 1.0}
    with Rig(tmp_path, driver_kwargs=kwargs) as rig:
        rig.wait_samples(1200)  # past the settling window
        rig.faults.stall(0.6)
        wait_for(lambda: rig.status()["timeouts"] >= 2, what="timeouts while stalled")
        offset = rig.source_offset()

        def follows_the_device() -> bool:
            # After the re-anchor the timestamps follow the device again (0.6 s later than
            # before). A host starved of CPU may re-anchor once more on its own latency
            # before that; what matters is where the stamps settle.
            last = rig.received()[-1]
            expected = rig.emulator.t_start + (offset + last.index) / RATE + 0.6
            return abs(last.t0 - expected) < 0.06

        wait_for(follows_the_device, timeout=8, what="timestamps that follow the device")
        status = rig.status()
    assert status["gaps"] == 0  # the device froze: no sample was lost
    assert status["reanchors"] >= 1
    rig.check_bit_exact()


def test_silent_device_goes_down_and_comes_back_with_a_gap(rig: Rig) -> None:
    rig.faults.silent(True)
    wait_for(lambda: rig.status()["state"] == "down", what="state down")
    assert "no data" in rig.status()["error"]
    rig.faults.silent(False)
    wait_for(lambda: rig.status()["gaps"] >= 1)
    rig.wait_samples(100)
    status = rig.status()
    assert status["state"] == "degraded" and status["samples_lost"] > 0
    assert status["reanchors"] == 0  # the counter still told the truth
    rig.check_bit_exact()


def test_usb_unplug_and_replug_via_the_stable_path(rig: Rig) -> None:
    rig.faults.unplug()
    # First the read fails, then reopening finds no device: the technician sees the latter.
    # On a busy machine the stream can go stale (down) before the reader notices either.
    wait_for(
        lambda: "no such device: is it plugged in?" in (rig.status()["error"] or ""),
        what="the missing device named",
    )
    assert rig.status()["state"] == "down"
    assert not os.path.lexists(rig.config.port)
    time.sleep(0.3)  # let it fail a few reopen attempts against the missing path
    rig.faults.replug()
    wait_for(lambda: rig.status()["reconnects"] == 1, what="reconnect")
    rig.wait_samples(200)
    status = rig.status()
    assert status["state"] == "degraded"  # recovered, with a recent problem on record
    assert status["gaps"] >= 1 and status["samples_lost"] > 0  # it sampled while away
    rig.check_bit_exact()
    assert rig.driver._thread is not None and rig.driver._thread.is_alive()


def test_device_reboot_is_a_counted_reset(rig: Rig) -> None:
    rig.faults.reboot()
    wait_for(lambda: rig.status()["resets"] == 1)
    rig.wait_samples(100)
    status = rig.status()
    assert status["reanchors"] == 1
    assert "restarted" in status["error"]
    blocks = rig.received()
    assert all(b.index >= a.index + len(a) for a, b in itertools.pairwise(blocks))


def test_config_mismatch_is_reported_not_crashed(tmp_path: Path) -> None:
    with Rig(tmp_path, rate=500, channels=2, config_rate=1000, config_channels=3) as rig:
        wait_for(lambda: rig.status()["mismatched_frames"] >= 5)
        status = rig.status()
    assert status["state"] == "degraded"
    assert "2 channel(s) at 500 Hz" in status["error"]
    assert "channels = 3, sample_rate = 1000" in status["error"]
    assert rig.received() == [] and status["frames_ok"] == 0


def test_missing_port_at_start_is_down_until_it_appears(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.driver.start()
    try:
        wait_for(lambda: rig.status()["state"] == "down")
        assert "no such device" in rig.status()["error"]
        rig.emulator.start()
        rig.wait_samples(100)
        assert rig.status()["state"] in ("degraded", "ok")
        rig.check_bit_exact()
    finally:
        rig.stop()


def test_a_failing_sink_never_kills_the_reader(tmp_path: Path) -> None:
    calls: list[SampleBlock] = []

    def flaky(block: SampleBlock) -> None:
        calls.append(block)
        if len(calls) % 2:
            raise RuntimeError("queue full")

    with Rig(tmp_path, sink=flaky) as rig:
        wait_for(lambda: len(calls) >= 10)
        status = rig.status()
    assert status["sink_errors"] >= 5
    assert status["state"] == "ok"


def test_stop_is_prompt_and_final(rig: Rig) -> None:
    started = time.monotonic()
    rig.driver.stop(timeout=2)
    assert time.monotonic() - started < 1.0
    assert rig.status()["state"] == "stopped"
    assert not rig.driver._thread or not rig.driver._thread.is_alive()


def test_socket_url_port(tmp_path: Path) -> None:
    """A digitizer behind a serial-to-Ethernet server: port = "socket://HOST:PORT"."""
    import socket
    import threading

    from drivers.config import sensor_config
    from drivers.stream.codec import encode_frame

    server = socket.create_server(("127.0.0.1", 0))
    config = sensor_config(
        name="geo1",
        kind="seismic",
        transport="serial",
        port=f"socket://127.0.0.1:{server.getsockname()[1]}",
        sample_rate=500,
        channels=2,
    )
    data = np.random.default_rng(4).integers(-(1 << 23), 1 << 23, (1000, 2)).astype(np.int32)
    blocks: list[SampleBlock] = []
    done = threading.Event()

    def device() -> None:  # streams 10-sample frames every 20 ms, like the real thing
        conn, _ = server.accept()
        with conn:
            k = 0
            while not done.wait(0.02):
                start = 10 * k % len(data)
                frame = encode_frame(data[start : start + 10], seq=k, counter=10 * k, rate=500)
                try:
                    conn.sendall(frame)
                except OSError:
                    return  # the driver hung up (stopped)
                k += 1

    sender = threading.Thread(target=device, daemon=True)
    sender.start()
    driver = SeismicDriver(config, blocks.append)
    driver.start()
    try:
        wait_for(lambda: sum(len(b) for b in blocks) >= 300, what="300 samples over TCP")
    finally:
        driver.stop()
        done.set()
        sender.join(5)
        server.close()
    got = np.concatenate([b.data for b in blocks])
    first = int(np.flatnonzero((data == got[0]).all(axis=1))[0])
    np.testing.assert_array_equal(got, data[(first + np.arange(len(got))) % len(data)])
    assert driver.status()["crc_errors"] == 0


def test_unexpected_errors_are_reported_and_retried(tmp_path: Path) -> None:
    """Even a library failing in an unforeseen way leaves the reader alive and says why."""
    import serial

    rig = Rig(tmp_path)
    failures = [RuntimeError("driver bug in the USB stack"), ValueError("bad setting")]

    def flaky_open(*args: object, **kwargs: object) -> object:
        if failures:
            raise failures.pop(0)
        return serial.serial_for_url(*args, **kwargs)

    rig.driver = SeismicDriver(rig.config, rig._collect, opener=flaky_open)
    with rig:
        rig.wait_samples(200)
        status = rig.status()
    assert not failures
    assert status["samples"] >= 200
    rig.check_bit_exact()
