"""Shared pieces of the Modbus driver and emulator tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.block import SampleBlock
from drivers.config import PolledSensorConfig, sensor_config


class Collector:
    """A block sink that tests can wait on."""

    def __init__(self) -> None:
        self.blocks: list[SampleBlock] = []
        self._cond = threading.Condition()

    def __call__(self, block: SampleBlock) -> None:
        with self._cond:
            self.blocks.append(block)
            self._cond.notify_all()

    @property
    def samples(self) -> int:
        with self._cond:
            return sum(len(b) for b in self.blocks)

    def wait_samples(self, n: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: sum(len(b) for b in self.blocks) >= n, timeout)

    def snapshot(self) -> list[SampleBlock]:
        with self._cond:
            return list(self.blocks)

    def data(self) -> npt.NDArray[np.int32]:
        blocks = self.snapshot()
        return np.concatenate([b.data for b in blocks]) if blocks else np.zeros((0, 0), np.int32)


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pir_config(port: str, **overrides: Any) -> PolledSensorConfig:
    fields: dict[str, Any] = {
        "name": "pir1",
        "kind": "pir",
        "transport": "modbus-rtu",
        "port": port,
        "device_id": 2,
        "poll_hz": 50,
        "sample_rate": 100,
        "timeout_s": 0.2,
    }
    return sensor_config(**(fields | overrides))


def mag_config(port: str, transport: str = "modbus-tcp", **overrides: Any) -> PolledSensorConfig:
    fields: dict[str, Any] = {
        "name": "mag1",
        "kind": "magnetometer",
        "transport": transport,
        "port": port,
        "device_id": 1,
        "poll_hz": 50,
        "sample_rate": 100,
        "timeout_s": 0.2,
    }
    return sensor_config(**(fields | overrides))


def pir_samples(n: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """Random levels over the whole int16 range (both ends included) and motion flags."""
    rng = np.random.default_rng(seed)
    level = rng.integers(-0x8000, 0x7FFF, n, endpoint=True)
    level[:2] = (-0x8000, 0x7FFF)
    return np.stack([level, rng.integers(0, 2, n)], axis=1)


def mag_samples(n: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """Random int32 field values, the range ends included."""
    rng = np.random.default_rng(seed)
    data = rng.integers(-0x80000000, 0x7FFFFFFF, (n, 3), endpoint=True)
    data[0] = (-0x80000000, 0x7FFFFFFF, 0)
    return data


def check_against_source(
    blocks: list[SampleBlock], source: npt.NDArray[np.int64]
) -> tuple[int, int]:
    """Every delivered sample equals the source at its stream index (the emulator's source
    index); returns (samples checked, samples reported lost)."""
    checked = lost = 0
    expected_index = blocks[0].index if blocks else 0
    for block in blocks:
        assert block.index == expected_index + block.gap, (block.index, expected_index, block.gap)
        lost += block.gap
        end = block.index + len(block)
        assert np.array_equal(block.data, source[block.index : end]), block.index
        checked += len(block)
        expected_index = end
    return checked, lost


def timestamp_errors(blocks: list[SampleBlock], sample_time: Callable[[int], float]) -> Any:
    """Driver timestamp minus the emulator's true sample time, per sample, in seconds."""
    errors = [
        block.t0 + i / block.rate - sample_time(block.index + i)
        for block in blocks
        for i in range(len(block))
    ]
    return np.array(errors)


def assert_well_timed(
    errors: np.ndarray, rate: float = 100.0, median: float = 0.005, settle_s: float = 0.5
) -> None:
    # Timestamps come from the device counter. The first poll alone can only place the
    # clock to within its own round trip (tens of ms on a loaded machine); once a few polls
    # have pinned it down, within a fraction of a sample period (half of one at the median,
    # which a loaded machine's slower replies still reach), never off by a whole sample.
    settle = int(settle_s * rate)
    assert np.median(np.abs(errors)) < median, np.median(np.abs(errors))
    assert np.max(np.abs(errors[:settle])) < 0.05, np.abs(errors[:settle])
    assert np.max(np.abs(errors[settle:])) < 1 / rate, np.max(np.abs(errors[settle:]))
