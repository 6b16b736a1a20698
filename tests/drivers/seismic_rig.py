"""A real digitizer emulator on a pty with the real driver reading it, for the driver tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from drivers.block import SampleBlock
from drivers.config import sensor_config
from drivers.seismic import SeismicDriver
from hil.emulators.digitizer import DigitizerEmulator
from hil.emulators.faults import Faults
from hil.emulators.source import ArraySource

LINK = "serial/by-id/usb-UGS_Seismic_Digitizer_TEST-if00-port0"


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.01)


class Rig:
    """Emulator + driver over a real pty, behind a by-id style symlink in a temp dir."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        rate: int = 1000,
        channels: int = 3,
        seconds: float = 30.0,
        bits: int = 24,
        counter_start: int = 0,
        config_rate: int | None = None,
        config_channels: int | None = None,
        seed: int = 0,
        driver_kwargs: dict[str, Any] | None = None,
        sink: Callable[[SampleBlock], None] | None = None,
    ) -> None:
        lo, hi = (-(1 << 23), (1 << 23) - 1) if bits == 24 else (-(1 << 31), (1 << 31) - 1)
        rng = np.random.default_rng(seed)
        self.data = rng.integers(lo, hi, (int(rate * seconds), channels), endpoint=True)
        self.data = self.data.astype(np.int32)
        self.faults = Faults()
        self.emulator = DigitizerEmulator(
            ArraySource(self.data, rate, loop=True),
            bits=bits,
            faults=self.faults,
            link=tmp_path / LINK,
            counter_start=counter_start,
        )
        self.config = sensor_config(
            name="geo1",
            kind="seismic",
            transport="serial",
            port=str(tmp_path / LINK),
            baudrate=921600,
            sample_rate=config_rate or rate,
            channels=config_channels or channels,
            sample_bits=bits,  # type: ignore[arg-type]
            timeout_s=0.2,
            calibration={"scale": 2.5e-9, "offset": 3.0, "units": "m/s"},  # type: ignore[arg-type]
        )
        self._lock = threading.Lock()
        self.blocks: list[SampleBlock] = []
        self.driver = SeismicDriver(self.config, sink or self._collect, **(driver_kwargs or {}))

    def _collect(self, block: SampleBlock) -> None:
        with self._lock:
            self.blocks.append(block)

    def start(self) -> Rig:
        self.emulator.start()
        self.driver.start()
        return self

    def stop(self) -> None:
        self.driver.stop()
        self.emulator.stop()

    def __enter__(self) -> Rig:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> list[SampleBlock]:
        with self._lock:
            return list(self.blocks)

    def samples(self) -> int:
        return sum(len(b) for b in self.received())

    def wait_samples(self, n: int, timeout: float = 5.0) -> None:
        start = self.samples()
        wait_for(lambda: self.samples() >= start + n, timeout, f"{n} more samples")

    def status(self) -> dict[str, Any]:
        return self.driver.status()

    def source_offset(self) -> int:
        """Source index of the driver's stream index 0 (the driver may open mid-stream)."""
        first = self.received()[0]
        row = first.data[0]
        matches = np.flatnonzero((self.data == row).all(axis=1))
        assert len(matches) == 1, "first row not found exactly once in the source"
        return int(matches[0]) - first.index

    def check_bit_exact(self, blocks: list[SampleBlock] | None = None) -> int:
        """Every block equals the source at its index; returns the samples compared."""
        offset = self.source_offset()
        total = len(self.data)
        compared = 0
        for block in blocks if blocks is not None else self.received():
            start = offset + block.index
            rows = np.arange(start, start + len(block)) % total
            np.testing.assert_array_equal(block.data, self.data[rows])
            compared += len(block)
        return compared
