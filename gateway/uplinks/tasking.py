"""Remote tasking over MQTT: a partner's commands to the unit, on the partner's own broker.

An MQTT uplink whose ``tasking`` grants at least one command opens a second connection to
its broker, MQTT 5 (the reports' connection stays MQTT 3.1.1), subscribed to
``{topic_prefix}/{site}/{node}/task``. A request is a JSON object::

    {"command": "status"}
    {"command": "mode", "mode": "sensitive"}
    {"command": "snippet", "id": "ugs-0007-3-1542"}

The reply goes back on the same broker, to the request's MQTT 5 *response topic* with its
*correlation data*; a request without a response topic (an MQTT 3.1.1 client) is answered on
``{topic_prefix}/{site}/{node}/task/reply``, with the request's ``"correlation"`` copied.
Replies are JSON: ``{"ok": true, ...}`` or ``{"ok": false, "error": "why"}``. A snippet (the
field recorder's miniSEED file of a detection) comes in chunks of base64 that each fit in
``max_reply_bytes``, with ``chunk``, ``chunks``, ``size`` and ``sha256`` of the whole file.

A command the uplink does not grant is refused (and logged); so are unknown commands,
requests over :data:`MAX_REQUEST_BYTES` and requests beyond :data:`QUEUE` waiting. Every
command is logged with the uplink that carried it and its outcome.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import ProtocolError
from gateway.uplinks import TaskRefusedError, Unit
from gateway.uplinks.config import UplinkConfig
from gateway.uplinks.encoding import load_json
from gateway.uplinks.mqtt_client import LinkError, read_password, tls_context

log = logging.getLogger(__name__)

COMMANDS = ("status", "mode", "snippet")
MAX_REQUEST_BYTES = 4096
QUEUE = 16
ENVELOPE_BYTES = 600
"""Room kept in each snippet reply for its JSON fields around the data."""


def task_topic(prefix: str, site: str, node: str) -> str:
    return f"{prefix}/{site}/{node}/task"


def reply_topic(prefix: str, site: str, node: str) -> str:
    """Where requests without an MQTT 5 response topic are answered."""
    return f"{task_topic(prefix, site, node)}/reply"


def chunk_bytes(max_reply_bytes: int) -> int:
    """Raw bytes of a snippet per reply so that the base64 reply fits ``max_reply_bytes``."""
    return max(256, (max_reply_bytes - ENVELOPE_BYTES) * 3 // 4)


@dataclass(frozen=True)
class _Request:
    payload: bytes
    response_topic: str | None
    correlation: bytes | None


class MqttTasking:
    """The task listener of one MQTT uplink (paho's own network thread plus one worker)."""

    def __init__(self, config: UplinkConfig, unit: Unit, *, node: str, site: str) -> None:
        self.config = config
        self.unit = unit
        self.name = config.name
        self.topic = task_topic(config.topic_prefix, site, node)
        self.default_reply = reply_topic(config.topic_prefix, site, node)
        self._queue: queue.Queue[_Request | None] = queue.Queue(QUEUE)
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{config.resolved_client_id(node)}-task",
            protocol=paho.MQTTv5,
        )
        self._worker = threading.Thread(target=self._work, name=f"tasking-{self.name}", daemon=True)
        self._lock = threading.Lock()
        self.counts = {"accepted": 0, "refused": 0}
        self.connected = False

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config
        client = self._client
        try:
            if cfg.tls.enabled:
                client.tls_set_context(tls_context(cfg.tls))
            if cfg.username is not None:
                password = read_password(cfg.password_file) if cfg.password_file else None
                client.username_pw_set(cfg.username, password)
        except LinkError as exc:
            log.error("uplink %s: remote tasking not started: %s", self.name, exc.message)
            return
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(
            max(1, round(cfg.reconnect_min)), max(1, round(cfg.reconnect_max))
        )
        client.connect_async(cfg.host, cfg.effective_port, keepalive=cfg.keepalive)
        client.loop_start()
        self._worker.start()
        log.info(
            "uplink %s: remote tasking on %s (granted: %s)",
            self.name,
            self.topic,
            ", ".join(cfg.tasking),
        )

    def stop(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(5.0)
        self._client.disconnect()
        self._client.loop_stop()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"topic": self.topic, "connected": self.connected, **self.counts}

    # -- paho callbacks (paho's thread) -------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.warning("uplink %s: remote tasking: broker refused: %s", self.name, reason)
            return
        with self._lock:
            self.connected = True
        client.subscribe(self.topic, qos=1)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._lock:
            self.connected = False

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        props = getattr(msg, "properties", None)
        response = getattr(props, "ResponseTopic", None) or None
        correlation = getattr(props, "CorrelationData", None) or None
        request = _Request(bytes(msg.payload), response, correlation)
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._refuse(request, None, "busy: too many commands waiting; try again")

    # -- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            try:
                self._handle(request)
            except Exception:
                log.exception("uplink %s: remote tasking failed on a request", self.name)

    def _handle(self, request: _Request) -> None:
        if len(request.payload) > MAX_REQUEST_BYTES:
            self._refuse(request, None, f"request too large ({len(request.payload)} bytes; "
                         f"at most {MAX_REQUEST_BYTES})")  # fmt: skip
            return
        try:
            body = load_json(request.payload, max_bytes=MAX_REQUEST_BYTES, max_depth=4)
        except ProtocolError:
            self._refuse(request, None, "not a JSON object (see docs/uplinks.md, Remote tasking)")
            return
        if not isinstance(body, dict):
            self._refuse(request, None, "not a JSON object (see docs/uplinks.md, Remote tasking)")
            return
        command = body.get("command")
        if command not in COMMANDS:
            self._refuse(
                request, body, f"unknown command {command!r} (known: {', '.join(COMMANDS)})"
            )
            return
        if command not in self.config.tasking:
            self._refuse(request, body, f"command {command!r} is not granted to this partner")
            return
        try:
            if command == "status":
                self._reply(request, body, {"ok": True, "status": self.unit.status_now(self.name)})
                outcome = "status sent"
            elif command == "mode":
                mode = body.get("mode")
                if not isinstance(mode, str):
                    raise TaskRefusedError(
                        f"give the mode by name (modes: {', '.join(self.unit.modes())})"
                    )
                self.unit.set_mode(mode, by=f"MQTT uplink {self.name}")
                self._reply(request, body, {"ok": True, "mode": self.unit.mode})
                outcome = f"mode {mode}"
            else:
                outcome = self._snippet(request, body)
        except TaskRefusedError as exc:
            self._refuse(request, body, str(exc))
            return
        with self._lock:
            self.counts["accepted"] += 1
        log.info("uplink %s: task %s: done (%s)", self.name, _describe(body), outcome)

    def _snippet(self, request: _Request, body: Mapping[str, Any]) -> str:
        report_id = body.get("id")
        if not isinstance(report_id, str):
            raise TaskRefusedError('give the detection\'s report id as "id"')
        # Only a detection this partner's share filter lets through (docs/uplinks.md).
        share = self.config.share
        path = self.unit.snippet(
            report_id, accepts=None if share.takes_every_report else share.accepts
        )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TaskRefusedError(
                f"the snippet of {report_id} cannot be read: {exc.strerror}"
            ) from None
        size = chunk_bytes(self.config.max_reply_bytes)
        chunks = max(1, -(-len(data) // size))
        digest = hashlib.sha256(data).hexdigest()
        for index in range(chunks):
            part = data[index * size : (index + 1) * size]
            self._reply(
                request,
                body,
                {
                    "ok": True,
                    "id": report_id,
                    "chunk": index,
                    "chunks": chunks,
                    "size": len(data),
                    "sha256": digest,
                    "data": base64.b64encode(part).decode("ascii"),
                },
            )
        return f"snippet {report_id}: {len(data)} bytes in {chunks} chunk(s)"

    def _refuse(self, request: _Request, body: Mapping[str, Any] | None, why: str) -> None:
        with self._lock:
            self.counts["refused"] += 1
        log.warning("uplink %s: task %s: refused: %s", self.name, _describe(body), why)
        self._reply(request, body, {"ok": False, "error": why})

    def _reply(
        self, request: _Request, body: Mapping[str, Any] | None, reply: dict[str, Any]
    ) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        topic = request.response_topic
        if request.correlation is not None:
            props.CorrelationData = request.correlation
        if topic is None:
            topic = self.default_reply
            if body is not None and "correlation" in body:
                reply["correlation"] = body["correlation"]
        if body is not None and isinstance(body.get("command"), str):
            reply.setdefault("command", body["command"])
        payload = json.dumps(reply, separators=(",", ":")).encode()
        self._client.publish(topic, payload, qos=1, properties=props)


def _describe(body: Mapping[str, Any] | None) -> str:
    if body is None:
        return "(unreadable request)"
    detail = body.get("mode") or body.get("id")
    return f"{body.get('command')!s}{f' {detail}' if detail else ''}"
