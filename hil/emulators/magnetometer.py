"""Emulated three-axis magnetometer: Modbus TCP (default) or RTU, docs/registers.md.

The source gives the x, y, z field in nT as raw signed 32-bit integers, passed through
bit-exact; a value at the end of the 32-bit range raises OVERRANGE.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from drivers.modbus.registers import MAGNETOMETER_MAP, RegisterMap
from hil.emulators.ambient import EventShape, Waveform
from hil.emulators.faults import Faults
from hil.emulators.modbus_device import EmulatedFifoDevice
from hil.emulators.modbus_server import ModbusEmulatorServer, ModbusTransport
from hil.emulators.source import Samples, WaveformSource

if TYPE_CHECKING:
    from hil.station import EmulatedStation

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


# -- as part of an emulated field station (hil.station) -------------------------------------

WAVEFORM = Waveform(
    # Magnetometer axes in nT: the Earth's field plus a car's few-µT bump.
    baseline=(18_000.0, -1_200.0, 44_000.0),
    noise=1.5,
    event=EventShape(3000.0, 0.15, 2.0, 10.0),
    quiet_rate=50.0,
    quiet_noise=1.0,  # ~1 nT
    quiet_channels=3,
    play_channels=3,
    holds_level=True,  # the Earth's field stays where the recording left it
)


def start_for_station(
    station: EmulatedStation, source: WaveformSource
) -> tuple[MagnetometerEmulator, str, str, dict[str, Any]]:
    """Start the station's magnetometer on Modbus TCP, 127.0.0.1: (emulator, address, ...)."""
    emulator = MagnetometerEmulator(source, device_id=1, speed=station.speed)
    station.emulators["magnetometer"] = emulator
    address = emulator.start("tcp", host="127.0.0.1", port=0)
    rate = int(source.rate)
    return (
        emulator,
        address,
        f"Modbus TCP, unit 1, {rate} Hz, nT",
        {
            "transport": "modbus-tcp", "port": address, "device_id": 1, "sample_rate": rate,
            "poll_hz": station.poll_hz("magnetometer"),
            "calibration": {"scale": 1.0, "offset": 0.0, "units": "nT"},
        },
    )  # fmt: skip
