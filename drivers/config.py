"""Schema of one ``[[sensors]]`` entry, and the checks a bus imposes on a set of them.

Each kind of sensor has its own table, chosen by ``kind`` (a discriminated union made from
the descriptors in :mod:`drivers.kinds`): what every entry has (:class:`SensorConfig`), plus
what a streaming device (:class:`StreamSensorConfig`) or a polled Modbus device
(:class:`PolledSensorConfig`) needs, checked against its kind's limits.

Validation here catches what a technician gets wrong on site: a device id outside Modbus's
1-247, a baud rate no UART does, or more polling than the wire can carry at that baud.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, Union, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    create_model,
    field_validator,
    model_validator,
)

from drivers.kinds import KINDS, SensorKind, Transport, kind_of
from drivers.modbus.registers import RegisterMap, max_samples_per_poll, poll_window
from drivers.stream.codec import SAMPLE_RATES

STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

# A bus loaded beyond this share of its capacity misses polls as soon as one reply is late.
MAX_BUS_LOAD = 0.8


SCALE_RANGE = (1e-30, 1e30)
"""How small and how large a calibration scale may be (physical units per raw count)."""


class Calibration(BaseModel):
    """Physical value = (raw - offset) * scale."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    scale: float = Field(
        default=1.0,
        description="physical units per raw count (1e-30 to 1e30 in size; negative flips the "
        "polarity)",
    )
    offset: float = Field(default=0.0, description="raw counts at zero")
    units: str = Field(default="counts", max_length=16, description="name of the unit")

    @field_validator("scale")
    @classmethod
    def _sensible_scale(cls, scale: float) -> float:
        # Zero silences the sensor; beyond these, samples leave what the detector's squares
        # can hold (a count of a geophone is 1e-9 m/s, of a magnetometer 1e-10 T).
        if not SCALE_RANGE[0] <= abs(scale) <= SCALE_RANGE[1]:
            raise ValueError(
                f"{scale:g} is no sensor's units per count: its size must be between "
                f"{SCALE_RANGE[0]:g} and {SCALE_RANGE[1]:g} (negative flips the polarity)"
            )
        return scale


class SensorConfig(BaseModel):
    """What every ``[[sensors]]`` entry has; each kind's table adds how the device is read."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="unique sensor name")
    kind: str = Field(description="what the device is")
    transport: Transport = Field(description="how the gateway reaches the device")
    port: str = Field(
        min_length=1,
        description="device path or pyserial URL (serial, modbus-rtu); HOST:PORT (modbus-tcp)",
    )
    baudrate: int = Field(default=115200, description="serial line speed (not modbus-tcp)")
    parity: Literal["N", "E", "O"] = Field(default="N", description="serial parity")
    stopbits: Literal[1, 2] = Field(default=1, description="serial stop bits")
    timeout_s: float = Field(default=0.5, gt=0, le=30, description="per-request reply timeout")
    calibration: Calibration = Field(default_factory=Calibration)
    enabled: bool = Field(default=True, description="false: configured but not read")

    @field_validator("baudrate")
    @classmethod
    def _standard_baudrate(cls, baudrate: int) -> int:
        if baudrate not in STANDARD_BAUDRATES:
            raise ValueError(
                f"{baudrate} is not a rate serial hardware supports "
                f"(one of {', '.join(map(str, STANDARD_BAUDRATES))})"
            )
        return baudrate

    # Cross-field checks: messages start with "FIELD: " so that the config loader reports
    # them under that field's path.
    @model_validator(mode="after")
    def _check_transport(self) -> Self:
        allowed = self.descriptor.transports
        if self.transport not in allowed:
            raise ValueError(
                f"transport: a {self.kind} sensor speaks {' or '.join(allowed)}, "
                f"not {self.transport}"
            )
        if self.transport == "modbus-tcp":
            try:
                _split_host_port(self.port)
            except ValueError as exc:
                raise ValueError(f"port: {exc}") from None
        return self

    @property
    def descriptor(self) -> SensorKind:
        return kind_of(self.kind)

    @property
    def rate(self) -> float:
        """Samples per second this sensor delivers."""
        raise NotImplementedError

    @property
    def columns(self) -> int:
        """Values per sample this sensor's driver delivers."""
        raise NotImplementedError

    @property
    def rate_field(self) -> str:
        """The field to change when the wire cannot carry this sensor's rate."""
        raise NotImplementedError

    def wire_load(self) -> float:
        """Share of the wire's capacity this sensor uses (0..1+) at its rate and baud."""
        raise NotImplementedError

    @property
    def bus(self) -> str:
        """Sensors sharing this key share one wire (and one lock)."""
        return f"{self.transport.removeprefix('modbus-')}:{self.port}"


