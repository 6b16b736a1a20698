"""What one partner receives: which reports (classes, confidence) and which of their fields.

The ``[uplinks.share]`` table of an uplink. The outbox asks :meth:`ShareFilter.accepts` once
per report when it stores it (a report waits only for the uplinks that accepted it); the
uplink applies :meth:`ShareFilter.apply` (redaction) just before encoding. Every uplink kind
shares this filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from gateway.uplinks.config import AnyUplinkConfig

# Fields a partner may be denied. Identity, class, confidence, times and sensors are what
# every receiver needs to deduplicate and validate a report, so they cannot be redacted.
REDACTABLE = ("loc", "features")

_CLASS = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _check_class(value: str) -> str:
    if not _CLASS.match(value):
        raise ValueError(f"{value!r} is not a class name (examples: footstep, vehicle, unknown)")
    return value


ClassName = Annotated[str, AfterValidator(_check_class)]


class ShareFilter(BaseModel):
    """Which reports a partner receives, and which of their fields."""

    model_config = ConfigDict(extra="forbid")

    classes: list[ClassName] | None = Field(
        default=None, description="classes to share; default every class (also new ones)"
    )
    min_conf: float = Field(default=0.0, ge=0.0, le=1.0, description="lowest confidence shared")
    redact: list[Literal["loc", "features"]] = Field(
        default_factory=list, description="fields removed before sending: loc, features"
    )

    def accepts(self, report: Mapping[str, Any]) -> bool:
        """Whether this partner should receive ``report`` at all."""
        if self.classes is not None and report.get("class") not in self.classes:
            return False
        conf = report.get("conf", 0.0)
        return isinstance(conf, int | float) and conf >= self.min_conf

    def apply(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``report`` without the redacted fields."""
        return {key: value for key, value in report.items() if key not in self.redact}


def share_filters(
    configs: Iterable[AnyUplinkConfig],
) -> dict[str, Callable[[dict[str, Any]], bool]]:
    """The ``uplinks`` mapping the outbox takes: each uplink's name -> its filter."""
    return {c.name: c.share.accepts for c in configs}
