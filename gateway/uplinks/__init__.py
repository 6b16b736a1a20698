"""Uplinks: each carries reports from the outbox to one partner's central system.

What every uplink kind shares sits beside the kinds:

- ``config``: the ``[[uplinks]]`` section (host, TLS, topics, rates);
- ``share``: the share filter (which reports a partner gets, checked again when sent) and the
  allow-list of the report fields it gets;
- ``encoding``, ``compact``, ``compact_fields``: the report's wire encodings (JSON, compact);
- the cursor: each uplink's place in the stream of reports is kept by the outbox itself, per
  uplink name (``Outbox.pending(name, ...)`` and ``Outbox.ack(name, ...)``), durable across
  restarts;

and each kind is one module holding one class that satisfies :class:`Uplink`:

- ``mqtt``: MQTT 3.1.1 at QoS 1 to the partner's broker (``mqtt_client``: its connection),
  with ``tasking``: remote commands over MQTT 5 on the same broker, when granted;
- ``sapient``: the unit as a SAPIENT (BSI Flex 335 v2.0) ASM of a fusion node, over TCP
  (``sapient_codec``: frames and ids; ``sapient_messages``: what it sends;
  ``sapient_validate``: the ICD's rules, as a fusion node checks them).

The service makes its uplinks with :func:`open_uplink` and speaks to them only through
:class:`Uplink`, so another protocol is another module here and a branch in
:func:`open_uplink`. What an uplink may ask of the unit (its sensors, its mode, a snippet)
goes through :class:`Unit`, which the service provides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gateway.errors import UgsError

if TYPE_CHECKING:
    from gateway.outbox.store import Outbox
    from gateway.signing import Signer
    from gateway.uplinks.config import AnyUplinkConfig


class TaskRefusedError(UgsError):
    """A partner's task that the unit will not carry out; the message is the reason given."""


class Unit(Protocol):
    """What the uplinks may know of and ask of the unit (the service provides it).

    Tasks name who asked (``by``: the uplink's name) so that every change is logged with it.
    The refusals raise :class:`TaskRefusedError` with the reason a partner is given.
    """

    @property
    def node(self) -> str: ...

    @property
    def site(self) -> str: ...

    @property
    def sapient_id(self) -> str:
        """The unit's SAPIENT node id: a lower-case UUID v4 kept in the state dir."""

    @property
    def location(self) -> Mapping[str, float] | None: ...

    @property
    def sensors(self) -> list[tuple[str, str]]:
        """(name, kind) of each enabled sensor."""

    def modes(self) -> list[str]: ...

    def initial_mode(self) -> str: ...

    def mode_description(self, name: str) -> str: ...

    @property
    def mode(self) -> str: ...

    def set_mode(self, name: str, *, by: str) -> None: ...

    def mode_at(self, epoch_s: float) -> str | None:
        """The mode the detector ran in at ``epoch_s`` (None: before this start)."""

    def status_now(self, uplink: str) -> dict[str, Any]:
        """The status as the partner of ``uplink`` receives it (its share only)."""

    def snippet(
        self, report_id: str, *, accepts: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> Path:
        """A detection's snippet; ``accepts``: the asking partner's share filter (None: every
        report), refused for a report it does not accept."""


class Uplink(Protocol):
    """What the service and the health report use of an uplink (thread-safe)."""

    name: str

    def start(self) -> None: ...

    def stop(self, timeout: float = ..., final_status: Mapping[str, Any] | None = ...) -> None: ...

    def publish_status(self, payload: Mapping[str, Any]) -> None: ...

    def status(self, outbox_stats: Mapping[str, Any] | None = ...) -> dict[str, Any]: ...

    @property
    def state(self) -> str: ...


def open_uplink(
    config: AnyUplinkConfig,
    outbox: Outbox,
    *,
    node: str,
    site: str,
    unit: Unit | None = None,
    signer: Signer | None = None,
) -> Uplink:
    """The uplink for one ``[[uplinks]]`` entry (not started). ``unit`` answers partners'
    tasks; SAPIENT needs it (it registers the unit's sensors and modes). ``signer`` signs the
    reports of an MQTT link; SAPIENT has no field for a signature (docs/signing.md)."""
    if config.protocol == "sapient":
        from gateway.uplinks.sapient import SapientUplink

        if unit is None:
            raise ValueError(f"uplink {config.name}: a SAPIENT uplink needs the unit")
        return SapientUplink(config, outbox, unit)
    from gateway.uplinks.mqtt import MqttUplink

    return MqttUplink(config, outbox, node=node, site=site, unit=unit, signer=signer)
