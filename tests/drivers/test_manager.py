"""SensorManager: one reader per bus, every kind of sensor alike, failures kept apart."""

from __future__ import annotations

import contextlib
import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.block import SampleBlock
from drivers.config import sensor_config
from drivers.manager import SensorManager
from hil.emulators.digitizer import DigitizerEmulator
from hil.emulators.magnetometer import MagnetometerEmulator
from hil.emulators.modbus_server import ModbusEmulatorServer
from hil.emulators.pir import PirEmulator
from hil.emulators.source import ArraySource
from tests.drivers.modbus_helpers import (
    mag_config,
    mag_samples,
    pir_config,
    pir_samples,
    wait_until,
)


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


class Sink:
    def __init__(self) -> None:
        self.samples: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def __call__(self, block: SampleBlock) -> None:
        with self.lock:
            self.samples[block.sensor] += len(block)

    def count(self, name: str) -> int:
        with self.lock:
            return self.samples[name]


def test_all_three_kinds_run_side_by_side(stack: contextlib.ExitStack, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    digitizer = DigitizerEmulator(
        ArraySource(rng.integers(-1000, 1000, (60_000, 3)), 500), link=tmp_path / "geo"
    )
    pir = PirEmulator(ArraySource(pir_samples(6000), 100), device_id=2)
    mag_rtu = MagnetometerEmulator(ArraySource(mag_samples(6000), 100), device_id=3)
    mag_tcp = MagnetometerEmulator(ArraySource(mag_samples(6000), 100), device_id=1)
    line = ModbusEmulatorServer([pir, mag_rtu], transport="rtu")
    for emulator in (digitizer, line):
        emulator.start()
        stack.callback(emulator.stop)
    tcp = mag_tcp.start("tcp")
    stack.callback(mag_tcp.stop)
    configs = [
        sensor_config(
            name="geo1",
            kind="seismic",
            transport="serial",
            port=digitizer.path,
            baudrate=921600,
            sample_rate=500,
            channels=3,
        ),
        pir_config(line.address),
        mag_config(line.address, "modbus-rtu", name="mag-rtu", device_id=3),
        mag_config(tcp, name="mag-tcp"),
        mag_config("127.0.0.1:9", name="mag-off", enabled=False),
    ]
    sink = Sink()
    manager = SensorManager(configs, sink)
    # The PIR and the RTU magnetometer share a port: one bus. The TCP one has its own.
    assert sorted(manager.buses) == sorted({configs[1].bus, configs[3].bus})
    threads_before = set(threading.enumerate())
    manager.start()
    stack.callback(manager.stop)
    names = ("geo1", "pir1", "mag-rtu", "mag-tcp")
    assert wait_until(lambda: all(sink.count(n) > 50 for n in names), 10), manager.status()
    status = manager.status()
    assert set(status) == {*names, "mag-off"}
    assert all(status[n]["state"] == "ok" for n in names), status
    assert status["mag-off"]["state"] == "stopped"
    assert "disabled" in status["mag-off"]["error"]
    json.dumps(status)  # plain JSON types only
    # One reader thread per bus (the seismic driver has its own): three in all.
    new_threads = set(threading.enumerate()) - threads_before
    assert len(new_threads) == 3, new_threads

    manager.stop(timeout=5)
    assert all(manager.status()[n]["state"] == "stopped" for n in names)
    assert not any(t.is_alive() for t in new_threads)


def test_a_failing_sensor_leaves_the_others_running(stack: contextlib.ExitStack) -> None:
    pir = PirEmulator(ArraySource(pir_samples(6000), 100), device_id=2)
    path = pir.start()
    stack.callback(pir.stop)
    configs = [
        pir_config(path),
        mag_config("127.0.0.1:1", name="mag-absent"),  # nothing listens there
        pir_config("/nonexistent/ttyUSB9", name="pir-unplugged"),
    ]
    sink = Sink()
    manager = SensorManager(configs, sink)
    manager.start()
    stack.callback(manager.stop)
    assert wait_until(lambda: sink.count("pir1") > 50, 5)
    status = manager.status()
    assert status["pir1"]["state"] == "ok"
    assert status["mag-absent"]["state"] == "down"
    assert "cannot connect to 127.0.0.1:1" in status["mag-absent"]["error"]
    assert status["pir-unplugged"]["state"] == "down"
    assert "does not exist" in status["pir-unplugged"]["error"]
