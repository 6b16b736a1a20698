"""Step 3: the emulator, with what it plays by default and how a station starts it."""

from __future__ import annotations

from typing import Any

from hil.emulators.ambient import EventShape, Waveform
from hil.emulators.digitizer import DigitizerEmulator
from hil.emulators.source import WaveformSource
from hil.station import EmulatedStation

WAVEFORM = Waveform(
    baseline=(0.0,),
    noise=200.0,
    event=EventShape(2e5, 40.0, 0.3, 5.0),
    quiet_rate=500.0,
    quiet_noise=100.0,
    quiet_channels=1,
    play_channels=1,
)


def start_for_station(
    station: EmulatedStation, source: WaveformSource
) -> tuple[DigitizerEmulator, str, str, dict[str, Any]]:
    emulator = DigitizerEmulator(source, speed=station.speed, link=station.link("usb-UGS_MIC"))
    station.emulators["acoustic"] = emulator
    path = emulator.start()
    entry = {
        "transport": "serial",
        "port": path,
        "baudrate": 115200,
        "sample_rate": int(source.rate),
        "channels": source.channels,
    }
    return emulator, path, f"acoustic digitizer frames (pty {emulator.pty_path})", entry
