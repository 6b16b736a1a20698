"""Load and validate the gateway's TOML configuration.

Each module declares the schema of its own section; this module assembles them and turns
pydantic's errors into one line per problem naming the field path (``sensors[1].device_id``),
which is what ``ugs-gateway check-config`` prints.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from drivers.config import AnySensorConfig, check_buses
from drivers.kinds import KINDS
from dsp.config import DspConfig
from gateway.config_types import ConfigPath, TopicSafeName
from gateway.errors import ConfigError
from gateway.field_recorder import RecordConfig
from gateway.health.status import HealthConfig
from gateway.modes import ModesConfig, check_profiles
from gateway.outbox.config import OutboxConfig
from gateway.signing import SigningConfig
from gateway.uplinks.config import PROTOCOLS, UplinkList


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90, description="latitude, degrees north (WGS84)")
    lon: float = Field(ge=-180, le=180, description="longitude, degrees east (WGS84)")
    alt_m: float | None = Field(default=None, description="altitude, metres")


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: TopicSafeName = Field(description="node id, e.g. ugs-0007; part of every report id")
    site: TopicSafeName = Field(description="site or sector name, e.g. sector-12")
    location: Location | None = Field(
        default=None, description="where the unit stands; sent in reports as loc"
    )
    state_dir: ConfigPath = Field(
        default=Path("/var/lib/ugs-gateway"),
        description="boot counter, outbox and other state that survives restarts",
    )


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    node: NodeConfig
    sensors: list[AnySensorConfig] = Field(default_factory=list)
    dsp: DspConfig = Field(default_factory=DspConfig)
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    uplinks: UplinkList = Field(default_factory=list)
    health: HealthConfig = Field(default_factory=HealthConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)
    modes: ModesConfig = Field(default_factory=ModesConfig)
    signing: SigningConfig = Field(default_factory=SigningConfig)

    @model_validator(mode="after")
    def _check_modes(self) -> GatewayConfig:
        problems = check_profiles(self.dsp, self.modes)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _check_buses(self) -> GatewayConfig:
        if not any(sensor.enabled for sensor in self.sensors):
            raise ValueError(
                "sensors: no enabled [[sensors]] entry: the gateway has nothing to read"
            )
        problems = check_buses(self.sensors)
        if problems:
            # Raised as ValueError so it is reported with the other problems; the lines
            # already carry their field paths.
            raise ValueError("\n".join(problems))
        return self


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    after_index = False
    for part in loc:
        if after_index and (part in KINDS or part in PROTOCOLS):
            after_index = False
            continue  # the tag of a sensor's (kind) or uplink's (protocol) table, not a field
        after_index = isinstance(part, int)
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


_NAMED_FIELD = re.compile(r"^([a-z_][a-z0-9_]*): (.*)$", re.DOTALL)


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: ``field.path: message``.

    Model-level checks name their field by starting the message with ``field: ``; checks
    across sections (buses shared by sensors) already give full paths, one per line.
    """
    lines = []
    for err in exc.errors():
        path = _field_path(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (misspelt?)"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "union_tag_invalid" and path.startswith("uplinks"):
            path += ".protocol"
            given = (err.get("ctx") or {}).get("tag", "")
            message = f"{given!r} is not an uplink protocol (one of {', '.join(PROTOCOLS)})"
        elif err["type"] == "union_tag_invalid":
            path += ".kind"
            given = (err.get("ctx") or {}).get("tag", "")
            message = f"{given!r} is not a sensor kind (one of {', '.join(KINDS)})"
        elif err["type"] == "union_tag_not_found":
            path += ".kind"
            message = "required field is missing"
        if not path:
            lines.extend(message.splitlines())
            continue
        named = _NAMED_FIELD.match(message)
        if named and err["type"] == "value_error":
            path, message = f"{path}.{named.group(1)}", named.group(2)
        lines.append(f"{path}: {message}")
    return lines


def parse_config(data: dict[str, Any], base_dir: Path | None = None) -> GatewayConfig:
    try:
        return GatewayConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(path: str | Path) -> GatewayConfig:
    """Read and validate a config file; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected TOML)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base_dir=path.resolve().parent)
