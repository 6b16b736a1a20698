"""Modbus RTU (serial) and Modbus TCP links on pymodbus's synchronous clients.

A link is one wire: a serial port (any ``serial.serial_for_url`` URL: a device path such as
``/dev/serial/by-id/...``, a pty, ``rfc2217://``) or one TCP endpoint. It is used by a single
reader thread (see :mod:`drivers.modbus.bus`), so it holds no lock itself. What it adds to the
pymodbus client:

- a reply timeout per request (each device on a bus has its own);
- failures as the project's errors, with messages for a technician: :class:`NoReplyError`,
  :class:`ModbusExceptionError`, :class:`BadReplyError` (CRC or malformed), :class:`LinkDownError`;
- a serial port that vanished (USB adapter pulled out) is noticed: its path is gone or now
  names another device, so the link closes and the bus reopens it when it is back.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import ModbusPDU

from drivers.config import SensorConfig, split_host_port
from drivers.errors import DeviceError, ProtocolError
from drivers.modbus.pymodbus_adapter import AbortRequest, serial_client, set_reply_timeout

log = logging.getLogger(__name__)

# Drivers count and report timeouts themselves; pymodbus would log every one with a hex dump
# of recent frames, flooding the journal while a dead device is probed. An operator who sets
# the "pymodbus" logger's level keeps it.
if logging.getLogger("pymodbus").level == logging.NOTSET:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


# The Modbus specification's names of pymodbus's exception codes, for messages.
EXCEPTION_NAMES = {
    ExcCodes.ILLEGAL_FUNCTION: "illegal function",
    ExcCodes.ILLEGAL_ADDRESS: "illegal data address",
    ExcCodes.ILLEGAL_VALUE: "illegal data value",
    ExcCodes.DEVICE_FAILURE: "server device failure",
    ExcCodes.ACKNOWLEDGE: "acknowledge",
    ExcCodes.DEVICE_BUSY: "server device busy",
    ExcCodes.NEGATIVE_ACKNOWLEDGE: "negative acknowledge",
    ExcCodes.MEMORY_PARITY_ERROR: "memory parity error",
    ExcCodes.GATEWAY_PATH_UNAVIABLE: "gateway path unavailable",
    ExcCodes.GATEWAY_NO_RESPONSE: "gateway target device failed to respond",
}


def exception_name(code: int) -> str:
    """``4`` -> ``"server device failure"``."""
    try:
        return EXCEPTION_NAMES[ExcCodes(code)]
    except ValueError:
        return "unknown exception"


class NoReplyError(DeviceError):
    """The device did not answer in time."""


class LinkDownError(DeviceError):
    """The port or connection is gone; the bus must reopen it."""


class BadReplyError(ProtocolError):
    """An answer that arrived but cannot be used (failed CRC, wrong length)."""

    def __init__(self, message: str, *, crc: bool = False) -> None:
        super().__init__(message)
        self.crc = crc


class ModbusExceptionError(DeviceError):
    """The device answered with a Modbus exception response."""

    def __init__(self, device_id: int, function: int, code: int) -> None:
        name = exception_name(code)
        super().__init__(
            f"device {device_id} refused function {function} with exception {code} ({name})"
        )
        self.code = code


class ModbusLink(ABC):
    """One Modbus wire, driven by exactly one thread."""

    def __init__(self, describe: str, *, baudrate: int | None = None) -> None:
        self.describe = describe
        """Where the link goes, for messages: the port path or HOST:PORT."""
        self.baudrate = baudrate
        self.opens = 0
        self._client: ModbusSerialClient | ModbusTcpClient | None = None
        # (device_id, function, reply length) of the request in flight, for the CRC check.
        self._expect: tuple[int, int, int] | None = None
        self.noise_bytes = 0
        """Bytes of line noise skipped in front of replies."""

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._client.connected

    def open(self) -> None:
        """Open the port / connect; raises :class:`LinkDownError` saying what to check."""
        self.close()
        client = self._make_client()
        # Retries are the bus's business (it knows which devices are dead); a client that
        # closes the connection after unanswered requests would cut off the other devices.
        client.set_max_no_responses(1 << 30)
        if not client.connect():
            client.close()  # type: ignore[no-untyped-call]
            raise LinkDownError(self._open_failure())
        self._client = client
        self._opened()
        self.opens += 1

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()  # type: ignore[no-untyped-call]
            except Exception:  # a port that vanished can fail to close: it is gone anyway
                log.debug("closing %s failed", self.describe, exc_info=True)

    # -- requests -------------------------------------------------------------------------

    def read_input_registers(
        self, device_id: int, address: int, count: int, timeout: float
    ) -> list[int]:
        return self._read(4, device_id, address, count, timeout)

    def read_holding_registers(
        self, device_id: int, address: int, count: int, timeout: float
    ) -> list[int]:
        return self._read(3, device_id, address, count, timeout)

    def write_register(self, device_id: int, address: int, value: int, timeout: float) -> None:
        client = self._require()
        self._execute(
            6,
            device_id,
            timeout,
            8,
            lambda: client.write_register(address, value & 0xFFFF, device_id=device_id),
        )

    def _read(
        self, function: int, device_id: int, address: int, count: int, timeout: float
    ) -> list[int]:
        client = self._require()
        call = client.read_input_registers if function == 4 else client.read_holding_registers
        reply = self._execute(
            function,
            device_id,
            timeout,
            5 + 2 * count,
            lambda: call(address, count=count, device_id=device_id),
        )
        registers: list[int] = list(reply.registers)
        if len(registers) != count:
            raise BadReplyError(
                f"device {device_id} answered {len(registers)} registers for a read of {count}"
            )
        return registers

    def _execute(
        self,
        function: int,
        device_id: int,
        timeout: float,
        reply_length: int,
        call: Callable[[], ModbusPDU],
    ) -> Any:
        client = self._require()
        set_reply_timeout(client, timeout)
        self._expect = (device_id, function, reply_length)
        try:
            reply = call()
        except AbortRequest:  # from _trace: the reply failed its CRC
            raise BadReplyError(
                f"device {device_id}: reply failed its CRC (noise on the line? check "
                "termination and grounding)",
                crc=True,
            ) from None
        except ModbusIOException:
            self._after_timeout()
            raise NoReplyError(
                f"device {device_id} on {self.describe} did not answer within {timeout:g} s"
            ) from None
        except ConnectionException:
            self.close()
            raise LinkDownError(f"{self.describe}: connection lost") from None
        except ModbusException as exc:
            raise BadReplyError(f"device {device_id}: unusable reply ({exc})") from None
        except OSError as exc:
            self.close()
            raise LinkDownError(f"{self.describe}: {exc.strerror or exc}") from None
        finally:
            self._expect = None
        if reply.isError():
            raise ModbusExceptionError(device_id, function, int(reply.exception_code))
        return reply

    def _require(self) -> ModbusSerialClient | ModbusTcpClient:
        client = self._client
        if client is None or not client.connected:
            self._client = None
            raise LinkDownError(f"{self.describe} is not open")
        return client

    # -- per transport --------------------------------------------------------------------

    @abstractmethod
    def _make_client(self) -> ModbusSerialClient | ModbusTcpClient: ...

    @abstractmethod
    def _open_failure(self) -> str: ...

    def _opened(self) -> None:
        """Called once the client is connected."""
        return None

    def _after_timeout(self) -> None:
        """Called after a request timed out, before the timeout is reported."""
        return None


class RtuLink(ModbusLink):
    """Modbus RTU on a serial port opened from a path or pyserial URL."""

    def __init__(
        self, port: str, *, baudrate: int = 115200, parity: str = "N", stopbits: int = 1
    ) -> None:
        super().__init__(port, baudrate=baudrate)
        self.port = port
        self.parity = parity
        self.stopbits = stopbits
        self._identity: tuple[int, int, int] | None = None

    def _make_client(self) -> ModbusSerialClient:
        return serial_client(
            self.port,
            baudrate=self.baudrate or 115200,
            parity=self.parity,
            stopbits=self.stopbits,
            trace=self._trace,
        )

    def _open_failure(self) -> str:
        if _is_local_path(self.port) and not os.path.exists(self.port):
            return f"{self.port} does not exist: is the USB/RS-485 adapter plugged in?"
        return (
            f"cannot open {self.port} (in use by another program, or no permission: "
            "is the service user in the dialout group?)"
        )

    def _opened(self) -> None:
        self._identity = _port_identity(self.port)

    def _after_timeout(self) -> None:
        # A pulled USB adapter often shows up as silence on the old handle rather than an
        # error; its path then vanishes, or names a new device once it is plugged back.
        if self._identity is not None and _port_identity(self.port) != self._identity:
            self.close()
            raise LinkDownError(f"{self.port} vanished (USB adapter unplugged?)")

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # pymodbus's RTU framer gives up on a buffer with noise in front of the reply, and
        # drops a reply with a bad CRC silently, both ending in a full timeout. Knowing the
        # reply expected, this finds it behind noise or a late answer to an earlier request
        # (RTU has no transaction ids), and fails a bad CRC at once.
        expect = self._expect
        if sending or expect is None:
            return data
        device_id, function, length = expect
        corrupt = False
        i = 0
        while i < len(data) - 1:
            if data[i] != device_id or data[i + 1] & 0x7F != function:
                i += 1
                continue
            if data[i + 1] & 0x80:
                size = 5
            elif function in (3, 4):
                if len(data) - i < 3:
                    return data[i:]
                size = 5 + data[i + 2]  # byte count
            else:
                size = length
            if len(data) - i < size:
                return data[i:]  # the rest is still on its way
            crc = int.from_bytes(data[i + size - 2 : i + size], "big")
            if not FramerRTU.check_CRC(data[i : i + size - 2], crc):
                corrupt = corrupt or size == length
                i += 1
                continue
            if size in (length, 5):
                self.noise_bytes += i
                return data[i:]
            i += size  # a whole, valid reply of another length: a late one, skip it
        if corrupt:
            raise AbortRequest
        return data[i:]


class TcpLink(ModbusLink):
    """Modbus TCP to one endpoint (a device, or a gateway in front of several units)."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port}")
        self.host = host
        self.port = port

    def _make_client(self) -> ModbusTcpClient:
        return ModbusTcpClient(self.host, port=self.port, timeout=2.0, retries=0)

    def _open_failure(self) -> str:
        return (
            f"cannot connect to {self.describe} (device powered? network cable? "
            "port 502 or the configured one?)"
        )


def link_for(sensor: SensorConfig) -> ModbusLink:
    """The link a sensor's config describes."""
    if sensor.transport == "modbus-tcp":
        host, port = split_host_port(sensor.port)
        return TcpLink(host, port)
    if sensor.transport == "modbus-rtu":
        return RtuLink(
            sensor.port, baudrate=sensor.baudrate, parity=sensor.parity, stopbits=sensor.stopbits
        )
    raise ValueError(f"{sensor.name}: {sensor.transport} is not a Modbus transport")


def _is_local_path(port: str) -> bool:
    return "://" not in port


def _port_identity(port: str) -> tuple[int, int, int] | None:
    """Which device node a path names now (None: gone, or not a local path)."""
    if not _is_local_path(port):
        return None
    try:
        st = os.stat(port)
    except OSError:
        return (-1, -1, -1)
    return (st.st_dev, st.st_ino, st.st_rdev)
