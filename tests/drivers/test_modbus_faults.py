"""Every fault the emulators inject: the driver recovers by itself, reports it in status(),
and accounts for every sample (delivered bit-exact, or counted as lost)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.magnetometer import MagnetometerDriver
from drivers.manager import SensorManager
from drivers.modbus.sensor import ModbusSensor
from drivers.pir import PirDriver
from hil.emulators.magnetometer import MagnetometerEmulator
from hil.emulators.modbus_server import ModbusEmulatorServer
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

LONG = 6000  # a minute of samples: more than any test runs


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


class Rig:
    """An emulator with a driver polling it."""

    def __init__(
        self, emulator: Any, driver: ModbusSensor, sink: Collector, source: np.ndarray
    ) -> None:
        self.emulator = emulator
        self.driver = driver
        self.sink = sink
        self.source = source

    def status(self) -> dict[str, Any]:
        return self.driver.status()

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5) -> None:
        assert wait_until(lambda: predicate(self.status()), timeout), self.status()

    def wait_more_samples(self, n: int, timeout: float = 5) -> None:
        assert self.sink.wait_samples(self.sink.samples + n, timeout), self.status()

    def check(self) -> int:
        """All samples bit-exact at their stream index; returns the samples reported lost."""
        checked, lost = check_against_source(self.sink.snapshot(), self.source)
        assert checked > 0
        return lost


def _running(
    stack: contextlib.ExitStack,
    emulator: Any,
    driver: ModbusSensor,
    sink: Collector,
    source: np.ndarray,
) -> Rig:
    """Start the driver against the held emulator, then let the samples flow."""
    driver.start()
    stack.callback(driver.stop)
    rig = Rig(emulator, driver, sink, source)
    rig.wait_status(lambda s: s["state"] != "starting")
    emulator.faults.resume()
    rig.wait_more_samples(20)
    return rig


@pytest.fixture
def pir_rig(stack: contextlib.ExitStack) -> Rig:
    source = pir_samples(LONG, seed=11)
    emulator = PirEmulator(ArraySource(source, 100), device_id=2)
    emulator.faults.stall()
    path = emulator.start()
    stack.callback(emulator.stop)
    sink = Collector()
    return _running(stack, emulator, PirDriver(pir_config(path), sink), sink, source)


@pytest.fixture
def mag_rig(stack: contextlib.ExitStack) -> Rig:
    source = mag_samples(LONG, seed=12)
    emulator = MagnetometerEmulator(ArraySource(source, 100), device_id=1)
    emulator.faults.stall()
    address = emulator.start("tcp")
    stack.callback(emulator.stop)
    sink = Collector()
    return _running(stack, emulator, MagnetometerDriver(mag_config(address), sink), sink, source)


def test_exception_replies_are_counted_and_survived(pir_rig: Rig) -> None:
    pir_rig.emulator.faults.modbus_exception(6, n=5)
    pir_rig.wait_status(lambda s: s["exceptions"] == 5 and s["state"] == "ok")
    pir_rig.wait_more_samples(20)
    assert pir_rig.check() == 0  # five refused polls fit in the FIFO


def test_exception_replies_show_in_status_while_they_last(mag_rig: Rig) -> None:
    mag_rig.emulator.faults.modbus_exception(4, n=1000)
    mag_rig.wait_status(lambda s: s["state"] == "degraded" and "exception 4" in s["error"])
    assert "server device failure" in mag_rig.status()["error"]
    # Refused for longer than the FIFO holds (20 samples at 100 Hz, 20 ms polls).
    mag_rig.wait_status(lambda s: s["exceptions"] >= 20)
    mag_rig.emulator.faults.clear()
    mag_rig.wait_status(lambda s: s["state"] == "ok")
    mag_rig.wait_more_samples(20)
    assert mag_rig.check() > 0  # refused for longer than the FIFO holds: gap, exactly counted
    assert mag_rig.status()["samples_lost"] == mag_rig.check()


def test_crc_errors_are_detected_and_counted(pir_rig: Rig) -> None:
    pir_rig.emulator.faults.corrupt_next(3)
    pir_rig.wait_status(lambda s: s["crc_errors"] == 3 and s["state"] == "ok")
    pir_rig.wait_more_samples(20)
    assert pir_rig.check() == 0


def test_garbage_on_the_line_is_survived(pir_rig: Rig) -> None:
    faults = pir_rig.emulator.faults
    for i in range(1, 5):
        faults.inject_garbage(37)
        assert wait_until(lambda i=i: faults.injected["garbage_bytes"] == 37 * i, 10)
        pir_rig.wait_more_samples(10)
    pir_rig.wait_status(lambda s: s["state"] == "ok")
    pir_rig.check()  # whatever was lost is accounted for exactly
    status = pir_rig.status()
    assert status["line_noise_bytes"] + status["timeouts"] + status["bad_replies"] > 0


def test_slow_replies_within_the_timeout_lose_nothing(mag_rig: Rig) -> None:
    mag_rig.emulator.faults.reply_delay(0.06)  # the poll period is 20 ms
    mag_rig.wait_more_samples(60)
    assert mag_rig.status()["state"] == "ok"
    mag_rig.emulator.faults.reply_delay(0)
    mag_rig.wait_more_samples(20)
    assert mag_rig.check() == 0
    assert mag_rig.status()["timeouts"] == 0


def test_replies_slower_than_the_timeout_recover(pir_rig: Rig) -> None:
    # RTU has no transaction ids: late answers arrive as replies to later requests. They
    # must never be taken for fresh data nor spoil the timestamps.
    pir_rig.emulator.faults.reply_delay(0.3)  # timeout_s is 0.2
    pir_rig.wait_status(lambda s: s["timeouts"] >= 3 and s["state"] != "ok")
    pir_rig.emulator.faults.reply_delay(0)
    pir_rig.wait_status(lambda s: s["state"] == "ok", timeout=15)
    pir_rig.wait_more_samples(40)
    assert pir_rig.check() == pir_rig.status()["samples_lost"]
    # Timed as well as on a clean link: the late replies moved no timestamp.
    assert_well_timed(timestamp_errors(pir_rig.sink.snapshot(), pir_rig.emulator.sample_time))


def test_a_silent_device_is_backed_off_and_comes_back(pir_rig: Rig) -> None:
    pir_rig.emulator.faults.silent()
    pir_rig.wait_status(lambda s: s["state"] == "down")
    status = pir_rig.status()
    assert "did not answer" in status["error"] and status["timeouts"] >= 3
    pir_rig.emulator.faults.silent(False)
    pir_rig.wait_status(lambda s: s["state"] == "ok", timeout=15)
    pir_rig.wait_more_samples(20)
    lost = pir_rig.check()
    status = pir_rig.status()
    assert lost > 0 and status["samples_lost"] == lost and status["gaps"] == 1
    assert status["reconnects"] == 1


def test_a_stalled_device_is_reported_and_resumes_with_right_timestamps(pir_rig: Rig) -> None:
    faults = pir_rig.emulator.faults
    faults.stall()
    pir_rig.wait_status(lambda s: s["stalls"] == 1 and s["state"] == "degraded")
    assert "stopped sampling" in pir_rig.status()["error"]
    faults.resume()
    pir_rig.wait_status(lambda s: s["state"] == "ok")
    pir_rig.wait_more_samples(30)
    blocks = pir_rig.sink.snapshot()
    # The device lost no sample, it just took none for a while: the data is contiguous,
    # and the stream index jumps by the stall's duration so that it keeps counting time.
    data = np.concatenate([b.data for b in blocks])
    assert np.array_equal(data, pir_rig.source[: len(data)])
    gaps = [b.gap for b in blocks if b.gap]
    assert len(gaps) == 1 and gaps[0] >= 50  # stall detection takes over 0.5 s
    source_index = np.cumsum([0] + [len(b) for b in blocks])
    errors = [
        b.t0 + i / b.rate - pir_rig.emulator.sample_time(int(source_index[j]) + i)
        for j, b in enumerate(blocks)
        for i in range(len(b))
    ]
    # Within two sample periods: the resumed stream's clock is re-estimated from the round
    # trips of the first polls after the stall, which a loaded host stretches (10.4 ms
    # was seen once with the whole suite running in two workers).
    assert np.max(np.abs(errors)) < 2.0 / pir_rig.emulator.rate


def test_unplugged_serial_port_is_reopened(pir_rig: Rig) -> None:
    faults = pir_rig.emulator.faults
    port = pir_rig.driver.config.port
    faults.unplug()
    assert not Path(port).exists()
    pir_rig.wait_status(lambda s: s["state"] == "down" and port in (s["error"] or ""))
    unplugged_at = pir_rig.emulator.counter
    # Out for longer than the FIFO holds (32 samples): some samples are lost for good.
    assert wait_until(lambda: pir_rig.emulator.counter > unplugged_at + 50, 5)
    faults.replug()
    assert Path(port).exists()
    pir_rig.wait_status(lambda s: s["state"] == "ok", timeout=15)
    pir_rig.wait_more_samples(30)
    lost = pir_rig.check()
    status = pir_rig.status()
    assert lost > 0 and status["samples_lost"] == lost
    assert status["reconnects"] == 1
    blocks = pir_rig.sink.snapshot()
    assert np.max(np.abs(timestamp_errors(blocks[-10:], pir_rig.emulator.sample_time))) < 0.01


def test_lost_tcp_connection_is_reopened(mag_rig: Rig) -> None:
    mag_rig.emulator.faults.unplug()
    mag_rig.wait_status(lambda s: s["state"] == "down")
    mag_rig.emulator.faults.replug()
    mag_rig.wait_status(lambda s: s["state"] == "ok", timeout=15)
    mag_rig.wait_more_samples(20)
    assert mag_rig.check() == mag_rig.status()["samples_lost"]
    assert mag_rig.status()["reconnects"] == 1


def test_a_restarted_device_is_configured_again(pir_rig: Rig) -> None:
    emulator = pir_rig.emulator
    emulator.faults.reboot()
    pir_rig.wait_status(lambda s: s["restarts"] == 1 and s["state"] == "ok")
    pir_rig.wait_more_samples(30)
    assert emulator.rate == 100  # its power-up default would be the source's 100 too
    blocks = pir_rig.sink.snapshot()
    # After the restart the samples carry on from the source; the few the device took
    # between the last poll and its restart are lost with its FIFO, estimated from time.
    last = blocks[-1]
    offsets = [
        k
        for k in range(LONG - len(last))
        if np.array_equal(pir_rig.source[k : k + len(last)], last.data)
    ]
    assert len(offsets) == 1
    assert abs(offsets[0] - last.index) <= 2


def test_sensor_fault_bit_is_reported(mag_rig: Rig) -> None:
    mag_rig.emulator.sensor_fault(True)
    mag_rig.wait_status(lambda s: s["state"] == "degraded" and "sensor fault" in s["error"])
    assert mag_rig.status()["device_status"] & 0x2
    mag_rig.emulator.sensor_fault(False)
    mag_rig.wait_status(lambda s: s["state"] == "ok")
    assert mag_rig.check() == 0


def test_wrong_device_at_the_address_is_named(stack: contextlib.ExitStack) -> None:
    emulator = MagnetometerEmulator(ArraySource(mag_samples(10), 100, loop=True), device_id=1)
    address = emulator.start("tcp")
    stack.callback(emulator.stop)
    sink = Collector()
    driver = PirDriver(pir_config(address, transport="modbus-tcp", device_id=1), sink)
    driver.start()
    stack.callback(driver.stop)
    assert wait_until(lambda: "is a magnetometer, not a pir" in (driver.status()["error"] or ""), 5)
    assert driver.status()["state"] == "degraded" and sink.samples == 0


def test_absent_unit_behind_tcp_gateway_and_on_rtu_line(stack: contextlib.ExitStack) -> None:
    mag = MagnetometerEmulator(ArraySource(mag_samples(10), 100, loop=True), device_id=1)
    pir = PirEmulator(ArraySource(pir_samples(10), 100, loop=True), device_id=2)
    tcp, rtu = mag.start("tcp"), pir.start()
    stack.callback(mag.stop)
    stack.callback(pir.stop)
    on_tcp = MagnetometerDriver(mag_config(tcp, device_id=9), Collector())
    on_rtu = PirDriver(pir_config(rtu, device_id=9, timeout_s=0.05), Collector())
    for driver in (on_tcp, on_rtu):
        driver.start()
        stack.callback(driver.stop)
    # A TCP gateway answers for the unit that does not respond; an RTU line stays silent.
    assert wait_until(lambda: "exception 11" in (on_tcp.status()["error"] or ""), 5)
    assert wait_until(lambda: on_rtu.status()["state"] == "down", 5)
    assert "did not answer" in on_rtu.status()["error"]


def test_port_missing_at_start_is_waited_for(stack: contextlib.ExitStack, tmp_path: Path) -> None:
    port = tmp_path / "by-id" / "usb-FTDI_RS485-if00-port0"
    sink = Collector()
    driver = PirDriver(pir_config(str(port)), sink)
    driver.start()
    stack.callback(driver.stop)
    assert wait_until(lambda: "does not exist" in (driver.status()["error"] or ""), 5)
    assert driver.status()["state"] == "down"
    emulator = PirEmulator(ArraySource(pir_samples(LONG), 100), device_id=2)
    emulator.start(path=port)
    stack.callback(emulator.stop)
    assert sink.wait_samples(20, 10), driver.status()
    assert driver.status()["state"] == "ok"


def test_dead_device_on_a_shared_bus_does_not_stall_the_other(
    stack: contextlib.ExitStack,
) -> None:
    pir_source, mag_source = pir_samples(LONG, seed=21), mag_samples(LONG, seed=22)
    pir = PirEmulator(ArraySource(pir_source, 100), device_id=2)
    mag = MagnetometerEmulator(ArraySource(mag_source, 100), device_id=3)
    for emulator in (pir, mag):
        emulator.faults.stall()
    server = ModbusEmulatorServer([pir, mag], transport="rtu")
    path = server.start()
    stack.callback(server.stop)
    pir_sink, mag_sink = Collector(), Collector()
    sinks = {"pir1": pir_sink, "mag1": mag_sink}
    configs = [
        pir_config(path, timeout_s=0.5),
        mag_config(path, "modbus-rtu", device_id=3, timeout_s=0.5),
    ]
    manager = SensorManager(configs, lambda block: sinks[block.sensor](block))
    assert len(manager.buses) == 1  # one port: one thread, one lock
    manager.start()
    stack.callback(manager.stop)
    assert wait_until(lambda: all(s["state"] != "starting" for s in manager.status().values()), 5)
    for emulator in (pir, mag):
        emulator.faults.resume()
    assert pir_sink.wait_samples(20, 5) and mag_sink.wait_samples(20, 5)

    mag.faults.silent()
    assert wait_until(lambda: manager.status()["mag1"]["state"] == "down", 5)
    during = pir_sink.samples
    assert pir_sink.wait_samples(during + 150, 5)  # 1.5 s of PIR while the mag is dead
    mag.faults.silent(False)
    assert wait_until(lambda: manager.status()["mag1"]["state"] == "ok", 15)
    assert mag_sink.wait_samples(mag_sink.samples + 20, 5)

    # The PIR never lost a sample, and its polls never waited the mag's full timeout.
    assert check_against_source(pir_sink.snapshot(), pir_source)[1] == 0
    status = manager.status()
    assert status["pir1"]["timeouts"] == 0 and status["pir1"]["samples_lost"] == 0
    assert status["mag1"]["timeouts"] >= 3
    assert status["mag1"]["timeout_s"] < 0.5  # capped by the PIR's FIFO headroom
    assert check_against_source(mag_sink.snapshot(), mag_source)[1] > 0