class StreamSensorConfig(SensorConfig):
    """A device that streams frames on a serial line (docs/seismic-protocol.md)."""

    sample_rate: float | None = Field(
        default=None, description="the device's sample rate in Hz (one of the protocol's)"
    )
    channels: int = Field(default=1, ge=1, description="components the device sends")
    sample_bits: Literal[24, 32] = Field(default=24, description="sample width")

    @model_validator(mode="after")
    def _check_stream(self) -> Self:
        kind = self.descriptor
        if self.sample_rate is None:
            raise ValueError(f"sample_rate: a {self.kind} sensor needs sample_rate (Hz)")
        lo, hi = kind.rate_range
        if not lo <= self.sample_rate <= hi:
            raise ValueError(f"sample_rate: {self.sample_rate:g} Hz is outside {lo:g}-{hi:g}")
        if self.sample_rate not in SAMPLE_RATES:
            raise ValueError(
                f"sample_rate: the digitizer protocol has no {self.sample_rate:g} Hz (one of "
                f"{', '.join(map(str, SAMPLE_RATES))}; see docs/seismic-protocol.md)"
            )
        if self.channels > kind.max_components:
            raise ValueError(
                f"channels: a {self.kind} sensor has 1-{kind.max_components} components, "
                f"not {self.channels}"
            )
        return self

    @property
    def rate(self) -> float:
        assert self.sample_rate is not None  # guaranteed by validation
        return self.sample_rate

    @property
    def columns(self) -> int:
        return self.channels

    @property
    def rate_field(self) -> str:
        return "sample_rate"

    def wire_load(self) -> float:
        if self.transport == "modbus-tcp":
            return 0.0
        kind = self.descriptor
        sample_bytes = self.rate * self.channels * self.sample_bits // 8
        return (sample_bytes + kind.frames_per_s * kind.frame_bytes) * byte_time(self)


class PolledSensorConfig(SensorConfig):
    """A Modbus device the gateway polls for its sample FIFO (docs/registers.md)."""

    device_id: int = Field(default=1, ge=1, le=247, description="Modbus unit id, 1-247")
    sample_rate: float | None = Field(
        default=None,
        description="the device's own sample rate in whole Hz (default: poll_hz)",
    )
    poll_hz: float | None = Field(default=None, description="polls per second")

    @model_validator(mode="after")
    def _check_polling(self) -> Self:
        kind = self.descriptor
        if self.poll_hz is None:
            raise ValueError(f"poll_hz: a {self.kind} sensor needs poll_hz")
        assert kind.poll_range is not None  # add_kind() checks polled kinds have one
        lo, hi = kind.poll_range
        if not lo <= self.poll_hz <= hi:
            raise ValueError(
                f"poll_hz: {self.poll_hz:g} is outside {lo:g}-{hi:g} for a {self.kind}"
            )
        regmap = self.registers
        rate = self.rate
        rate_lo, rate_hi = regmap.rate_range
        if rate != int(rate) or not rate_lo <= rate <= rate_hi:
            raise ValueError(
                f"sample_rate: a {self.kind} samples at a whole number of Hz in "
                f"{rate_lo}-{rate_hi}, not {rate:g}"
            )
        per_poll = rate / self.poll_hz
        if per_poll > max_samples_per_poll(regmap):
            need = rate / max_samples_per_poll(regmap)
            raise ValueError(
                f"poll_hz: {self.poll_hz:g} polls/s cannot keep up with {rate:g} samples/s: "
                f"the {self.kind}'s FIFO holds {regmap.fifo_depth} samples, poll at least "
                f"{need:g} Hz"
            )
        return self

    @property
    def registers(self) -> RegisterMap:
        regmap = self.descriptor.registers
        assert regmap is not None  # add_kind() checks polled kinds have one
        return regmap

    @property
    def rate(self) -> float:
        rate = self.sample_rate or self.poll_hz
        assert rate is not None  # guaranteed by validation
        return rate

    @property
    def polls_per_s(self) -> float:
        assert self.poll_hz is not None  # guaranteed by validation
        return self.poll_hz

    @property
    def columns(self) -> int:
        return len(self.descriptor.columns)

    @property
    def rate_field(self) -> str:
        return "poll_hz"

    def wire_load(self) -> float:
        if self.transport == "modbus-tcp":
            return 0.0
        request, reply = 8, 5 + 2 * registers_per_poll(self)
        silent_gaps = 2 * 3.5  # RTU frames are separated by 3.5 character times
        return self.polls_per_s * (request + reply + silent_gaps) * byte_time(self)


