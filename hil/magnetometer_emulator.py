"""Emulated three-axis magnetometer: Modbus TCP (default) or RTU, docs/registers.md.

The source gives the x, y, z field in nT as raw signed 32-bit integers, passed through
bit-exact; a value at the end of the 32-bit range raises OVERRANGE.
"""

from __future__ import annotations

import os
from typing import ClassVar

import numpy as np

from drivers.modbus_registers import MAGNETOMETER_MAP, RegisterMap
from hil.faults import Faults
from hil.modbus_device import EmulatedFifoDevice
from hil.modbus_server import ModbusEmulatorServer, ModbusTransport
from hil.source import Samples, WaveformSource

INT32_LIMITS = (-0x80000000, 0x7FFFFFFF)


class MagnetometerEmulator(EmulatedFifoDevice):
    """A magnetometer on TCP (127.0.0.1, a free port) or its own RS-485 line."""

    REGMAP: ClassVar[RegisterMap] = MAGNETOMETER_MAP

    def __init__(
        self,
        source: WaveformSource,
        *,
        device_id: int = 1,
        speed: float = 1.0,
        counter_start: int = 0,
        faults: Faults | None = None,
    ) -> None:
        super().__init__(
            source, device_id=device_id, speed=speed, counter_start=counter_start, faults=faults
        )
        self.server: ModbusEmulatorServer | None = None

    def start(
        self,
        transport: ModbusTransport = "tcp",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str | os.PathLike[str] | None = None,
        baudrate: int = 115200,
    ) -> str:
        """Serve; returns ``HOST:PORT`` (TCP) or the path to open (RTU)."""
        if self.server is None:
            self.server = ModbusEmulatorServer(
                [self], transport=transport, host=host, port=port, path=path, baudrate=baudrate
            )
        return self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def convert(self, raw: Samples) -> tuple[list[list[int]], bool]:
        entries = [MAGNETOMETER_MAP.encode_sample(row) for row in raw.tolist()]
        clipped = bool(len(raw)) and bool(np.isin(raw[-1], INT32_LIMITS).any())
        return entries, clipped
