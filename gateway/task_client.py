"""The partner's side of remote tasking: send one command to a unit and collect its reply.

Used by ``ugs-gateway task``. Connects with MQTT 5 to the partner's broker, subscribes to a
response topic of its own (``{prefix}/{site}/{node}/task/reply/{random}``), publishes the
request to ``{prefix}/{site}/{node}/task`` with that response topic and a random correlation
id, and returns the replies carrying that correlation id. A snippet's chunks are put back
together and checked against the SHA-256 the unit sent.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import UplinkError
from gateway.uplinks.config import TlsConfig
from gateway.uplinks.mqtt_client import tls_context
from gateway.uplinks.tasking import task_topic


@dataclass
class TaskResult:
    """The replies to one request; ``data`` holds a reassembled snippet."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    data: bytes | None = None

    @property
    def ok(self) -> bool:
        return bool(self.replies) and all(r.get("ok") for r in self.replies)


def send_task(
    host: str,
    port: int,
    *,
    site: str,
    node: str,
    request: dict[str, Any],
    prefix: str = "ugs/v1",
    tls: TlsConfig | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> TaskResult:
    """Send ``request`` and wait (up to ``timeout`` s) for its whole reply."""
    correlation = secrets.token_bytes(12)
    response = f"{task_topic(prefix, site, node)}/reply/{secrets.token_hex(8)}"
    result = TaskResult()
    done = threading.Event()
    subscribed = threading.Event()
    chunks: dict[int, bytes] = {}

    def on_connect(client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            result.replies.append({"ok": False, "error": f"broker refused: {reason}"})
            done.set()
            return
        client.subscribe(response, qos=1)

    def on_subscribe(_c: paho.Client, _u: Any, _mid: int, _codes: Any, _p: Any) -> None:
        subscribed.set()

    def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        if getattr(props, "CorrelationData", None) != correlation:
            return  # not the answer to this request
        try:
            reply = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(reply, dict):
            return
        if "chunk" in reply and reply.get("ok"):
            chunks[int(reply["chunk"])] = base64.b64decode(reply.pop("data", ""))
            if len(chunks) < int(reply["chunks"]):
                return
            data = b"".join(chunks[i] for i in sorted(chunks))
            if hashlib.sha256(data).hexdigest() != reply.get("sha256"):
                reply = {"ok": False, "error": "snippet damaged on the way (SHA-256 differs)"}
            else:
                result.data = data
        result.replies.append(reply)
        done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"ugs-task-{secrets.token_hex(6)}",
        protocol=paho.MQTTv5,
    )
    if tls is not None and tls.enabled:
        client.tls_set_context(tls_context(tls))
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise UplinkError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        if not subscribed.wait(timeout) and not done.is_set():
            raise UplinkError(
                f"{host}:{port} did not confirm the subscription within {timeout:g} s"
            )
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = response
        props.CorrelationData = correlation
        if not done.is_set():
            client.publish(
                task_topic(prefix, site, node),
                json.dumps(request, separators=(",", ":")).encode(),
                qos=1,
                properties=props,
            )
        if not done.wait(max(0.0, deadline - time.monotonic())):
            raise UplinkError(
                f"no reply from {node} within {timeout:g} s (is the unit up, and does this "
                "partner's uplink grant remote tasking?)"
            )
    finally:
        client.disconnect()
        client.loop_stop()
    return result
