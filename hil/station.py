"""An emulated field station: the three sensors of a field unit, ready for the real gateway.

- the seismic digitizer streams frames on a pty, behind a by-id style symlink;
- the PIR answers Modbus RTU on a pty pair, behind another symlink;
- the magnetometer answers Modbus TCP on 127.0.0.1 (a free port).

:meth:`EmulatedStation.start` returns where each listens, :meth:`EmulatedStation.sensors`
the ``[[sensors]]`` entries that point a gateway at them and :func:`config_toml` a whole
config file. Waveforms are pluggable: pass ``sources`` by kind, or get the built-in ambient
noise with occasional events (:mod:`hil.ambient`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from hil.ambient import AmbientSource
from hil.digitizer import DigitizerEmulator
from hil.faults import Faults
from hil.source import WaveformSource

log = logging.getLogger(__name__)

KINDS = ("seismic", "pir", "magnetometer")
NAMES = {"seismic": "geo1", "pir": "pir1", "magnetometer": "mag1"}
# Default device rates (Hz) and how often the gateway polls the Modbus ones (at speed 1;
# faster playback needs faster polling to drain the devices' FIFOs, up to what they allow).
RATES = {"seismic": 1000, "pir": 100, "magnetometer": 100}
POLL_HZ = {"pir": 10, "magnetometer": 10}
MAX_POLL_HZ = {"pir": 100, "magnetometer": 200}
SEISMIC_BAUD = 460800  # 1000 Hz x 3 x 24-bit needs more than 115200 (docs/seismic-protocol.md)
MODBUS_BAUD = 115200


class _Emulator(Protocol):
    faults: Faults

    def stop(self) -> None: ...


@dataclass
class Endpoint:
    """Where one emulated sensor listens, and the config entry that reaches it."""

    name: str
    kind: str
    address: str
    detail: str
    sensor: dict[str, Any] = field(default_factory=dict)


class EmulatedStation:
    """Start the emulators of ``kinds``; stop them all (also on errors) with :meth:`stop`."""

    def __init__(
        self,
        *,
        sources: Mapping[str, WaveformSource] | None = None,
        speed: float = 1.0,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        runtime_dir: str | Path | None = None,
    ) -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown sensor kind(s): {', '.join(sorted(unknown))}")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.kinds = kinds
        self.speed = speed
        self.seed = seed
        self._sources = dict(sources or {})
        self._own_dir = runtime_dir is None
        self.runtime_dir = Path(runtime_dir or tempfile.mkdtemp(prefix="ugs-hil-"))
        self.emulators: dict[str, _Emulator] = {}
        self.endpoints: list[Endpoint] = []

    def source(self, kind: str) -> WaveformSource:
        """The waveform a kind plays: the one given, else the built-in ambient one."""
        if kind not in self._sources:
            offset = KINDS.index(kind)
            self._sources[kind] = AmbientSource.preset(kind, RATES[kind], seed=self.seed + offset)
        return self._sources[kind]

    def faults(self, name_or_kind: str) -> Faults:
        """The fault switchboard of one emulator (by sensor name or kind)."""
        kind = next((k for k, n in NAMES.items() if n == name_or_kind), name_or_kind)
        return self.emulators[kind].faults

    def start(self) -> list[Endpoint]:
        try:
            for kind in self.kinds:
                self.endpoints.append(getattr(self, f"_start_{kind}")())
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def stop(self) -> None:
        for kind, emulator in reversed(list(self.emulators.items())):
            try:
                emulator.stop()
            except Exception:
                log.exception("stopping the %s emulator failed", kind)
        self.emulators.clear()
        if self._own_dir:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def sensors(self) -> list[dict[str, Any]]:
        """``[[sensors]]`` entries for the running emulators."""
        return [endpoint.sensor for endpoint in self.endpoints]

    def __enter__(self) -> EmulatedStation:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- one emulator per kind -----------------------------------------------------------

    def _poll_hz(self, kind: str) -> int:
        return min(MAX_POLL_HZ[kind], round(POLL_HZ[kind] * self.speed))

    def _link(self, name: str) -> Path:
        return self.runtime_dir / "serial" / "by-id" / name

    def _start_seismic(self) -> Endpoint:
        source = self.source("seismic")
        emulator = DigitizerEmulator(
            source,
            speed=self.speed,
            link=self._link("usb-UGS_Seismic_Digitizer_EMU0001-if00-port0"),
        )
        self.emulators["seismic"] = emulator
        path = emulator.start()
        rate, channels = int(source.rate), source.channels
        return Endpoint(
            NAMES["seismic"],
            "seismic",
            path,
            f"digitizer frames, {rate} Hz × {channels}, 24-bit (pty {emulator.pty_path})",
            {
                "name": NAMES["seismic"], "kind": "seismic", "transport": "serial",
                "port": path, "baudrate": SEISMIC_BAUD, "sample_rate": rate,
                "channels": channels, "sample_bits": 24,
                # ~2.5 nm/s per count: a 24-bit digitizer behind a 28.8 V/(m/s) geophone
                "calibration": {"scale": 2.5e-9, "offset": 0.0, "units": "m/s"},
            },
        )  # fmt: skip

    def _start_pir(self) -> Endpoint:
        from hil.pir_emulator import PirEmulator

        source = self.source("pir")
        emulator = PirEmulator(source, device_id=1, speed=self.speed)
        self.emulators["pir"] = emulator
        path = emulator.start(self._link("usb-UGS_RS485_EMU0002-if00-port0"), MODBUS_BAUD)
        rate = int(source.rate)
        return Endpoint(
            NAMES["pir"],
            "pir",
            path,
            f"Modbus RTU, {MODBUS_BAUD} 8N1, unit 1, {rate} Hz",
            {
                "name": NAMES["pir"], "kind": "pir", "transport": "modbus-rtu", "port": path,
                "baudrate": MODBUS_BAUD, "device_id": 1, "sample_rate": rate,
                "poll_hz": self._poll_hz("pir"),
            },
        )  # fmt: skip

    def _start_magnetometer(self) -> Endpoint:
        from hil.magnetometer_emulator import MagnetometerEmulator

        source = self.source("magnetometer")
        emulator = MagnetometerEmulator(source, device_id=1, speed=self.speed)
        self.emulators["magnetometer"] = emulator
        address = emulator.start("tcp", host="127.0.0.1", port=0)
        rate = int(source.rate)
        return Endpoint(
            NAMES["magnetometer"],
            "magnetometer",
            address,
            f"Modbus TCP, unit 1, {rate} Hz, nT",
            {
                "name": NAMES["magnetometer"], "kind": "magnetometer",
                "transport": "modbus-tcp", "port": address, "device_id": 1,
                "sample_rate": rate, "poll_hz": self._poll_hz("magnetometer"),
                "calibration": {"scale": 1.0, "offset": 0.0, "units": "nT"},
            },
        )  # fmt: skip


# -- config file ---------------------------------------------------------------------------


def config_toml(
    sensors: list[dict[str, Any]],
    *,
    node_id: str = "hil-0001",
    site: str = "hil-bench",
    state_dir: str = "hil-state",
    comment: str = "",
) -> str:
    """A gateway config (TOML) with a ``[node]`` section and the given ``[[sensors]]``."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += ["[node]", f"id = {_value(node_id)}", f"site = {_value(site)}"]
    lines += [f"state_dir = {_value(state_dir)}", ""]
    for sensor in sensors:
        lines.append("[[sensors]]")
        lines += [f"{key} = {_value(value)}" for key, value in sensor.items()]
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_config(path: str | Path, text: str) -> None:
    """Write atomically, so a reader never sees half a config."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    with contextlib.suppress(FileNotFoundError):
        tmp.chmod(0o644)
    tmp.replace(path)
