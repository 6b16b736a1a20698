"""A stand-in SAPIENT fusion node: accepts ASMs, checks what they send, acks, tasks them.

Used by ``ugs-gateway sapient-node`` (central-system developers see what a unit sends) and by
the tests (which hold the unit to the same rules a fusion node applies). Every message
received is validated (:func:`gateway.uplinks.sapient_validate.problems`: mandatory fields,
unknown fields and enum values, ULID/UUID formats, the -0.9/+0.1 s timestamp window) and
handed to ``emit`` as one JSON-ready dict::

    {"at": "2026-11-27T18:02:11.250Z", "peer": "127.0.0.1:40312", "node_id": "...",
     "type": "detection_report", "valid": true, "problems": [], "message": {...}}

A valid registration is acknowledged (``acceptance: true``); an invalid one is refused with
its problems as reasons. :meth:`FusionNode.send_task` tasks a connected ASM.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway.detection_report import format_time
from gateway.errors import ProtocolError
from gateway.uplinks.sapient_codec import (
    FrameDecoder,
    encode_frame,
    new_node_id,
    new_ulid,
    parse_message,
    timestamp,
)
from gateway.uplinks.sapient_validate import problems

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]


@dataclass
class _Peer:
    sock: socket.socket
    address: str
    node_id: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: SapientMessage) -> None:
        with self.lock:
            self.sock.sendall(encode_frame(message))


class FusionNode:
    """A TCP server speaking SAPIENT to any number of ASMs (one thread each)."""

    def __init__(self, host: str, port: int, emit: Emit, *, ack: bool = True) -> None:
        self.node_id = new_node_id()
        self.emit = emit
        self.ack = ack
        self._server = socket.create_server((host, port), reuse_port=False)
        self._server.settimeout(0.5)
        self.host, self.port = self._server.getsockname()[:2]
        self._peers: list[_Peer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> FusionNode:
        thread = threading.Thread(target=self._accept, name="fusion-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            peers = list(self._peers)
        for peer in peers:
            with contextlib.suppress(OSError):
                peer.sock.close()
        for thread in self._threads:
            thread.join(2.0)

    # -- tasking ----------------------------------------------------------------------------

    def send_task(
        self,
        *,
        request: str | None = None,
        mode_change: str | None = None,
        task: dict[str, Any] | None = None,
        node_id: str | None = None,
    ) -> list[str]:
        """Send a task to every registered ASM (or the one with ``node_id``): a request (e.g.
        ``Status``), a mode change, or any ``Task`` given as its JSON form. Returns the
        task ids sent."""
        sent = []
        for peer in self._registered(node_id):
            message = self._envelope(peer)
            body = message.task
            if task is not None:
                json_format.ParseDict(task, body)
            else:
                body.control = body.CONTROL_START
                if request is not None:
                    body.command.request = request
                elif mode_change is not None:
                    body.command.mode_change = mode_change
            if not body.task_id:
                body.task_id = new_ulid(time.time())
            try:
                peer.send(message)
            except OSError as exc:
                log.warning("could not send a task to %s: %s", peer.address, exc)
                continue
            sent.append(body.task_id)
            self.emit(self._record(peer, message, direction="sent"))
        return sent

    def _registered(self, node_id: str | None) -> list[_Peer]:
        with self._lock:
            return [
                p for p in self._peers if p.node_id and (node_id is None or p.node_id == node_id)
            ]

    def _envelope(self, peer: _Peer) -> SapientMessage:
        message = SapientMessage()
        message.timestamp.CopyFrom(timestamp(time.time()))
        message.node_id = self.node_id
        if peer.node_id:
            message.destination_id = peer.node_id
        return message

    # -- serving ----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, address = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer = _Peer(sock, f"{address[0]}:{address[1]}")
            with self._lock:
                self._peers.append(peer)
            self.emit({"at": format_time(time.time()), "peer": peer.address, "type": "connected"})
            thread = threading.Thread(
                target=self._serve, args=(peer,), name=f"fusion-{peer.address}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _serve(self, peer: _Peer) -> None:
        decoder = FrameDecoder()
        reason = "closed by the ASM"
        try:
            while not self._stop.is_set():
                data = peer.sock.recv(65536)
                if not data:
                    break
                for payload in decoder.feed(data):
                    self._received(peer, payload)
        except ProtocolError as exc:
            reason = str(exc)
        except OSError as exc:
            reason = f"connection lost ({exc})"
        finally:
            with self._lock:
                if peer in self._peers:
                    self._peers.remove(peer)
            with contextlib.suppress(OSError):
                peer.sock.close()
            self.emit(
                {
                    "at": format_time(time.time()),
                    "peer": peer.address,
                    "node_id": peer.node_id,
                    "type": "disconnected",
                    "reason": reason,
                }
            )

    def _received(self, peer: _Peer, payload: bytes) -> None:
        now = time.time()
        try:
            message = parse_message(payload)
        except ProtocolError as exc:
            self.emit(
                {
                    "at": format_time(now),
                    "peer": peer.address,
                    "type": "garbage",
                    "valid": False,
                    "problems": [str(exc)],
                }
            )
            return
        record = self._record(peer, message, now=now)
        self.emit(record)
        if message.WhichOneof("content") == "registration" and self.ack:
            accepted = record["valid"]
            if accepted:
                peer.node_id = message.node_id
            reply = self._envelope(peer)
            reply.destination_id = message.node_id
            reply.registration_ack.acceptance = accepted
            reply.registration_ack.ack_response_reason.extend(record["problems"][:20])
            with contextlib.suppress(OSError):
                peer.send(reply)
            self.emit(self._record(peer, reply, direction="sent"))

    def _record(
        self,
        peer: _Peer,
        message: SapientMessage,
        *,
        now: float | None = None,
        direction: str = "received",
    ) -> dict[str, Any]:
        found = problems(message, now) if direction == "received" else []
        return {
            "at": format_time(now if now is not None else time.time()),
            "peer": peer.address,
            "direction": direction,
            "node_id": message.node_id,
            "type": message.WhichOneof("content"),
            "valid": not found,
            "problems": found,
            "message": json_format.MessageToDict(message, preserving_proto_field_name=True),
        }
