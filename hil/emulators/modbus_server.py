"""A pymodbus server that puts emulated devices on a Modbus RTU line or a TCP port.

RTU: the server sits on one end of a :class:`~hil.emulators.pty.PtyPair`; the driver opens the other
end through a :class:`~hil.emulators.pty.StableLink` (a stand-in for ``/dev/serial/by-id/...``), so
the port can vanish and come back on a new device node. Several devices may share the line
(an RS-485 bus). TCP: the server listens on 127.0.0.1 (a free port by default).

The server behaves like real hardware where pymodbus's defaults would not: on RTU a request
for a unit nobody hosts goes unanswered (pymodbus would answer exception 4), on TCP it is
answered with exception 11 (gateway target failed to respond), as a Modbus TCP gateway does.

Faults of the wire, from each device's :class:`~hil.emulators.faults.Faults`: ``silent`` and
``drop_next`` swallow replies, ``modbus_exception`` replaces them, and on RTU
``corrupt_next`` breaks a reply's CRC and ``inject_garbage`` sends noise ahead of the next
reply; ``unplug``/``replug`` make the port vanish and return (RTU: the pty and its path; TCP:
the listening socket and its connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hil.emulators.faults import Faults
from hil.emulators.modbus_device import EmulatedFifoDevice
from hil.emulators.pty import PtyPair, StableLink

log = logging.getLogger(__name__)

T = TypeVar("T")
ModbusTransport = Literal["rtu", "tcp"]
_CALL_TIMEOUT = 10.0


class ModbusEmulatorServer:
    """Serves ``devices`` until :meth:`stop`; usable as a context manager."""

    def __init__(
        self,
        devices: Sequence[EmulatedFifoDevice],
        *,
        transport: ModbusTransport = "rtu",
        host: str = "127.0.0.1",
        port: int = 0,
        path: str | os.PathLike[str] | None = None,
        baudrate: int = 115200,
    ) -> None:
        if not devices:
            raise ValueError("a Modbus server needs at least one device")
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two devices share a unit id on one {transport} server: {ids}")
        if transport not in ("rtu", "tcp"):
            raise ValueError(f"unknown Modbus transport {transport!r}")
        self.devices = {d.device_id: d for d in devices}
        self.transport: ModbusTransport = transport
        self.host = host
        self.port = port
        self.baudrate = baudrate
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if transport == "rtu" and path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="ugs-modbus-")
            path = Path(self._tmpdir.name) / "ttyRS485"
        self.link = StableLink(path) if path is not None else None
        self._pair: PtyPair | None = None
        self._server: ModbusSerialServer | ModbusTcpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._plugged = True
        self._plug_lock = threading.Lock()
        self.unplugs = 0

    @property
    def address(self) -> str:
        """Where a driver connects: the RTU path, or HOST:PORT."""
        if self.transport == "rtu":
            assert self.link is not None
            return str(self.link.path)
        return f"{self.host}:{self.port}"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving; returns :attr:`address`."""
        if self._thread is not None:
            return self.address
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_loop, args=(ready,), name=f"modbus-{self.transport}", daemon=True
        )
        self._thread.start()
        ready.wait(_CALL_TIMEOUT)
        try:
            self._call(self._plug_in())
        except BaseException:
            self.stop()
            raise
        for device in self.devices.values():
            device.faults.on_change(self._faults_changed)
        return self.address

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            self._cleanup_files()
            return
        with contextlib.suppress(Exception):
            self._call(self._pull_out())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CALL_TIMEOUT)
        self._loop = self._thread = None
        self._cleanup_files()

    def __enter__(self) -> ModbusEmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_loop(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_CALL_TIMEOUT)

    def _cleanup_files(self) -> None:
        if self.link is not None:
            self.link.remove()
        if self._pair is not None:
            self._pair.close()
            self._pair = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    # -- plugging -------------------------------------------------------------------------

    def _faults_changed(self, _faults: Faults) -> None:
        want = all(d.faults.plugged for d in self.devices.values())
        with self._plug_lock:
            if want == self._plugged or self._loop is None:
                return
            self._plugged = want
            if not want:
                self.unplugs += 1
            self._call(self._plug_in() if want else self._pull_out())

    async def _plug_in(self) -> None:
        context = [d.sim_device() for d in self.devices.values()]
        # Unit 0 stands for every unit nobody hosts, so that pymodbus routes such requests
        # here instead of failing; trace hooks then answer them as real hardware would.
        context.append(SimDevice(id=0, simdata=[SimData(0, count=1, datatype=DataType.REGISTERS)]))
        server: ModbusSerialServer | ModbusTcpServer
        if self.transport == "rtu":
            assert self.link is not None
            self._pair = PtyPair()
            server = ModbusSerialServer(
                context,
                port=self._pair.a,
                baudrate=self.baudrate,
                trace_packet=self._trace_packet,
                trace_pdu=self._trace_pdu,
            )
            await server.serve_forever(background=True)
            self.link.point_to(self._pair.b)
        else:
            server = ModbusTcpServer(
                context,
                address=(self.host, self.port),
                trace_packet=self._trace_packet,
                trace_pdu=self._trace_pdu,
            )
            await server.serve_forever(background=True)
            listener: Any = server.transport
            self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server

    async def _pull_out(self) -> None:
        if self.link is not None:
            self.link.remove()
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()  # type: ignore[no-untyped-call]
        if self._pair is not None:
            self._pair.close()
            self._pair = None

    # -- answering like hardware ----------------------------------------------------------

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            return pdu
        device = self.devices.get(pdu.dev_id)
        if device is None:
            if self.transport == "tcp":
                return _exception(pdu, ExcCodes.GATEWAY_NO_RESPONSE)
            return pdu  # silenced in _trace_packet
        if device.faults.is_silent:
            return pdu
        code = device.faults.take_exception()
        return pdu if code is None else _exception(pdu, code)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        unit = data[0] if self.transport == "rtu" else (data[6] if len(data) > 6 else -1)
        device = self.devices.get(unit)
        if device is None:
            return b"" if self.transport == "rtu" else data
        faults = device.faults
        if faults.is_silent or faults.take_drop():
            return b""
        if self.transport == "tcp":
            return data
        if faults.take_corrupt():
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        return faults.take_garbage() + data


def _exception(pdu: ModbusPDU, code: int) -> ExceptionResponse:
    return ExceptionResponse(
        pdu.function_code & 0x7F, code, device_id=pdu.dev_id, transaction=pdu.transaction_id
    )
