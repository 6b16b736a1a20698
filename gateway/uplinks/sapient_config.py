"""A ``[[uplinks]]`` entry with ``protocol = "sapient"``: the unit as a SAPIENT ASM.

```toml
[[uplinks]]
name = "fusion-a"                  # unique among the uplinks; names its outbox cursor
protocol = "sapient"
host = "fusion.agency-a.example"   # the fusion node (or decision-making module)
port = 5020                        # required: SAPIENT has no standard port
tls = false                        # TLS is on by default, as for MQTT
status_interval_s = 10             # declared in the registration; status this often
tasking = ["registration", "status", "reset", "stop", "start", "mode"]  # the default

[uplinks.share]                    # as for any partner (checked again at send time)
classes = ["vehicle", "footstep"]
fields = ["clock", "model"]        # no "loc": positions then go as range from the unit
```
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gateway.config_types import TopicSafeName
from gateway.uplinks.share import ShareFilter
from gateway.uplinks.tls_config import TlsConfig, _tls_shorthand

SapientTask = Literal["registration", "status", "reset", "stop", "start", "mode"]
SAPIENT_TASKS: tuple[SapientTask, ...] = (
    "registration",
    "status",
    "reset",
    "stop",
    "start",
    "mode",
)
"""What a fusion node may ask of the unit (docs/sapient.md, "Tasks")."""

DEFAULT_RANGE_M = {"footstep": 50.0, "vehicle": 250.0, "unknown": 50.0}
"""How far from the unit each class is detected (FACTS: footsteps to ~50 m, wheeled vehicles
to ~250 m): the error radius of a detection's position, which is the unit's own."""

_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,253}$")


class SapientUplinkConfig(BaseModel):
    """One SAPIENT link: the unit registers with a fusion node over TCP and reports to it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: TopicSafeName = Field(description="unique name of the partner link")
    protocol: Literal["sapient"] = Field(description="sapient (BSI Flex 335 v2.0 over TCP)")
    host: str = Field(description="fusion node host name or IP address")
    port: int = Field(ge=1, le=65535, description="fusion node TCP port")
    tls: Annotated[TlsConfig, BeforeValidator(_tls_shorthand)] = Field(default_factory=TlsConfig)
    status_interval_s: float = Field(
        default=10.0, ge=0.5, le=3600.0, description="status report interval (declared)"
    )
    ack_timeout: float = Field(
        default=10.0, gt=0, le=300, description="s to wait for the registration ack"
    )
    connect_timeout: float = Field(default=10.0, gt=0, le=300, description="s per TCP+TLS dial")
    reconnect_min: float = Field(default=1.0, gt=0, le=3600, description="seconds")
    reconnect_max: float = Field(default=60.0, gt=0, le=86400, description="seconds")
    confirm_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="a report counts as delivered once the fusion node's TCP has acknowledged "
        "it and the link stayed up this long after; earlier ones are sent again after a drop",
    )
    max_inflight: int = Field(
        default=100, ge=1, le=10000, description="reports sent and not yet counted delivered"
    )
    drain_rate: float = Field(
        default=50.0, ge=0, description="backlog reports/s after an outage; 0 = no limit"
    )
    detection_range_m: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_RANGE_M),
        description="per class, how far away it is detected: the error radius of its position",
    )
    tasking: list[SapientTask] = Field(
        default_factory=lambda: list(SAPIENT_TASKS),
        description="SAPIENT tasks this fusion node may give: registration, status, reset, "
        "stop, start, mode",
    )
    share: ShareFilter = Field(default_factory=ShareFilter)

    @model_validator(mode="after")
    def _check(self) -> SapientUplinkConfig:
        if not _HOST.match(self.host) or "://" in self.host:
            raise ValueError(
                f"host: {self.host!r} is not a host name or IP address "
                "(no scheme, no port: put the port in `port`)"
            )
        if self.reconnect_min > self.reconnect_max:
            raise ValueError(
                f"reconnect_min: {self.reconnect_min} s is longer than "
                f"reconnect_max ({self.reconnect_max} s)"
            )
        for cls, metres in self.detection_range_m.items():
            if not metres > 0:
                raise ValueError(f"detection_range_m: {cls} = {metres}: must be > 0 metres")
        return self

    @property
    def effective_port(self) -> int:
        return self.port

    def range_m(self, cls: str) -> float:
        return self.detection_range_m.get(cls, max(self.detection_range_m.values(), default=250.0))
