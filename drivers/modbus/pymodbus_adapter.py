"""The one place the drivers lean on pymodbus's internals, as in pymodbus PYMODBUS_CHECKED.

- A per-request reply timeout: a bus's devices each have their own, but pymodbus takes the
  timeout once, at the client's construction, and keeps copies in the client's
  ``comm_params`` and in its transaction manager's. :func:`set_reply_timeout` changes both.
  What would let it go: a ``timeout`` argument on the read calls (or one ``comm_params``
  that the transaction manager reads live), upstream.
- The serial client's ``trace_packet`` hook sees every received buffer before the RTU framer
  does; the RTU link uses it to find a reply behind line noise and to fail a bad CRC at once
  rather than after a full timeout. Ending the request from the hook relies on an exception
  raised there reaching the caller unchanged (:class:`AbortRequest`). What would let it go:
  an RTU framer that resynchronises on noise and reports a CRC failure, upstream.

``tests/drivers/test_pymodbus_adapter.py`` fails on any other pymodbus version, so that both
are checked again before the pin moves (its API changed in 3.11, 3.12 and 3.13).
"""

from __future__ import annotations

from collections.abc import Callable

from pymodbus.client import ModbusSerialClient, ModbusTcpClient

PYMODBUS_CHECKED = "3.16.1"


class AbortRequest(Exception):  # noqa: N818  (a signal through pymodbus, not an error)
    """Raised from a ``trace_packet`` hook: pymodbus ends the request and re-raises it."""


def serial_client(
    port: str, *, baudrate: int, parity: str, stopbits: int, trace: Callable[[bool, bytes], bytes]
) -> ModbusSerialClient:
    """A synchronous RTU client whose received bytes pass through ``trace`` first."""
    return ModbusSerialClient(
        port,
        baudrate=baudrate,
        parity=parity,
        stopbits=stopbits,
        bytesize=8,
        timeout=1.0,
        retries=0,
        trace_packet=trace,
    )


def set_reply_timeout(client: ModbusSerialClient | ModbusTcpClient, timeout: float) -> None:
    """Make the next request wait ``timeout`` seconds for its reply."""
    client.comm_params.timeout_connect = timeout
    client.transaction.comm_params.timeout_connect = timeout
