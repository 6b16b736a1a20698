"""An emulated field station: the three sensors of a field unit, ready for the real gateway.

- the seismic digitizer streams frames on a pty, behind a by-id style symlink;
- the PIR answers Modbus RTU on a pty pair, behind another symlink;
- the magnetometer answers Modbus TCP on 127.0.0.1 (a free port).

Each kind's emulator module (named by its descriptor in :mod:`drivers.kinds`) knows how to
start itself here (``start_for_station``) and what it plays by default (``WAVEFORM``).

:meth:`EmulatedStation.start` returns where each listens, :meth:`EmulatedStation.sensors`
the ``[[sensors]]`` entries that point a gateway at them and :func:`config_toml` a whole
config file. Waveforms are pluggable: pass ``sources`` by kind, or get the built-in ambient
noise with occasional events (:mod:`hil.emulators.ambient`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import tomli_w

from drivers.kinds import KINDS, kind_of
from hil.emulators.ambient import AmbientSource
from hil.emulators.faults import Faults
from hil.emulators.source import WaveformSource

log = logging.getLogger(__name__)


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
        kinds: tuple[str, ...] | None = None,
        runtime_dir: str | Path | None = None,
    ) -> None:
        kinds = tuple(KINDS) if kinds is None else kinds
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
            offset = list(KINDS).index(kind)
            rate = kind_of(kind).typical_rate
            self._sources[kind] = AmbientSource.preset(kind, rate, seed=self.seed + offset)
        return self._sources[kind]

    def faults(self, name_or_kind: str) -> Faults:
        """The fault switchboard of one emulator (by sensor name or kind)."""
        kind = next(
            (k.name for k in KINDS.values() if k.default_name == name_or_kind), name_or_kind
        )
        return self.emulators[kind].faults

    def start(self) -> list[Endpoint]:
        try:
            for kind in self.kinds:
                self.endpoints.append(self._start(kind))
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

    def poll_hz(self, kind: str) -> int:
        """How often the gateway should poll a kind's emulator at this speed: its usual rate,
        faster for faster playback (to drain the device's FIFO), up to what the kind allows."""
        desc = kind_of(kind)
        assert desc.typical_poll_hz is not None and desc.poll_range is not None
        return int(min(desc.poll_range[1], round(desc.typical_poll_hz * self.speed)))

    def link(self, name: str) -> Path:
        """A by-id style path for an emulated serial device."""
        return self.runtime_dir / "serial" / "by-id" / name

    def _start(self, kind: str) -> Endpoint:
        desc = kind_of(kind)
        module = importlib.import_module(desc.emulator)
        _emulator, address, detail, entry = module.start_for_station(self, self.source(kind))
        sensor = {"name": desc.default_name, "kind": kind, **entry}
        return Endpoint(desc.default_name, kind, address, detail, sensor)


# -- config file ---------------------------------------------------------------------------


def config_toml(
    sensors: list[dict[str, Any]],
    *,
    node_id: str = "hil-0001",
    site: str = "hil-bench",
    state_dir: str = "hil-state",
    comment: str = "",
) -> str:
    """A gateway config (TOML) with a ``[node]`` section and the given ``[[sensors]]``.

    Written by ``tomli_w``, so any string (quotes, backslashes, newlines) comes out as valid
    TOML; a value TOML cannot hold raises :class:`TypeError`.
    """
    lines = [f"# {line}" for line in comment.splitlines()]
    node = {"id": node_id, "site": site, "state_dir": state_dir}
    body = tomli_w.dumps({"node": node, "sensors": list(sensors)})
    return "\n".join([*lines, body]) if lines else body


def write_config(path: str | Path, text: str) -> None:
    """Write atomically, so a reader never sees half a config."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    with contextlib.suppress(FileNotFoundError):
        tmp.chmod(0o644)
    tmp.replace(path)