def _kind_model(kind: SensorKind) -> type[SensorConfig]:
    base = StreamSensorConfig if kind.reading == "stream" else PolledSensorConfig
    tag: Any = Literal[kind.name]
    model = create_model(
        f"{kind.name.title().replace('_', '')}SensorConfig",
        __base__=base,
        __doc__=f"A {kind.what}: {' or '.join(kind.transports)}, "
        f"{kind.rate_range[0]:g}-{kind.rate_range[1]:g} Hz.",
        kind=(tag, Field(description="what the device is")),
    )
    return cast(type[SensorConfig], model)


SENSOR_MODELS: dict[str, type[SensorConfig]] = {k.name: _kind_model(k) for k in KINDS.values()}
"""One ``[[sensors]]`` table per kind, made from the kinds' descriptors."""

if TYPE_CHECKING:
    AnySensorConfig = SensorConfig
else:
    AnySensorConfig = Annotated[
        Union[tuple(SENSOR_MODELS.values())],  # noqa: UP007  (a union built at run time)
        Field(discriminator="kind"),
    ]
"""The type of a ``[[sensors]]`` entry: the table of its ``kind``."""

_ADAPTER: TypeAdapter[SensorConfig] = TypeAdapter(AnySensorConfig)


def sensor_config(**fields: Any) -> SensorConfig:
    """Validate one ``[[sensors]]`` entry into its kind's table."""
    return _ADAPTER.validate_python(fields)


def _split_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.removeprefix("tcp://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} should be HOST:PORT for modbus-tcp")
    return host, int(port)


def split_host_port(text: str) -> tuple[str, int]:
    """``"10.0.0.5:502"`` or ``"tcp://10.0.0.5:502"`` -> ``("10.0.0.5", 502)``."""
    return _split_host_port(text)


def bits_per_byte(sensor: SensorConfig) -> int:
    """Start bit + 8 data bits + optional parity + stop bits."""
    return 1 + 8 + (0 if sensor.parity == "N" else 1) + sensor.stopbits


def byte_time(sensor: SensorConfig) -> float:
    """Seconds one byte takes on the sensor's wire."""
    return bits_per_byte(sensor) / sensor.baudrate


def registers_per_poll(sensor: PolledSensorConfig) -> int:
    """Input registers one poll reads (docs/registers.md): counter, status and a window of the
    newest FIFO entries sized for the sample rate and poll rate."""
    regmap = sensor.registers
    return regmap.block_count(poll_window(regmap, sensor.rate, sensor.polls_per_s))


def bus_load(sensor: SensorConfig) -> float:
    """Share of the wire's capacity this sensor uses (0..1+) at its rate and baud."""
    return sensor.wire_load()


def check_buses(sensors: Sequence[SensorConfig]) -> list[str]:
    """Problems with how sensors share wires: one line per problem, naming the field path."""
    problems: list[str] = []
    names: dict[str, int] = {}
    by_bus: dict[str, list[int]] = defaultdict(list)
    for i, sensor in enumerate(sensors):
        earlier = names.setdefault(sensor.name, i)
        if earlier != i:
            problems.append(f"sensors[{i}].name: {sensor.name!r} is already sensors[{earlier}]")
        if sensor.enabled:
            by_bus[sensor.bus].append(i)
    for members in by_bus.values():
        first_i, first = members[0], sensors[members[0]]
        ids_seen: dict[int, int] = {}
        for i in members[1:]:
            other = sensors[i]
            if "serial" in (first.transport, other.transport):
                problems.append(
                    f"sensors[{i}].port: {other.port} is already the stream of sensors[{first_i}]"
                )
                continue
            if first.transport == "modbus-rtu" and (
                (other.baudrate, other.parity) != (first.baudrate, first.parity)
            ):
                problems.append(
                    f"sensors[{i}].baudrate: devices on {other.port} must share one baud rate "
                    f"and parity ({first.baudrate} {first.parity} set on sensors[{first_i}])"
                )
            assert isinstance(first, PolledSensorConfig)  # only Modbus devices share a wire
            assert isinstance(other, PolledSensorConfig)
            ids_seen.setdefault(first.device_id, first_i)
            if other.device_id in ids_seen:
                problems.append(
                    f"sensors[{i}].device_id: {other.device_id} on {other.port} is already "
                    f"sensors[{ids_seen[other.device_id]}]"
                )
            ids_seen.setdefault(other.device_id, i)
        load = sum(bus_load(sensors[i]) for i in members)
        if load > MAX_BUS_LOAD:
            last = members[-1]
            field = sensors[last].rate_field
            problems.append(
                f"sensors[{last}].{field}: {first.port} at {first.baudrate} baud cannot carry "
                f"this rate ({load:.0%} of the wire, keep it under {MAX_BUS_LOAD:.0%}): "
                f"raise baudrate or lower the rate"
            )
    return problems
