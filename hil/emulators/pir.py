"""Emulated PIR sensor: Modbus RTU over a pty, register map of docs/registers.md.

The source gives the pyroelectric level (channel 0, raw counts; clipped to the signed 16-bit
converter range, which raises OVERRANGE) and optionally the motion flag (channel 1, non-zero
= motion). With a one-channel source the emulated firmware raises the flag itself when
``|level| >= MOTION_THRESHOLD`` (holding register 3 for mbpoll).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from drivers.modbus.registers import HR_MOTION_THRESHOLD, PIR_MAP, RegisterMap
from hil.emulators.ambient import EventShape, Waveform
from hil.emulators.faults import Faults
from hil.emulators.modbus_device import EmulatedFifoDevice
from hil.emulators.modbus_server import ModbusEmulatorServer
from hil.emulators.source import Samples, WaveformSource

if TYPE_CHECKING:
    from hil.station import EmulatedStation

INT16_MIN, INT16_MAX = -0x8000, 0x7FFF


class PirEmulator(EmulatedFifoDevice):
    """A PIR on its own RS-485 line; :meth:`start` returns the path to open."""

    REGMAP: ClassVar[RegisterMap] = PIR_MAP

    def __init__(
        self,
        source: WaveformSource,
        *,
        device_id: int = 1,
        speed: float = 1.0,
        motion_threshold: int = 1000,
        counter_start: int = 0,
        faults: Faults | None = None,
    ) -> None:
        if not 0 <= motion_threshold <= INT16_MAX:
            raise ValueError("motion_threshold is 0-32767 counts")
        self.default_threshold = motion_threshold
        self._threshold = motion_threshold
        super().__init__(
            source, device_id=device_id, speed=speed, counter_start=counter_start, faults=faults
        )
        self.server: ModbusEmulatorServer | None = None

    def start(self, path: str | os.PathLike[str] | None = None, baudrate: int = 115200) -> str:
        """Serve on a pty behind ``path`` (a temporary one by default); returns the path."""
        if self.server is None:
            self.server = ModbusEmulatorServer(
                [self], transport="rtu", path=path, baudrate=baudrate
            )
        return self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    # -- the PIR's own conversion ---------------------------------------------------------

    def check_source(self, source: WaveformSource) -> None:
        if source.channels not in (1, 2):
            raise ValueError(f"a PIR source has 1 or 2 channels, not {source.channels}")

    def convert(self, raw: Samples) -> tuple[list[list[int]], bool]:
        level = np.clip(raw[:, 0].astype(np.int64), INT16_MIN, INT16_MAX)
        # The source's own flag when it has one, else the firmware's threshold.
        motion = raw[:, 1] != 0 if raw.shape[1] > 1 else np.abs(level) >= self._threshold
        entries = [
            PIR_MAP.encode_sample((int(v), int(m))) for v, m in zip(level, motion, strict=True)
        ]
        clipped = bool(len(level)) and int(level[-1]) in (INT16_MIN, INT16_MAX)
        return entries, clipped

    def extra_holding(self) -> list[int]:
        return [self._threshold]

    def write_extra_holding(self, address: int, value: int) -> bool:
        if address == HR_MOTION_THRESHOLD and 0 <= value <= INT16_MAX:
            self._threshold = value
            return True
        return False

    def reset_settings(self) -> None:
        self._threshold = self.default_threshold


# -- as part of an emulated field station (hil.station) -------------------------------------

WAVEFORM = Waveform(
    # PIR level in signed 16-bit counts: a person crossing swings it by a few thousand.
    baseline=(0.0,),
    noise=40.0,
    event=EventShape(6000.0, 0.6, 1.0, 8.0),
    quiet_rate=50.0,
    quiet_noise=150.0,  # ~15 mV at the default scale
    quiet_channels=1,
    play_channels=1,  # the level; the device derives its own motion flag
)
STATION_BAUD = 115200


def start_for_station(
    station: EmulatedStation, source: WaveformSource
) -> tuple[PirEmulator, str, str, dict[str, Any]]:
    """Start the station's PIR on Modbus RTU over a pty: (emulator, path, what, entry)."""
    emulator = PirEmulator(source, device_id=1, speed=station.speed)
    station.emulators["pir"] = emulator
    path = emulator.start(station.link("usb-UGS_RS485_EMU0002-if00-port0"), STATION_BAUD)
    rate = int(source.rate)
    return (
        emulator,
        path,
        f"Modbus RTU, {STATION_BAUD} 8N1, unit 1, {rate} Hz",
        {
            "transport": "modbus-rtu", "port": path, "baudrate": STATION_BAUD, "device_id": 1,
            "sample_rate": rate, "poll_hz": station.poll_hz("pir"),
        },
    )  # fmt: skip
