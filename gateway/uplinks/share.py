"""What one partner receives: which reports (classes, confidence) and which of their fields.

The ``[uplinks.share]`` table of an uplink. The outbox asks :meth:`ShareFilter.accepts` when
it stores a report (a report waits only for the uplinks that accepted it) and again when an
uplink reads it to send it, so a filter narrowed since (a restart with a new config) also
holds back the reports queued under the old one. The uplink applies
:meth:`ShareFilter.apply` just before encoding: an allow-list, so a field the pipeline adds
(``flags``, say) or a later version of the report brings reaches a partner only when its
``fields`` names it. Every uplink kind shares this filter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:
    from gateway.uplinks.config import AnyUplinkConfig

# Identity, class, confidence, times and sensors are what every receiver needs to
# deduplicate and validate a report: every partner gets them, whatever its fields.
REQUIRED = ("v", "id", "node", "site", "boot", "seq", "class", "conf", "t0", "t1", "sensors")
# The optional fields docs/messages.md documents: the default of ``fields``.
DOCUMENTED = ("features", "loc", "clock", "model")
# Fields a partner may be denied with ``redact`` (kept beside ``fields`` for older configs).
REDACTABLE = ("loc", "features")

_CLASS = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _check_class(value: str) -> str:
    if not _CLASS.match(value):
        raise ValueError(f"{value!r} is not a class name (examples: footstep, vehicle, unknown)")
    return value


def _check_field(value: str) -> str:
    if not _FIELD.match(value):
        raise ValueError(f"{value!r} is not a report field name (examples: loc, features)")
    return value


ClassName = Annotated[str, AfterValidator(_check_class)]
FieldName = Annotated[str, AfterValidator(_check_field)]


class ShareFilter(BaseModel):
    """Which reports a partner receives, and which of their fields."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    classes: list[ClassName] | None = Field(
        default=None, description="classes to share; default every class (also new ones)"
    )
    min_conf: float = Field(default=0.0, ge=0.0, le=1.0, description="lowest confidence shared")
    fields: list[FieldName] = Field(
        default_factory=lambda: list(DOCUMENTED),
        description="optional report fields sent (allow-list); default features, loc, clock, "
        "model. Identity, class, conf, times and sensors always go",
    )
    redact: list[Literal["loc", "features"]] = Field(
        default_factory=list, description="fields removed before sending: loc, features"
    )
    _allowed: frozenset[str] = PrivateAttr(default=frozenset())

    def model_post_init(self, context: Any, /) -> None:
        self._allowed = frozenset(REQUIRED) | (frozenset(self.fields) - frozenset(self.redact))

    @property
    def allowed(self) -> frozenset[str]:
        """Every field this partner may receive."""
        return self._allowed

    def accepts(self, report: Mapping[str, Any]) -> bool:
        """Whether this partner should receive ``report`` at all."""
        if self.classes is not None and report.get("class") not in self.classes:
            return False
        conf = report.get("conf", 0.0)
        return isinstance(conf, int | float) and conf >= self.min_conf

    @property
    def takes_every_report(self) -> bool:
        """Whether this partner accepts every report (no class or confidence limit)."""
        return self.classes is None and self.min_conf <= 0.0

    def sends_whole(self, report: Mapping[str, Any]) -> bool:
        """Whether ``report`` goes out with every field it has (nothing to remove)."""
        return report.keys() <= self._allowed

    def apply(self, report: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``report`` with only the fields this partner may receive."""
        return {key: value for key, value in report.items() if key in self._allowed}


def share_filters(
    configs: Iterable[AnyUplinkConfig],
) -> dict[str, Callable[[dict[str, Any]], bool]]:
    """The ``uplinks`` mapping the outbox takes: each uplink's name -> its filter."""
    return {c.name: c.share.accepts for c in configs}
