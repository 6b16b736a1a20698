"""The ``[[uplinks]]`` config section: one MQTT link per partner agency.

```toml
[[uplinks]]
name = "agency-a"                  # unique; appears in logs, status and outbox cursors
host = "mqtt.agency-a.example"
port = 8883                        # default 8883 with TLS, 1883 without
username = "ugs-0007"              # optional
password_file = "secrets/agency-a.pass"   # the password lives in a file, never inline
client_id = "ugs-0007-agency-a"    # default "{node.id}-{name}"; keep it stable (session)
topic_prefix = "ugs/v1"            # topics: {prefix}/{site}/{node}/detection and .../status
encoding = "json"                  # or "compact" (binary, <= 48 bytes) for thin links
keepalive = 60                     # s; a silent broker is noticed after ~1.5x this
max_inflight = 50                  # reports sent and not yet acknowledged (PUBACK)
reconnect_min = 1.0                # s; redial delay doubles up to reconnect_max, jittered
reconnect_max = 60.0
drain_rate = 500                   # backlog reports per second after an outage; 0 = no limit
sign = true                        # sign reports when the unit has a key ([signing] key_file)

[uplinks.tls]                      # or `tls = false` for a plain link (a lab broker)
ca_file = "certs/agency-a-ca.pem"  # default: the system's trusted CAs
cert_file = "certs/ugs-0007.pem"   # client certificate (mTLS), with key_file
key_file = "certs/ugs-0007.key"
verify = true                      # check the broker's certificate and name (keep it on)

[uplinks.share]                    # what this partner receives
classes = ["vehicle", "footstep"]  # default: every class
min_conf = 0.6                     # default 0
fields = ["loc", "features", "clock", "model"]  # optional fields sent; default these
redact = ["loc", "features"]       # fields removed before sending
```
TLS is on by default: a plain link has to be asked for with ``tls = false``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from gateway.config_types import ConfigPath, TopicSafeName
from gateway.outbox.config import Size
from gateway.uplinks.sapient_config import SapientUplinkConfig
from gateway.uplinks.share import ShareFilter
from gateway.uplinks.tls_config import TlsConfig, _tls_shorthand

__all__ = ["AnyUplinkConfig", "TlsConfig", "UplinkConfig", "UplinkList"]

DEFAULT_PREFIX = "ugs/v1"

_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,253}$")


def _check_prefix(value: str) -> str:
    levels = value.split("/")
    if not value or any(not level for level in levels):
        raise ValueError("needs levels separated by single '/', without a leading or trailing '/'")
    if any(ch in value for ch in "+#") or any(ch.isspace() for ch in value):
        raise ValueError("must not contain '+', '#' or spaces")
    return value


class UplinkConfig(BaseModel):
    """One MQTT uplink to a partner's broker."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: TopicSafeName = Field(description="unique name of the partner link")
    protocol: Literal["mqtt"] = Field(
        default="mqtt", description="mqtt (default) or sapient (docs/sapient.md)"
    )
    host: str = Field(description="broker host name or IP address")
    port: int | None = Field(default=None, ge=1, le=65535, description="default 8883/1883")
    tls: Annotated[TlsConfig, BeforeValidator(_tls_shorthand)] = Field(default_factory=TlsConfig)
    username: str | None = Field(default=None, min_length=1, max_length=256)
    password_file: ConfigPath | None = Field(
        default=None, description="file holding the password (first line); never inline"
    )
    client_id: TopicSafeName | None = Field(
        default=None, description="MQTT client id; default {node.id}-{name}"
    )
    topic_prefix: Annotated[str, AfterValidator(_check_prefix)] = DEFAULT_PREFIX
    encoding: Literal["json", "compact"] = "json"
    qos: Literal[1, 2] = 1
    keepalive: int = Field(default=60, ge=1, le=65535, description="seconds")
    connect_timeout: float = Field(
        default=10.0, gt=0, le=300, description="s for TCP, TLS and CONNACK on each attempt"
    )
    max_inflight: int = Field(default=50, ge=1, le=1000)
    reconnect_min: float = Field(default=1.0, gt=0, le=3600, description="seconds")
    reconnect_max: float = Field(default=60.0, gt=0, le=86400, description="seconds")
    drain_rate: float = Field(
        default=500.0, ge=0, description="backlog reports/s after an outage; 0 = no limit"
    )
    share: ShareFilter = Field(default_factory=ShareFilter)
    tasking: list[Literal["status", "mode", "snippet"]] = Field(
        default_factory=list,
        description="commands this partner may send on {prefix}/{site}/{node}/task: status, "
        "mode, snippet (docs/uplinks.md, Remote tasking); none by default",
    )
    max_reply_bytes: Size = Field(
        default=64 * 1024,
        ge=1024,
        le=256 * 1024**2,
        description="largest reply payload; snippets go in chunks of this size",
    )
    sign: bool = Field(
        default=True,
        description="sign reports when the unit has a key ([signing] key_file); false for a "
        "link that cannot take 64 more bytes a report (docs/signing.md)",
    )

    @model_validator(mode="after")
    def _check(self) -> UplinkConfig:
        if not _HOST.match(self.host) or "://" in self.host:
            raise ValueError(
                f"host: {self.host!r} is not a host name or IP address "
                "(no scheme, no port: put the port in `port`)"
            )
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file: given without a username; set username too")
        if self.reconnect_min > self.reconnect_max:
            raise ValueError(
                f"reconnect_min: {self.reconnect_min} s is longer than "
                f"reconnect_max ({self.reconnect_max} s)"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls.enabled else 1883

    def resolved_client_id(self, node: str) -> str:
        return self.client_id or f"{node}-{self.name}"


def _protocol(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("protocol", "mqtt"))
    return str(getattr(value, "protocol", "mqtt"))


PROTOCOLS = ("mqtt", "sapient")

AnyUplinkConfig = Annotated[
    Annotated[UplinkConfig, Tag("mqtt")] | Annotated[SapientUplinkConfig, Tag("sapient")],
    Discriminator(_protocol),
]
"""One ``[[uplinks]]`` entry: MQTT (``protocol`` absent or ``"mqtt"``) or SAPIENT."""


def _unique_names(uplinks: list[AnyUplinkConfig]) -> list[AnyUplinkConfig]:
    seen: dict[str, int] = {}
    for index, uplink in enumerate(uplinks):
        if uplink.name in seen:
            raise ValueError(
                f"name: {uplink.name!r} is given to uplinks[{seen[uplink.name]}] and "
                f"uplinks[{index}]; each uplink needs its own name"
            )
        seen[uplink.name] = index
    return uplinks


UplinkList = Annotated[list[AnyUplinkConfig], AfterValidator(_unique_names)]

"""``[[uplinks]]`` as a list whose names are unique (outbox cursors are keyed by name)."""
