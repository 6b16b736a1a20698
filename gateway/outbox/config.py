"""The ``[outbox]`` config section: where reports wait for their uplinks, and how much may wait.

```toml
[outbox]
path = "outbox.sqlite"      # default: {node.state_dir}/outbox.sqlite
max_bytes = "256MiB"        # bytes used by the database; an integer or "500kB", "64MiB", "1GB"
max_age = "7d"              # seconds, or "90s", "30m", "12h", "7d", "2w"; 0 = no age limit
drop = "oldest"             # at the bound: "oldest" drops the oldest reports to make room,
                            # "newest" keeps the backlog and refuses new reports
min_free_bytes = "64MiB"    # free-disk reserve the outbox never eats into
ballast_bytes = "8MiB"      # kept in a file beside the outbox and freed when the disk fills
                            # up anyway, so the outbox can go on; 0 = none
```
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from gateway.config_types import ConfigPath

_BYTES: TypeAdapter[ByteSize] = TypeAdapter(ByteSize)
_DURATIONS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AMOUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: object) -> int:
    """Bytes from a number or a string like ``"64MiB"``, ``"500kB"``, ``"1GB"`` (pydantic's
    :class:`~pydantic.ByteSize` reads the units)."""
    if isinstance(value, bool):
        raise ValueError("expected a size in bytes")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(_BYTES.validate_python(value))
        except ValidationError:
            pass
    raise ValueError(f'{value!r} is not a size (examples: 1048576, "500kB", "64MiB", "1GB")')


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like ``"90s"``, ``"30m"``, ``"12h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration in seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _AMOUNT.match(value)
        if match and match.group(2).lower() in _DURATIONS:
            return float(match.group(1)) * _DURATIONS[match.group(2).lower()]
    raise ValueError(f'{value!r} is not a duration (examples: 3600, "90s", "12h", "7d")')


Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

MIN_MAX_BYTES = 64 * 1024


class OutboxConfig(BaseModel):
    """Limits of the durable outbox (see ``docs/outbox.md``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    path: ConfigPath | None = Field(
        default=None, description="database file; default {node.state_dir}/outbox.sqlite"
    )
    max_bytes: Size = Field(
        default=256 * 1024**2,
        ge=MIN_MAX_BYTES,
        description="most bytes the database may use; the oldest reports go first",
    )
    max_age: Duration = Field(
        default=7 * 86400.0, description="reports older than this are dropped; 0 = no limit"
    )
    drop: Literal["oldest", "newest"] = Field(
        default="oldest",
        description="at max_bytes: drop the oldest reports, or refuse the newest ones",
    )
    min_free_bytes: Size = Field(
        default=64 * 1024**2, description="free disk the outbox leaves for the rest of the system"
    )

    ballast_bytes: Size = Field(
        default=8 * 1024**2,
        description="space held in <path>.ballast and given up when the disk is full; 0 = none",
    )

    def resolve_path(self, state_dir: Path) -> Path:
        """The database file: ``path`` if given, else ``{state_dir}/outbox.sqlite``."""
        return self.path if self.path is not None else Path(state_dir) / "outbox.sqlite"
