"""The digitizer emulator speaks docs/seismic-protocol.md, paced, and obeys its faults.

Read here with plain pyserial and the codec, not the driver, so the emulator is checked on
its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import serial

from drivers.stream.codec import FLAG_BOOT, FLAG_CLIP, Frame, StreamDecoder
from hil.emulators.digitizer import DigitizerEmulator
from hil.emulators.faults import Faults
from hil.emulators.source import ArraySource, FunctionSource
from tests.drivers.modbus_helpers import wait_until

RATE = 1000


class Reader:
    def __init__(self, path: str) -> None:
        self.port = serial.serial_for_url(path, timeout=0.05)
        self.decoder = StreamDecoder()
        self.frames: list[Frame] = []
        self.crc_errors = 0
        self.garbage = 0

    def pump(self, until: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "timed out waiting for frames"
            result = self.decoder.feed(self.port.read(4096))
            self.frames += result.frames
            self.crc_errors += result.crc_errors
            self.garbage += result.garbage_bytes

    def samples(self) -> np.ndarray:
        return np.concatenate([f.samples for f in self.frames])


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[DigitizerEmulator, Reader]]]:
    started: list[tuple[DigitizerEmulator, Reader]] = []

    def make(
        source: ArraySource | FunctionSource, **kwargs: object
    ) -> tuple[DigitizerEmulator, Reader]:
        kwargs.setdefault("link", tmp_path / "by-id" / "usb-digitizer")
        emulator = DigitizerEmulator(source, **kwargs)  # type: ignore[arg-type]
        path = emulator.start()
        reader = Reader(path)
        started.append((emulator, reader))
        return emulator, reader

    yield make
    for emulator, reader in started:
        reader.port.close()
        emulator.stop()


def noise(n: int, channels: int = 3, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-(1 << 23), 1 << 23, (n, channels))


def test_frames_carry_the_source_with_counter_and_seq_in_step(
    make: Callable[..., tuple[DigitizerEmulator, Reader]],
) -> None:
    data = noise(5000)
    emulator, reader = make(ArraySource(data, RATE, loop=True))
    reader.pump(lambda: len(reader.frames) >= 40)
    frames = reader.frames
    assert all(len(f) == 20 and f.rate == RATE and f.channels == 3 for f in frames)
    first = frames[0].counter
    assert [f.counter for f in frames] == [first + 20 * i for i in range(len(frames))]
    assert [f.seq for f in frames] == [(frames[0].seq + i) % 65536 for i in range(len(frames))]
    got = reader.samples()
    assert np.array_equal(got, data[first : first + len(got)])  # counter == source index here
    assert frames[0].flags & FLAG_BOOT if first == 0 else True
    assert not any(f.flags & FLAG_BOOT for f in frames[1:])
    assert reader.crc_errors == reader.garbage == 0
    assert emulator.path == str(emulator.link.path) and emulator.pty_path is not None


@pytest.mark.parametrize("speed", [1.0, 4.0])
def test_paced_at_the_source_rate_times_speed(
    make: Callable[..., tuple[DigitizerEmulator, Reader]], speed: float
) -> None:
    seconds = 0.6
    emulator, reader = make(ArraySource(noise(int(RATE * seconds * speed)), RATE), speed=speed)
    reader.pump(emulator.finished.is_set)
    elapsed = time.time() - emulator.t_start
    # Never ahead of the source's clock; behind it only by what a busy machine costs (a
    # stream that ignored the speed would take four times as long at 4 x).
    assert seconds * 0.9 < elapsed < seconds * 2


def test_the_source_ending_finishes_the_stream(
    make: Callable[..., tuple[DigitizerEmulator, Reader]],
) -> None:
    data = noise(257, 1)
    emulator, reader = make(ArraySource(data, 250, loop=False), speed=2.0)
    reader.pump(
        lambda: (
            sum(len(f) for f in reader.frames) >= 257 - reader.frames[0].counter
            if reader.frames
            else False
        )
    )
    assert emulator.finished.wait(5)
    assert len(reader.frames[-1]) == 2  # 257 = 51 frames of 5 and one of 2
    assert np.array_equal(reader.samples(), data[reader.frames[0].counter :])


def test_full_scale_is_clipped_and_flagged(
    make: Callable[..., tuple[DigitizerEmulator, Reader]],
) -> None:
    source = FunctionSource(lambda t: 1e7 * np.sin(2 * np.pi * 5 * t), RATE, channels=1)
    _, reader = make(source, counter_start=0)
    reader.pump(lambda: len(reader.frames) >= 15)
    got = reader.samples()
    assert got.max() == (1 << 23) - 1 and got.min() == -(1 << 23)
    assert any(f.flags & FLAG_CLIP for f in reader.frames)
    assert not all(f.flags & FLAG_CLIP for f in reader.frames)


def test_32_bit_samples(make: Callable[..., tuple[DigitizerEmulator, Reader]]) -> None:
    data = np.random.default_rng(2).integers(-(1 << 31), (1 << 31) - 1, (2000, 2))
    _, reader = make(ArraySource(data, 500, loop=True), bits=32)
    reader.pump(lambda: len(reader.frames) >= 10)
    f = reader.frames[0]
    assert f.bits == 32 and len(f) == 10
    assert np.array_equal(reader.samples(), data[f.counter : f.counter + len(reader.samples())])


def test_faults_show_on_the_wire(make: Callable[..., tuple[DigitizerEmulator, Reader]]) -> None:
    faults = Faults()
    emulator, reader = make(ArraySource(noise(20_000), RATE, loop=True), faults=faults)
    reader.pump(lambda: len(reader.frames) >= 5)
    faults.drop_next(2)
    faults.corrupt_next(1)
    faults.inject_garbage(b"\x00" * 33)
    reader.pump(lambda: faults.injected["corrupted"] == 1 and len(reader.frames) >= 20)
    counters = [f.counter for f in reader.frames]
    jumps = np.diff(counters)
    # two dropped and one corrupted frame: the stream skips 3 frames' worth of samples
    assert sum(jumps) - 20 * (len(jumps)) == 60
    assert reader.crc_errors == 1
    assert reader.garbage >= 33
    assert faults.injected["dropped"] == 2 and faults.injected["garbage_bytes"] == 33
    faults.reboot()
    reader.pump(lambda: any(f.flags & FLAG_BOOT and f.counter < 1000 for f in reader.frames[20:]))
    assert emulator.samples_lost == 40


def test_stall_freezes_sampling_and_resume_carries_on(
    make: Callable[..., tuple[DigitizerEmulator, Reader]],
) -> None:
    faults = Faults()
    emulator, reader = make(ArraySource(noise(20_000), RATE, loop=True), faults=faults)
    reader.pump(lambda: len(reader.frames) >= 3)
    faults.stall()
    # Every frame the emulator sent before it stalled has landed.
    reader.pump(lambda: len(reader.frames) >= emulator.frames_sent)
    before = len(reader.frames)
    reader.port.timeout = 0.3
    assert reader.port.read(1) == b""  # nothing while stalled
    faults.resume()
    reader.pump(lambda: len(reader.frames) >= before + 5)
    counters = [f.counter for f in reader.frames]
    assert np.all(np.diff(counters) == 20)  # no samples lost: it froze


def test_unplug_removes_the_link_and_replug_brings_a_new_pty(
    make: Callable[..., tuple[DigitizerEmulator, Reader]],
) -> None:
    faults = Faults()
    emulator, reader = make(ArraySource(noise(20_000), RATE, loop=True), faults=faults)
    reader.pump(lambda: len(reader.frames) >= 2)
    faults.unplug()
    with pytest.raises(serial.SerialException):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            reader.port.read(4096)
    assert not os.path.lexists(emulator.path)
    reader.port.close()
    faults.replug()
    assert wait_until(lambda: os.path.lexists(emulator.path), 5)
    # The kernel may hand out the same pty number again, as it does ttyUSB numbers.
    assert os.path.realpath(emulator.path) == emulator.pty_path
    reader.port = serial.serial_for_url(emulator.path, timeout=0.05)
    reader.frames.clear()
    reader.pump(lambda: len(reader.frames) >= 3)
    assert emulator.samples_lost > 0  # it kept sampling while unplugged


def test_a_rate_the_protocol_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="not a digitizer rate"):
        DigitizerEmulator(ArraySource(noise(10), 333))
