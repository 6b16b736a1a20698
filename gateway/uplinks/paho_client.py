"""The one place the uplinks lean on paho-mqtt's internals: a cheaper PUBACK on MQTT 3.1.1.

paho decodes every PUBACK into a new MQTT 5 reason code and property set, even on 3.1.1
where the packet holds nothing but the message id: that was a third of an uplink's CPU per
report while draining a backlog. :class:`PahoClient` reads the id directly and hands on
shared "success" objects; the checks (packet length, known mid) are paho's own.

It overrides the private ``Client._handle_pubackcomp`` and reads ``_protocol``,
``_in_packet``, ``_out_message_mutex``, ``_out_messages`` and ``_do_on_publish``, as they
are in paho-mqtt :data:`PAHO_CHECKED`. With any other paho version every PUBACK takes paho's
own path (correct, only slower), and ``tests/gateway/test_mqtt_puback.py`` fails to say so.

What would let it go: paho skipping the MQTT 5 reason-code and property objects for a 3.1.1
PUBACK (or sharing one "success" instance), upstream; then use ``paho.Client`` itself.
"""

from __future__ import annotations

from typing import Literal

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_version
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

# The paho release whose internals PahoClient's PUBACK shortcut was checked against; with any
# other, every PUBACK takes paho's own path (correct, only slower).
PAHO_CHECKED = "2.2.0"
FAST_PUBACK = paho_version == PAHO_CHECKED
_PUBACK_REASON = ReasonCode(PacketTypes.PUBACK)  # "success": all an MQTT 3.1.1 PUBACK says
_PUBACK_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]  # paho


class PahoClient(paho.Client):
    """paho's client with a cheaper PUBACK on MQTT 3.1.1.

    paho decodes every PUBACK into a new MQTT 5 reason code and property set, even on 3.1.1
    where the packet holds nothing but the message id: that was a third of an uplink's CPU
    per report while draining a backlog. Here the id is read directly and shared "success"
    objects are handed on; the checks (packet length, known mid) are paho's own.
    """

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        if not FAST_PUBACK or cmd != "PUBACK" or self._protocol != paho.MQTTv311:
            return super()._handle_pubackcomp(cmd)
        packet = self._in_packet["packet"]
        if len(packet) != 2:
            raise MalformedPacket("wrong size of packet")  # paho: a protocol error, closes
        mid = (packet[0] << 8) | packet[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_REASON, _PUBACK_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
