"""The PIR and magnetometer emulators speak docs/registers.md: register contents, pacing,
settings and faults, seen through a plain Modbus client."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from drivers.modbus.registers import (
    IR_COUNTER,
    MAGNETOMETER_MAP,
    PIR_MAP,
    STATUS_ACQUIRING,
    STATUS_OVERRANGE,
    STATUS_RESTARTED,
    decode_fifo_block,
)
from hil.emulators.magnetometer import MagnetometerEmulator
from hil.emulators.modbus_server import ModbusEmulatorServer
from hil.emulators.pir import PirEmulator
from hil.emulators.source import ArraySource, FunctionSource
from tests.drivers.modbus_helpers import wait_until


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


def counting_mag(n: int = 10_000, rate: float = 100, **kwargs: object) -> MagnetometerEmulator:
    """Sample k reads (k, -k, 1000 + k)."""
    k = np.arange(n)
    return MagnetometerEmulator(ArraySource(np.stack([k, -k, 1000 + k], 1), rate), **kwargs)  # type: ignore[arg-type]


def tcp_client(stack: contextlib.ExitStack, emulator: MagnetometerEmulator) -> ModbusTcpClient:
    host, port = emulator.start("tcp").rsplit(":", 1)
    stack.callback(emulator.stop)
    client = ModbusTcpClient(host, port=int(port), timeout=1, retries=0)
    assert client.connect()
    stack.callback(client.close)
    return client


def read_fifo(client: ModbusTcpClient | ModbusSerialClient, regmap, window: int, unit: int = 1):  # type: ignore[no-untyped-def]
    reply = client.read_input_registers(
        IR_COUNTER, count=regmap.block_count(window), device_id=unit
    )
    assert not reply.isError(), reply
    return decode_fifo_block(regmap, reply.registers)


def test_fifo_holds_the_newest_samples_first(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag()
    client = tcp_client(stack, emulator)
    assert wait_until(lambda: emulator.counter >= 30, 10)
    block = read_fifo(client, MAGNETOMETER_MAP, MAGNETOMETER_MAP.fifo_depth)
    n = block.counter
    expected = [[k, -k, 1000 + k] for k in range(n - 1, n - 21, -1)]
    assert block.newest_first.tolist() == expected
    assert block.status == STATUS_ACQUIRING | STATUS_RESTARTED


def test_counter_follows_the_rate_and_sample_times(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag(rate=200)
    client = tcp_client(stack, emulator)
    assert wait_until(lambda: emulator.counter > 0, 10)
    for _ in range(20):
        sent = time.time()
        counter = read_fifo(client, MAGNETOMETER_MAP, 0).counter
        received = time.time()
        # Sample counter-1 was taken before the reply left, sample counter after the request.
        assert emulator.sample_time(counter - 1) <= received
        assert emulator.sample_time(counter) > sent
        # The next read after the emulator has taken new samples.
        assert wait_until(lambda c=counter: emulator.counter >= c + 2, 10)
    # 1/200 s apart, over every sample taken so far. Each call places the samples on the wall
    # clock as it stands then, so two calls differ by however long a busy machine kept
    # them apart (a microsecond was seen): a millisecond of room, a fifth of one period.
    last = emulator.counter - 1  # the last sample taken
    assert emulator.sample_time(last) - emulator.sample_time(0) == pytest.approx(
        last / 200, abs=1e-3
    )


def test_speed_plays_the_source_faster(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag(rate=50, speed=4.0)
    tcp_client(stack, emulator)
    # Time how long the emulator takes for 100 samples: 0.5 s of wall time at 4 x 50/s.
    assert wait_until(lambda: emulator.counter > 0, 10)
    start, began = emulator.counter, time.monotonic()
    assert wait_until(lambda: emulator.counter >= start + 100, 5)
    elapsed = time.monotonic() - began
    # 200 samples per second of wall time: never faster, and behind only by what a busy
    # machine costs (at the source's own rate they would take 2 s).
    assert 0.4 <= elapsed < 1.0, elapsed


def test_rate_write_and_refusal(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag()
    client = tcp_client(stack, emulator)
    assert not client.write_register(0, 200, device_id=1).isError()
    assert emulator.rate == 200
    reply = client.write_register(0, 201, device_id=1)
    assert reply.isError() and reply.exception_code == 3
    assert client.read_holding_registers(0, count=2, device_id=1).registers == [200, 0]
    reply = client.read_holding_registers(2, count=1, device_id=1)  # the PIR's threshold only
    assert reply.isError() and reply.exception_code == 2
    reply = client.read_coils(0, count=1, device_id=1)
    assert reply.isError() and reply.exception_code == 1


def test_restart_flag_clear_reboot_and_stall(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag()
    client = tcp_client(stack, emulator)
    client.write_register(0, 150, device_id=1)
    client.write_register(1, 1, device_id=1)  # CONTROL: clear RESTARTED
    assert read_fifo(client, MAGNETOMETER_MAP, 0).status == STATUS_ACQUIRING

    emulator.faults.stall()
    frozen = read_fifo(client, MAGNETOMETER_MAP, 1)
    # Read again once a running sensor would have taken 5 more samples (its own clock).
    assert wait_until(lambda: time.time() > emulator.sample_time(frozen.counter + 5), 10)
    again = read_fifo(client, MAGNETOMETER_MAP, 1)
    assert again.counter == frozen.counter and again.status == 0  # not acquiring
    emulator.faults.resume()
    assert wait_until(lambda: read_fifo(client, MAGNETOMETER_MAP, 0).counter > frozen.counter, 1)
    taken = emulator.taken

    emulator.faults.reboot()
    block = read_fifo(client, MAGNETOMETER_MAP, 1)
    assert block.counter < 20 and block.status & STATUS_RESTARTED
    assert emulator.rate == 100  # back to its power-up default
    # It carries on with the source where it was: it does not replay it.
    assert emulator.taken >= taken


def test_end_of_source_stops_acquiring(stack: contextlib.ExitStack) -> None:
    emulator = counting_mag(n=10, rate=200)
    client = tcp_client(stack, emulator)
    assert wait_until(
        lambda: not read_fifo(client, MAGNETOMETER_MAP, 0).status & STATUS_ACQUIRING, 2
    )
    block = read_fifo(client, MAGNETOMETER_MAP, 10)
    assert block.counter == 10 and block.newest_first[0].tolist() == [9, -9, 1009]


def test_pir_firmware_raises_motion_above_its_threshold(stack: contextlib.ExitStack) -> None:
    # One channel: a level ramp from -40000 (clipped) up; the flag comes from the threshold.
    source = FunctionSource(lambda t: -40000 + t * 100_000, rate=100)
    emulator = PirEmulator(source, device_id=5, motion_threshold=20000)
    path = emulator.start()
    stack.callback(emulator.stop)
    client = ModbusSerialClient(path, baudrate=115200, timeout=1, retries=0)
    assert client.connect()
    stack.callback(client.close)
    assert wait_until(lambda: emulator.counter > 0, 10)
    first = read_fifo(client, PIR_MAP, 1, unit=5)
    assert first.newest_first[0].tolist() in ([-32768, 1], [-32768, 0])
    assert client.write_register(2, 30000, device_id=5).isError() is False
    assert wait_until(lambda: read_fifo(client, PIR_MAP, 1, unit=5).counter > 30, 10)
    block = read_fifo(client, PIR_MAP, PIR_MAP.fifo_depth, unit=5)
    for level, motion in block.newest_first.tolist():
        assert motion == int(abs(level) >= 30000) or level == -32768
    assert emulator.counter < 150  # still well within the ramp
    # While clipped at the converter's end, OVERRANGE is set.
    assert first.status & STATUS_OVERRANGE


def test_two_devices_share_one_rtu_line(stack: contextlib.ExitStack) -> None:
    pir = PirEmulator(ArraySource(np.array([[7, 1]]), 100, loop=True), device_id=2)
    mag = counting_mag(rate=100, device_id=3)
    server = ModbusEmulatorServer([pir, mag], transport="rtu")
    path = server.start()
    stack.callback(server.stop)
    client = ModbusSerialClient(path, baudrate=115200, timeout=0.3, retries=0)
    assert client.connect()
    stack.callback(client.close)
    assert wait_until(lambda: pir.counter > 2 and mag.counter > 2, 10)
    assert read_fifo(client, PIR_MAP, 1, unit=2).newest_first.tolist() == [[7, 1]]
    assert read_fifo(client, MAGNETOMETER_MAP, 1, unit=3).newest_first.shape == (1, 3)


def test_bad_emulator_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="10-200"):
        MagnetometerEmulator(ArraySource(np.zeros((4, 3), np.int32), 250))
    with pytest.raises(ValueError, match="3 channels"):
        MagnetometerEmulator(ArraySource(np.zeros((4, 2), np.int32), 100))
    with pytest.raises(ValueError, match="1 or 2 channels"):
        PirEmulator(ArraySource(np.zeros((4, 3), np.int32), 100))
    with pytest.raises(ValueError, match="1-247"):
        PirEmulator(ArraySource(np.zeros((4, 1), np.int32), 100), device_id=248)
    pir = PirEmulator(ArraySource(np.zeros((4, 1), np.int32), 100), device_id=4)
    mag = counting_mag(device_id=4)
    with pytest.raises(ValueError, match="share a unit id"):
        ModbusEmulatorServer([pir, mag])
