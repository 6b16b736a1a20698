"""Schema of one ``[[sensors]]`` entry, and the checks a bus imposes on a set of them.

Validation here catches what a technician gets wrong on site: a device id outside Modbus's
1-247, a baud rate no UART does, or more polling than the wire can carry at that baud.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from drivers.modbus_registers import MAPS, max_samples_per_poll, poll_window
from drivers.seismic_codec import SAMPLE_RATES

SensorKind = Literal["seismic", "pir", "magnetometer"]
Transport = Literal["serial", "modbus-rtu", "modbus-tcp"]

STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)

# Which transports each kind of device speaks.
KIND_TRANSPORTS: dict[str, tuple[str, ...]] = {
    "seismic": ("serial",),
    "pir": ("modbus-rtu", "modbus-tcp"),
    "magnetometer": ("modbus-rtu", "modbus-tcp"),
}

# Rates the devices support (samples or polls per second).
SEISMIC_RATE_RANGE = (250.0, 4000.0)
POLL_RANGE = {"pir": (10.0, 100.0), "magnetometer": (10.0, 200.0)}


# A bus loaded beyond this share of its capacity misses polls as soon as one reply is late.
MAX_BUS_LOAD = 0.8


class Calibration(BaseModel):
    """Physical value = (raw - offset) * scale."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(default=1.0, description="physical units per raw count")
    offset: float = Field(default=0.0, description="raw counts at zero")
    units: str = Field(default="counts", max_length=16, description="name of the unit")


class SensorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="unique sensor name")
    kind: SensorKind = Field(description="what the device is")
    transport: Transport = Field(
        description="serial: the digitizer's frame stream; modbus-rtu/-tcp: PIR, magnetometer"
    )
    port: str = Field(
        min_length=1,
        description="device path or pyserial URL (serial, modbus-rtu); HOST:PORT (modbus-tcp)",
    )
    baudrate: int = Field(default=115200, description="serial line speed (not modbus-tcp)")
    parity: Literal["N", "E", "O"] = Field(default="N", description="serial parity")
    stopbits: Literal[1, 2] = Field(default=1, description="serial stop bits")
    device_id: int = Field(default=1, ge=1, le=247, description="Modbus unit id, 1-247")
    sample_rate: float | None = Field(
        default=None,
        description="seismic: digitizer sample rate in Hz (250-4000); Modbus devices: the "
        "device's own sample rate in whole Hz (default: poll_hz)",
    )
    channels: int = Field(default=1, ge=1, le=3, description="seismic components")
    sample_bits: Literal[24, 32] = Field(default=24, description="seismic sample width")
    poll_hz: float | None = Field(default=None, description="Modbus devices: polls per second")
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
    def _check(self) -> SensorConfig:
        if self.transport not in KIND_TRANSPORTS[self.kind]:
            allowed = " or ".join(KIND_TRANSPORTS[self.kind])
            raise ValueError(
                f"transport: a {self.kind} sensor speaks {allowed}, not {self.transport}"
            )
        if self.transport == "modbus-tcp":
            try:
                _split_host_port(self.port)
            except ValueError as exc:
                raise ValueError(f"port: {exc}") from None
        if self.kind == "seismic":
            if self.sample_rate is None:
                raise ValueError("sample_rate: a seismic sensor needs sample_rate (Hz)")
            lo, hi = SEISMIC_RATE_RANGE
            if not lo <= self.sample_rate <= hi:
                raise ValueError(f"sample_rate: {self.sample_rate:g} Hz is outside {lo:g}-{hi:g}")
            if self.sample_rate not in SAMPLE_RATES:
                raise ValueError(
                    f"sample_rate: the digitizer protocol has no {self.sample_rate:g} Hz (one of "
                    f"{', '.join(map(str, SAMPLE_RATES))}; see docs/seismic-protocol.md)"
                )
        else:
            if self.poll_hz is None:
                raise ValueError(f"poll_hz: a {self.kind} sensor needs poll_hz")
            lo, hi = POLL_RANGE[self.kind]
            if not lo <= self.poll_hz <= hi:
                raise ValueError(
                    f"poll_hz: {self.poll_hz:g} is outside {lo:g}-{hi:g} for a {self.kind}"
                )
            self._check_device_rate()
        return self

    def _check_device_rate(self) -> None:
        regmap = MAPS[self.kind]
        rate = self.rate
        lo, hi = regmap.rate_range
        if rate != int(rate) or not lo <= rate <= hi:
            raise ValueError(
                f"sample_rate: a {self.kind} samples at a whole number of Hz in {lo}-{hi}, "
                f"not {rate:g}"
            )
        per_poll = rate / (self.poll_hz or rate)
        if per_poll > max_samples_per_poll(regmap):
            need = rate / max_samples_per_poll(regmap)
            raise ValueError(
                f"poll_hz: {self.poll_hz:g} polls/s cannot keep up with {rate:g} samples/s: "
                f"the {self.kind}'s FIFO holds {regmap.fifo_depth} samples, poll at least "
                f"{need:g} Hz"
            )

    @property
    def rate(self) -> float:
        """Samples per second this sensor delivers."""
        rate = self.sample_rate if self.kind == "seismic" else (self.sample_rate or self.poll_hz)
        assert rate is not None  # guaranteed by validation
        return rate

    @property
    def bus(self) -> str:
        """Sensors sharing this key share one wire (and one lock)."""
        return f"{self.transport.removeprefix('modbus-')}:{self.port}"


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


def registers_per_poll(sensor: SensorConfig) -> int:
    """Input registers one poll reads (docs/registers.md): counter, status and a window of the
    newest FIFO entries sized for the sample rate and poll rate."""
    regmap = MAPS[sensor.kind]
    return regmap.block_count(poll_window(regmap, sensor.rate, sensor.poll_hz or sensor.rate))


def bus_load(sensor: SensorConfig) -> float:
    """Share of the wire's capacity this sensor uses (0..1+) at its rate and baud."""
    if sensor.transport == "modbus-tcp":
        return 0.0
    byte_time = bits_per_byte(sensor) / sensor.baudrate
    if sensor.kind == "seismic":
        # Frame header + CRC (see docs/seismic-protocol.md) amortised over 20 ms frames.
        frames_per_s = 50.0
        sample_bytes = sensor.rate * sensor.channels * sensor.sample_bits // 8
        return (sample_bytes + frames_per_s * 16) * byte_time
    assert sensor.poll_hz is not None  # guaranteed by validation
    request, reply = 8, 5 + 2 * registers_per_poll(sensor)
    silent_gaps = 2 * 3.5  # RTU frames are separated by 3.5 character times
    return sensor.poll_hz * (request + reply + silent_gaps) * byte_time


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
            field = "sample_rate" if sensors[last].kind == "seismic" else "poll_hz"
            problems.append(
                f"sensors[{last}].{field}: {first.port} at {first.baudrate} baud cannot carry "
                f"this rate ({load:.0%} of the wire, keep it under {MAX_BUS_LOAD:.0%}): "
                f"raise baudrate or lower the rate"
            )
    return problems
