"""The pymodbus internals the drivers rely on are where drivers/modbus/pymodbus_adapter.py says.

If a test here fails, pymodbus was upgraded: read the adapter's docstring, check each point
against the new pymodbus, then set PYMODBUS_CHECKED to the new version.
"""

from __future__ import annotations

import pymodbus
from pymodbus.client import ModbusTcpClient

from drivers.modbus.pymodbus_adapter import PYMODBUS_CHECKED, serial_client, set_reply_timeout


def test_the_pinned_pymodbus_is_the_one_checked() -> None:
    assert pymodbus.__version__ == PYMODBUS_CHECKED


def test_the_reply_timeout_lives_in_both_copies() -> None:
    for client in (
        ModbusTcpClient("127.0.0.1", port=1, timeout=2.0, retries=0),
        serial_client("loop://", baudrate=9600, parity="N", stopbits=1, trace=lambda s, d: d),
    ):
        set_reply_timeout(client, 0.123)
        assert client.comm_params.timeout_connect == 0.123
        assert client.transaction.comm_params.timeout_connect == 0.123


def test_the_trace_hook_is_installed() -> None:
    def trace(sending: bool, data: bytes) -> bytes:
        return data

    client = serial_client("loop://", baudrate=9600, parity="N", stopbits=1, trace=trace)
    assert client.transaction.trace_packet is trace
