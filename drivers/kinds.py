"""What each kind of sensor is: one descriptor per kind, read by every part of the gateway.

A :class:`SensorKind` holds the facts about a kind of device that the config schema, the
drivers, the recording formats, the emulators, the service and the command line need: how it
is read (a frame stream on a serial line, or a Modbus device polled for its FIFO), the
transports it speaks, its rate and poll limits, the columns it delivers, its physical unit,
default scale and sample width, its default sensor name, the serial framing overhead, and
the modules that implement it in each layer. Nothing else in the tree keeps a table keyed by
kind: adding a kind is a descriptor here plus a driver, an emulator and a DSP chain (see
docs/sensor-kinds.md).

The layers stay apart: the descriptor names the modules of the other layers as strings
(``driver``, ``emulator``, ``chain``), and each layer imports only its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from drivers.modbus.registers import MAGNETOMETER_MAP, PIR_MAP, RegisterMap

Transport = Literal["serial", "modbus-rtu", "modbus-tcp"]
Reading = Literal["stream", "poll"]


@dataclass(frozen=True)
class SensorKind:
    """One kind of sensor device (``KINDS["pir"]``)."""

    name: str
    """The ``kind`` of a ``[[sensors]]`` entry: lower-case letters."""
    what: str
    """What the device is, for people (config reference, ``--help``)."""
    reading: Reading
    """``stream``: the device sends frames on a serial line at its own pace (its config has
    ``sample_rate``, ``channels``, ``sample_bits``); ``poll``: a Modbus device the gateway
    polls for its sample FIFO (``device_id``, ``poll_hz``, optional ``sample_rate``)."""
    transports: tuple[Transport, ...]
    rate_range: tuple[float, float]
    """Sample rates (Hz) the device supports."""
    units: str
    """Physical unit of its samples after calibration (and in recordings)."""
    scale: float
    """Default physical units per device count (recordings without a scale)."""
    bits: int
    """Signed width of the device's samples."""
    name_prefix: str
    """Default sensor names are ``{name_prefix}1``, ``{name_prefix}2``, ..."""
    seed_codes: tuple[str, ...]
    """SEED instrument codes read as this kind in miniSEED; the first is the one written."""
    short_period: bool
    """SEED band codes for a short-period instrument (a geophone) rather than broadband."""
    driver: str
    """Module whose import registers the driver class (``drivers.registry``)."""
    emulator: str
    """Module of its emulator in ``hil`` (``start_for_station``)."""
    chain: str
    """Module of its DSP chain in ``dsp`` (registered under this kind's name)."""
    typical_rate: float
    """A usual sample rate (Hz): emulators, demos and examples use it."""
    columns: tuple[str, ...] = ()
    """Values per sample a polled device delivers; a streaming device's are its configured
    components (1 to ``max_components``)."""
    max_components: int = 1
    components: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """Component names by count, when a file does not say (``{3: ("Z", "N", "E")}``)."""
    poll_range: tuple[float, float] | None = None
    """Polls per second the gateway may make (polled devices)."""
    typical_poll_hz: float | None = None
    registers: RegisterMap | None = None
    """The register map of a polled device (docs/registers.md)."""
    frame_bytes: int = 0
    frames_per_s: float = 0.0
    """A streaming device's framing overhead: bytes per frame beyond the samples, frames/s."""

    @property
    def default_name(self) -> str:
        return f"{self.name_prefix}1"

    def component_names(self, count: int) -> tuple[str, ...]:
        return self.components.get(count, tuple(str(i + 1) for i in range(count)))


SEISMIC = SensorKind(
    name="seismic",
    what="seismic digitizer behind a geophone (frame stream, docs/seismic-protocol.md)",
    reading="stream",
    transports=("serial",),
    rate_range=(250.0, 4000.0),
    units="m/s",
    scale=1e-9,  # 1 nm/s per count
    bits=24,
    name_prefix="geo",
    seed_codes=("P", "H", "L", "N"),  # geophone; high-gain, low-gain, accelerometer
    short_period=True,
    driver="drivers.seismic",
    emulator="hil.emulators.digitizer",
    chain="dsp.seismic",
    typical_rate=1000.0,
    max_components=3,
    components={1: ("Z",), 3: ("Z", "N", "E")},
    frame_bytes=16,  # header + CRC, docs/seismic-protocol.md
    frames_per_s=50.0,  # one frame per 20 ms
)
PIR = SensorKind(
    name="pir",
    what="passive infrared sensor (Modbus, docs/registers.md)",
    reading="poll",
    transports=("modbus-rtu", "modbus-tcp"),
    rate_range=(float(PIR_MAP.rate_range[0]), float(PIR_MAP.rate_range[1])),
    units="V",
    scale=1e-4,  # 0.1 mV per count
    bits=16,
    name_prefix="pir",
    seed_codes=("Y",),
    short_period=False,
    driver="drivers.pir",
    emulator="hil.emulators.pir",
    chain="dsp.pir",
    typical_rate=100.0,
    columns=("level", "motion"),
    components={1: ("I",), 2: ("I", "M")},
    poll_range=(10.0, 100.0),
    typical_poll_hz=10.0,
    registers=PIR_MAP,
)
MAGNETOMETER = SensorKind(
    name="magnetometer",
    what="three-axis magnetometer (Modbus, docs/registers.md)",
    reading="poll",
    transports=("modbus-rtu", "modbus-tcp"),
    rate_range=(float(MAGNETOMETER_MAP.rate_range[0]), float(MAGNETOMETER_MAP.rate_range[1])),
    units="nT",
    scale=1.0,  # 1 nT per count
    bits=32,
    name_prefix="mag",
    seed_codes=("F",),
    short_period=False,
    driver="drivers.magnetometer",
    emulator="hil.emulators.magnetometer",
    chain="dsp.magnetic",
    typical_rate=100.0,
    columns=("x_nT", "y_nT", "z_nT"),
    components={1: ("Z",), 3: ("N", "E", "Z")},
    poll_range=(10.0, 200.0),
    typical_poll_hz=10.0,
    registers=MAGNETOMETER_MAP,
)

KINDS: dict[str, SensorKind] = {}
"""Every known kind by name, in the order they were added (the built-in three first)."""


def add_kind(kind: SensorKind) -> SensorKind:
    """Make a kind known. Extensions call this before the config schema is first imported
    (``drivers.config`` builds its union of sensor tables from the kinds known then)."""
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"two descriptors for sensor kind {kind.name!r}")
    if kind.reading == "poll" and (kind.registers is None or kind.poll_range is None):
        raise ValueError(f"{kind.name}: a polled kind needs its registers and poll_range")
    KINDS[kind.name] = kind
    return kind


for _kind in (SEISMIC, PIR, MAGNETOMETER):
    add_kind(_kind)


def names() -> tuple[str, ...]:
    """The kinds' names: the ``choices`` of every ``--sensor`` option."""
    return tuple(KINDS)


def kind_of(name: str) -> SensorKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown sensor kind {name!r} (one of {', '.join(KINDS)})") from None


def by_reading(reading: Reading) -> Iterator[SensorKind]:
    return (kind for kind in KINDS.values() if kind.reading == reading)
