"""Uplinks: each carries reports from the outbox to one partner's central system.

What every uplink kind shares sits beside the kinds:

- ``config``: the ``[[uplinks]]`` section (host, TLS, topics, rates);
- ``share``: the share filter (which reports a partner gets) and redaction;
- ``encoding``, ``compact``, ``compact_fields``: the report's wire encodings (JSON, compact);
- the cursor: each uplink's place in the stream of reports is kept by the outbox itself, per
  uplink name (``Outbox.pending(name, ...)`` and ``Outbox.ack(name, ...)``), durable across
  restarts;

and each kind is one module holding one class that satisfies :class:`Uplink`:

- ``mqtt``: MQTT 3.1.1 at QoS 1 to the partner's broker (``mqtt_client``: its connection).

The service makes its uplinks with :func:`open_uplink` and speaks to them only through
:class:`Uplink`, so another protocol is another module here and a branch in
:func:`open_uplink`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gateway.outbox.store import Outbox
    from gateway.signing import Signer
    from gateway.uplinks.config import UplinkConfig


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
    config: UplinkConfig,
    outbox: Outbox,
    *,
    node: str,
    site: str,
    signer: Signer | None = None,
) -> Uplink:
    """The uplink for one ``[[uplinks]]`` entry (not started); ``signer`` signs its reports."""
    from gateway.uplinks.mqtt import MqttUplink

    return MqttUplink(config, outbox, node=node, site=site, signer=signer)
