"""What check-config says about a seismic sensor entry."""

from __future__ import annotations

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError


def config(**sensor: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "geo1",
        "kind": "seismic",
        "transport": "serial",
        "port": "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K5XYZ-if00-port0",
        "baudrate": 230400,
        "sample_rate": 1000,
        "channels": 3,
    }
    entry.update(sensor)
    return {"node": {"id": "ugs-0007", "site": "sector-12"}, "sensors": [entry]}


def problems(**sensor: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config(**sensor))
    return info.value.problems


def test_a_good_seismic_entry_passes() -> None:
    (sensor,) = parse_config(config()).sensors
    assert sensor.rate == 1000 and sensor.channels == 3


def test_a_rate_the_protocol_lacks_names_the_field_and_the_choices() -> None:
    (line,) = problems(sample_rate=333)
    assert line.startswith("sensors[0].sample_rate: the digitizer protocol has no 333 Hz")
    assert "250, 300, 400, 500" in line


def test_a_rate_outside_the_range_is_refused() -> None:
    (line,) = problems(sample_rate=8000)
    assert line.startswith("sensors[0].sample_rate:") and "outside 250-4000" in line


def test_1000_hz_times_3_does_not_fit_115200_baud() -> None:
    (line,) = problems(baudrate=115200)
    assert line.startswith("sensors[0].sample_rate:") and "115200 baud" in line


@pytest.mark.parametrize(
    ("field", "value"), [("channels", 4), ("sample_bits", 16), ("transport", "modbus-rtu")]
)
def test_impossible_settings_name_their_field(field: str, value: object) -> None:
    assert any(line.startswith(f"sensors[0].{field}") for line in problems(**{field: value}))
