"""Modbus sensor configs a technician can get wrong are refused, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.config import bus_load, registers_per_poll, sensor_config
from gateway.config import parse_config
from gateway.errors import ConfigError

PIR: dict[str, Any] = {
    "name": "pir1",
    "kind": "pir",
    "transport": "modbus-rtu",
    "port": "/dev/serial/by-id/usb-FTDI_USB-RS485_Cable_FT4ABCDE-if00-port0",
    "baudrate": 115200,
    "device_id": 2,
    "poll_hz": 50,
    "sample_rate": 100,
}
MAG: dict[str, Any] = {
    "name": "mag1",
    "kind": "magnetometer",
    "transport": "modbus-rtu",
    "port": PIR["port"],
    "baudrate": 115200,
    "device_id": 3,
    "poll_hz": 50,
    "sample_rate": 100,
}


def problems(*sensors: dict[str, Any]) -> list[str]:
    data = {"node": {"id": "ugs-0007", "site": "sector-12"}, "sensors": list(sensors)}
    try:
        parse_config(data)
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_good_shared_rs485_bus_passes() -> None:
    assert problems(PIR, MAG) == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"device_id": 0}, "sensors[0].device_id", "1"),
        ({"device_id": 248}, "sensors[0].device_id", "247"),
        ({"baudrate": 100000}, "sensors[0].baudrate", "not a rate"),
        ({"poll_hz": 5}, "sensors[0].poll_hz", "outside 10-100"),
        ({"poll_hz": 150}, "sensors[0].poll_hz", "outside 10-100"),
        ({"sample_rate": 250}, "sensors[0].sample_rate", "10-100"),
        ({"sample_rate": 99.5}, "sensors[0].sample_rate", "whole number"),
        ({"transport": "serial"}, "sensors[0].transport", "modbus-rtu or modbus-tcp"),
        ({"kind": "radar"}, "sensors[0].kind", ""),
        ({"devce_id": 2}, "sensors[0].devce_id", "unknown field"),
        ({"transport": "modbus-tcp", "port": "10.0.0.5"}, "sensors[0].port", "HOST:PORT"),
        # A scale that silences the sensor, or makes its samples overflow the detector.
        ({"calibration": {"scale": 0.0}}, "sensors[0].calibration.scale", "between 1e-30"),
        ({"calibration": {"scale": 1e300}}, "sensors[0].calibration.scale", "no sensor's"),
        ({"calibration": {"scale": float("nan")}}, "sensors[0].calibration.scale", "finite"),
        ({"calibration": {"offset": float("inf")}}, "sensors[0].calibration.offset", "finite"),
    ],
)
def test_bad_field_is_named(change: dict[str, Any], field: str, words: str) -> None:
    found = problems(PIR | change)
    assert any(line.startswith(field + ":") and words in line for line in found), found


def test_poll_rate_too_slow_for_the_fifo() -> None:
    # The magnetometer's FIFO holds 20 samples: at 200 Hz it must be polled at >= 20 Hz.
    found = problems(MAG | {"sample_rate": 200, "poll_hz": 15})
    assert any(
        line.startswith("sensors[0].poll_hz:") and "at least 20 Hz" in line for line in found
    ), found
    assert problems(MAG | {"sample_rate": 200, "poll_hz": 20}) == []


def test_bus_that_cannot_carry_the_poll_rate() -> None:
    slow = {"baudrate": 9600}
    found = problems(PIR | slow | {"poll_hz": 30}, MAG | slow | {"poll_hz": 30})
    assert any(line.startswith("sensors[1].poll_hz:") and "9600 baud" in line for line in found)
    # At 57600 baud both fit when polled at 10 Hz (a bigger window each time).
    ok = {"baudrate": 57600, "poll_hz": 10}
    assert problems(PIR | ok, MAG | ok) == []


def test_devices_on_one_line_share_its_settings_and_not_their_ids() -> None:
    found = problems(PIR, MAG | {"baudrate": 57600})
    assert any(line.startswith("sensors[1].baudrate:") for line in found), found
    found = problems(PIR, MAG | {"device_id": 2})
    assert any(line.startswith("sensors[1].device_id:") and "already" in line for line in found)


def test_bus_load_follows_the_register_map() -> None:
    pir = sensor_config(**PIR)
    # 100 Hz polled at 50 Hz: window of 5 samples, 3 + 5 * 2 registers.
    assert registers_per_poll(pir) == 13
    mag = sensor_config(**MAG)
    assert registers_per_poll(mag) == 3 + 5 * 6
    # One poll: request 8 + reply 5 + 2*13 bytes + 7 silent character times, 10 bits each.
    assert bus_load(pir) == pytest.approx(50 * (8 + 5 + 26 + 7) * 10 / 115200)
    assert bus_load(sensor_config(**(MAG | {"transport": "modbus-tcp", "port": "h:502"}))) == 0
    # sample_rate defaults to the poll rate.
    assert sensor_config(**(PIR | {"sample_rate": None})).rate == 50
