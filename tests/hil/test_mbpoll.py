"""mbpoll (libmodbus) reads the documented registers from both emulators, RTU and TCP:
the emulators are real Modbus, not pymodbus talking to itself. The command lines are the
ones docs/registers.md gives technicians."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest

from drivers.modbus.registers import COUNTER_MODULUS
from hil.emulators.magnetometer import MagnetometerEmulator
from hil.emulators.pir import PirEmulator
from hil.emulators.source import ArraySource

pytestmark = pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")

PIR_ROW = (-1234, 1)
MAG_ROW = (-48000, 123456, -2_000_000_000)


def mbpoll(*args: str) -> tuple[int, dict[int, int], str]:
    """Run mbpoll once; returns its exit code, {reference: value} and its output."""
    proc = subprocess.run(
        ["mbpoll", "-1", "-o", "0.5", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    out = proc.stdout + proc.stderr
    values: dict[int, int] = {}
    for ref, raw, signed in re.findall(
        r"^\[(\d+)\]:\s+(-?(?:0x)?[0-9A-Fa-f]+)(?: \((-?\d+)\))?", out, re.M
    ):
        text = signed or raw
        values[int(ref)] = int(text, 16) if text.startswith("0x") else int(text)
    return proc.returncode, values, out


@pytest.fixture(scope="module")
def pir() -> Iterator[tuple[PirEmulator, str]]:
    emulator = PirEmulator(ArraySource(np.array([PIR_ROW]), 50, loop=True), device_id=2)
    path = emulator.start()
    yield emulator, path
    emulator.stop()


@pytest.fixture(scope="module")
def mag() -> Iterator[tuple[MagnetometerEmulator, str]]:
    emulator = MagnetometerEmulator(
        ArraySource(np.array([MAG_ROW]), 100, loop=True), device_id=1, counter_start=70000
    )
    port = emulator.start("tcp").rsplit(":", 1)[1]
    yield emulator, port
    emulator.stop()


def rtu(
    path: str, *args: str, device: str = "2", write: tuple[str, ...] = ()
) -> tuple[int, dict[int, int], str]:
    # Values to write come after the port, as in the docs.
    return mbpoll("-m", "rtu", "-a", device, "-b", "115200", "-P", "none", *args, path, *write)


def tcp(port: str, *args: str, device: str = "1") -> tuple[int, dict[int, int], str]:
    return mbpoll("-m", "tcp", "-a", device, "-p", port, *args, "127.0.0.1")


def test_pir_identity_counter_status_and_current_sample(pir: tuple[PirEmulator, str]) -> None:
    emulator, path = pir
    before = emulator.counter
    code, values, out = rtu(path, "-t", "3", "-r", "1", "-c", "9")
    assert code == 0, out
    assert values[1] == 0x5049 and values[2] == 1 and values[3] == 32 and values[4] == 2
    counter = (values[5] << 16) | values[6]
    assert before <= counter <= emulator.counter
    assert values[7] & 0x1  # ACQUIRING (RESTARTED too: no driver has cleared it)
    assert (values[8], values[9]) == PIR_ROW  # current level (signed) and motion flag
    code, values, out = rtu(path, "-t", "3:hex", "-r", "1", "-c", "1")
    assert code == 0 and "0x5049" in out, out


def test_pir_settings_read_write_and_refusal(pir: tuple[PirEmulator, str]) -> None:
    emulator, path = pir
    code, values, out = rtu(path, "-t", "4", "-r", "1", "-c", "3")
    assert code == 0, out
    assert values == {1: 50, 2: 0, 3: 1000}
    code, _, out = rtu(path, "-t", "4", "-r", "1", write=("40",))
    assert code == 0 and emulator.rate == 40, out
    code, _, out = rtu(path, "-t", "4", "-r", "1", write=("250",))  # beyond the PIR's 100 Hz
    assert code != 0 and "Illegal data value" in out
    assert emulator.rate == 40
    code, _, out = rtu(path, "-t", "3", "-r", "72", "-c", "1")  # past the last register
    assert code != 0 and "Illegal data address" in out


def test_unknown_rtu_unit_stays_silent(pir: tuple[PirEmulator, str]) -> None:
    code, _, out = rtu(pir[1], "-t", "3", "-r", "1", "-c", "1", device="3")
    assert code != 0 and "timed out" in out


def test_magnetometer_field_in_nT_over_tcp(mag: tuple[MagnetometerEmulator, str]) -> None:
    emulator, port = mag
    code, values, out = tcp(port, "-t", "3:int", "-B", "-r", "8", "-c", "3")
    assert code == 0, out
    assert (values[8], values[10], values[12]) == MAG_ROW
    code, values, out = tcp(port, "-t", "3:int", "-B", "-r", "5", "-c", "1")
    assert code == 0, out
    assert 70000 < values[5] % COUNTER_MODULUS <= emulator.counter
    code, values, out = tcp(port, "-t", "3", "-r", "1", "-c", "4")
    assert values == {1: 0x4D47, 2: 1, 3: 20, 4: 6}, out
    code, values, out = tcp(port, "-t", "4", "-r", "1", "-c", "1")
    assert values == {1: 100}, out


def test_unknown_unit_behind_tcp_is_a_gateway_error(mag: tuple[MagnetometerEmulator, str]) -> None:
    code, _, out = tcp(mag[1], "-t", "3", "-r", "1", "-c", "1", device="9")
    assert code != 0 and "Target device failed to respond" in out


def test_magnetometer_over_rtu() -> None:
    emulator = MagnetometerEmulator(ArraySource(np.array([MAG_ROW]), 100, loop=True), device_id=3)
    path = emulator.start("rtu")
    try:
        code, values, out = rtu(path, "-t", "3:int", "-B", "-r", "8", "-c", "3", device="3")
        assert code == 0, out
        assert (values[8], values[10], values[12]) == MAG_ROW
    finally:
        emulator.stop()
