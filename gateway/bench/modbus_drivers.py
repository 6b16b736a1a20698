"""Benchmarks of the Modbus drivers, collected by ``ugs-gateway bench``.

- ``modbus_round_trip``: one FIFO poll's round trip through the real client and the emulator,
  over a pty (Modbus RTU at 115200 baud) and TCP loopback, for the reads the drivers make:
  the PIR at 100 Hz polled at 50 Hz (13 registers) and its whole FIFO (67), the magnetometer
  likewise (33) and its whole FIFO (123). Polls back to back give the highest poll rate one bus can
  sustain (the sum of the poll rates of the devices sharing it must stay below).
- ``modbus_reader_cpu``: the CPU share of the reader thread of one bus polling a PIR over
  RTU at 50 Hz (100 Hz samples), against the process's whole CPU use in the same run.

A pty ignores the baud rate: on a real RS-485 line the bytes' time on the wire comes on top
(13 registers at 115200 baud: about 3.3 ms for request and reply).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from drivers.config import PolledSensorConfig, sensor_config
from drivers.modbus.registers import IR_COUNTER, MAGNETOMETER_MAP, PIR_MAP
from drivers.modbus.transport import ModbusLink, RtuLink, TcpLink


def _emulators() -> list[Any]:
    from hil.emulators.magnetometer import MagnetometerEmulator
    from hil.emulators.pir import PirEmulator
    from hil.emulators.source import ArraySource

    rng = np.random.default_rng(0)
    pir = PirEmulator(ArraySource(rng.integers(-30000, 30000, (1000, 2)), 100, loop=True))
    mags = [
        MagnetometerEmulator(ArraySource(rng.integers(-60000, 60000, (1000, 3)), 100, loop=True))
        for _ in range(2)
    ]
    return [pir, *mags]


def _time_polls(link: ModbusLink, count: int, seconds: float) -> dict[str, float]:
    rtts: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        link.read_input_registers(1, IR_COUNTER, count, timeout=1.0)
        rtts.append(time.perf_counter() - started)
    rtts.sort()
    return {
        "median_ms": round(statistics.median(rtts) * 1e3, 3),
        "p99_ms": round(rtts[int(len(rtts) * 0.99)] * 1e3, 3),
        "max_polls_per_s": round(len(rtts) / sum(rtts), 1),
    }


def round_trip() -> dict[str, Any]:
    emulators = _emulators()
    pir, mag_rtu, mag_tcp = emulators
    results: dict[str, Any] = {}
    try:
        host, port = mag_tcp.start("tcp").rsplit(":", 1)
        cases: list[tuple[str, ModbusLink, dict[str, int]]] = [
            (
                "rtu_pir",
                RtuLink(pir.start(), baudrate=115200),
                {"13": PIR_MAP.block_count(5), "67": PIR_MAP.block_count(PIR_MAP.fifo_depth)},
            ),
            ("rtu_mag", RtuLink(mag_rtu.start("rtu"), baudrate=115200), {}),
            ("tcp_mag", TcpLink(host, int(port)), {}),
        ]
        mag_reads = {
            "33": MAGNETOMETER_MAP.block_count(5),
            "123": MAGNETOMETER_MAP.block_count(MAGNETOMETER_MAP.fifo_depth),
        }
        for name, link, reads in cases:
            link.open()
            try:
                for count_name, count in (reads or mag_reads).items():
                    figures = _time_polls(link, count, 2.0)
                    results[f"modbus_{name}_{count_name}_registers"] = figures
            finally:
                link.close()
    finally:
        for emulator in emulators:
            emulator.stop()
    return results


def reader_cpu() -> dict[str, Any]:
    from drivers.pir import PirDriver

    pir = _emulators()[0]
    path = pir.start()
    samples = [0]

    def sink(block: Any) -> None:
        samples[0] += len(block)

    config = sensor_config(
        name="pir1",
        kind="pir",
        transport="modbus-rtu",
        port=path,
        device_id=1,
        poll_hz=50,
        sample_rate=100,
    )
    assert isinstance(config, PolledSensorConfig)
    driver = PirDriver(config, sink)
    seconds = 10.0
    try:
        driver.start()
        time.sleep(1.0)  # connected and settled
        cpu0, wall0, reader0 = time.process_time(), time.perf_counter(), driver.bus.cpu_s
        time.sleep(seconds)
        wall = time.perf_counter() - wall0
        reader = driver.bus.cpu_s - reader0
        process = time.process_time() - cpu0
        status = driver.status()
    finally:
        driver.stop()
        pir.stop()
    return {
        "modbus_reader_cpu_share": round(reader / wall, 4),
        "modbus_process_cpu_share_with_emulator": round(process / wall, 4),
        "modbus_reader_polls_per_s": round(status["polls_ok"] / (wall + 1.0), 1),
        "modbus_reader_samples": samples[0],
        "modbus_reader_samples_lost": status["samples_lost"],
    }


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "modbus_round_trip": round_trip,
    "modbus_reader_cpu": reader_cpu,
}
