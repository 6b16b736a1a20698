"""PIR and magnetometer drivers against their emulators over real ptys and TCP sockets:
what goes into an emulator comes out of the driver sample for sample, correctly timed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.magnetometer import MagnetometerDriver
from drivers.modbus.registers import COUNTER_MODULUS, MAGNETOMETER_MAP
from drivers.pir import PirDriver
from drivers.registry import driver_class
from hil.emulators.magnetometer import MagnetometerEmulator
from hil.emulators.pir import PirEmulator
from hil.emulators.source import ArraySource
from tests.drivers.modbus_helpers import (
    Collector,
    assert_well_timed,
    check_against_source,
    mag_config,
    mag_samples,
    pir_config,
    pir_samples,
    timestamp_errors,
    wait_until,
)

N = 200  # 2 s at 100 Hz


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def test_drivers_are_registered() -> None:
    assert driver_class("pir") is PirDriver
    assert driver_class("magnetometer") is MagnetometerDriver


def test_pir_over_rtu_is_sample_exact_at_100_hz(stack: contextlib.ExitStack) -> None:
    source = pir_samples(N, seed=1)
    emulator = PirEmulator(ArraySource(source, 100), device_id=2)
    emulator.faults.stall()  # hold sampling until the driver is connected
    path = emulator.start()
    stack.callback(emulator.stop)
    sink = Collector()
    # The deployed reply timeout (0.5 s), not the helpers' short one: this test asserts a
    # clean link counts no timeout, and a loaded machine can stall the emulator for 0.2 s.
    config = pir_config(path, calibration={"scale": 0.5, "offset": 3}, timeout_s=0.5)
    driver = PirDriver(config, sink)
    driver.start()
    stack.callback(driver.stop)
    assert wait_until(lambda: driver.status()["state"] != "starting", 5)
    emulator.faults.resume()

    assert sink.wait_samples(N, 10), driver.status()
    blocks = sink.snapshot()
    assert blocks[0].index == 0
    checked, lost = check_against_source(blocks, source)
    assert (checked, lost) == (N, 0)
    assert_well_timed(timestamp_errors(blocks, emulator.sample_time))
    block = blocks[0]
    assert (block.sensor, block.kind, block.rate, block.data.dtype) == (
        "pir1",
        "pir",
        100,
        np.int32,
    )
    assert (block.scale, block.offset) == (0.5, 3.0)
    status = driver.status()
    assert status["samples"] == N and status["gaps"] == 0 and status["samples_lost"] == 0
    assert status["timeouts"] == status["exceptions"] == status["crc_errors"] == 0
    assert status["polls_ok"] > 50 and status["last_sample_age_s"] < 1.0
    assert emulator.rate == 100  # the driver configured the device


@pytest.mark.parametrize(
    ("transport", "counter_start"),
    [("modbus-tcp", COUNTER_MODULUS - 57), ("modbus-rtu", 0)],
)
def test_magnetometer_is_sample_exact_at_100_hz(
    stack: contextlib.ExitStack, transport: str, counter_start: int
) -> None:
    source = mag_samples(N, seed=2)
    emulator = MagnetometerEmulator(
        ArraySource(source, 50), device_id=3, counter_start=counter_start
    )
    emulator.faults.stall()
    address = emulator.start("tcp" if transport == "modbus-tcp" else "rtu")
    stack.callback(emulator.stop)
    sink = Collector()
    config = mag_config(address, transport, device_id=3, sample_rate=100, poll_hz=30)
    driver = MagnetometerDriver(config, sink)
    driver.start()
    stack.callback(driver.stop)
    assert wait_until(lambda: driver.status()["state"] != "starting", 5)
    assert emulator.rate == 100  # set by the driver from its config (power-up default 50)
    emulator.faults.resume()

    # A device that has been running (counter_start) still holds samples from before the
    # source began in its FIFO (zeros): the driver's first read rightly delivers them.
    history = MAGNETOMETER_MAP.fifo_depth if counter_start else 0
    expected = np.concatenate([np.zeros((history, 3), np.int64), source])
    assert sink.wait_samples(history + N, 10), driver.status()
    blocks = sink.snapshot()
    assert check_against_source(blocks, expected) == (history + N, 0)
    errors = timestamp_errors(
        blocks, lambda k: emulator.sample_time(k - history) if k >= history else np.nan
    )
    assert_well_timed(errors[history:])
    assert driver.status()["samples_lost"] == 0
    if counter_start:
        # The device counter wrapped past 2**32 mid-stream without a hiccup.
        assert emulator.counter < counter_start


def test_polling_slower_than_sampling_reads_the_backlog(stack: contextlib.ExitStack) -> None:
    source = pir_samples(N, seed=3)
    emulator = PirEmulator(ArraySource(source, 100), device_id=2)
    emulator.faults.stall()
    stack.callback(emulator.stop)
    sink = Collector()
    driver = PirDriver(pir_config(emulator.start(), poll_hz=10, sample_rate=100), sink)
    driver.start()
    stack.callback(driver.stop)
    assert wait_until(lambda: driver.status()["state"] != "starting", 5)
    emulator.faults.resume()
    assert sink.wait_samples(N, 10), driver.status()
    blocks = sink.snapshot()
    assert check_against_source(blocks, source) == (N, 0)
    assert np.mean([len(b) for b in blocks]) > 5  # ~10 samples per poll
    # Fewer polls pin the clock down more slowly, still to well within a sample period.
    assert_well_timed(timestamp_errors(blocks, emulator.sample_time))


def test_a_running_device_is_picked_up_mid_stream(stack: contextlib.ExitStack) -> None:
    source = pir_samples(1000, seed=4)
    emulator = PirEmulator(ArraySource(source, 100), device_id=2)
    stack.callback(emulator.stop)
    path = emulator.start()
    assert wait_until(lambda: emulator.counter > 60, 5)  # more than the FIFO holds
    sink = Collector()
    driver = PirDriver(pir_config(path), sink)
    driver.start()
    stack.callback(driver.stop)
    assert sink.wait_samples(100, 5)
    blocks = sink.snapshot()
    # The stream starts with what the FIFO still held; the device counter says where.
    joined = np.concatenate([b.data for b in blocks])
    offsets = [
        k for k in range(len(source) - len(joined)) if np.array_equal(source[k : k + 5], joined[:5])
    ]
    assert len(offsets) == 1 and offsets[0] > 0
    assert np.array_equal(joined, source[offsets[0] : offsets[0] + len(joined)])
    assert blocks[0].index == 0 and driver.status()["samples_lost"] == 0
