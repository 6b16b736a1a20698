"""The central side: receive detections from a broker, decode them, drop duplicates.

Used by ``ugs-gateway subscribe``. A :class:`Subscriber` keeps one MQTT connection up
(persistent session and QoS 1 by default, so a broker with persistence queues what arrives
while it is away), decodes each detection in whatever encoding it came (JSON or compact, via
:func:`gateway.uplinks.encoding.decode` with the topic), drops reports whose ``id`` it has already
seen (a bounded LRU), and hands each new one to ``emit`` *before* the broker gets its PUBACK:
at-least-once up to the output, exactly-once per ``id`` within the LRU's memory.

With a :class:`~gateway.signing.Verifier` (``subscribe --verify-key``) a detection is accepted
only when it carries a valid signature of its node's key for the topic it came on: forged
reports, reports of nodes without a key and signed reports moved to another topic are
rejected (counted, logged) and never reach ``emit`` nor take an ``id``.

A message that cannot be decoded (garbage, too large, nested too deep, a forgery) is a
*poison* message: logged (rate-limited), acknowledged and skipped. It must never end the
subscriber: with a persistent session the broker would deliver it again at every reconnect,
and a retained one would reach every subscriber that ever connects.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from drivers.backoff import Backoff
from gateway.errors import ProtocolError
from gateway.signing import SignatureError, Verifier, split
from gateway.uplinks import mqtt_client as mq
from gateway.uplinks.encoding import (
    DETECTION,
    STATUS,
    decode,
    json_depth,
    load_json,
    topic_origin,
)

log = logging.getLogger(__name__)

DEFAULT_TOPIC = "ugs/v1/+/+/detection"
DEDUPE_SIZE = 100_000
BAD_PAYLOAD_LOG_S = 10.0
MAX_STATUS_BYTES = 256 * 1024

Emit = Callable[[dict[str, Any]], None]


def default_client_id(topics: list[str], host: str | None = None) -> str:
    """Stable per host and topic set, so a restarted subscriber resumes its own session."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", host or socket.gethostname())[:32] or "host"
    digest = hashlib.sha1("\n".join(sorted(topics)).encode()).hexdigest()[:8]
    return f"ugs-sub-{name}-{digest}"


class SeenIds:
    """The ``maxsize`` most recently seen report ids (LRU)."""

    def __init__(self, maxsize: int = DEDUPE_SIZE) -> None:
        self.maxsize = maxsize
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, report_id: str) -> bool:
        """True the first time an id is seen (within the memory), False for a repeat."""
        if report_id in self._ids:
            self._ids.move_to_end(report_id)
            return False
        self._ids[report_id] = None
        if len(self._ids) > self.maxsize:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)


def status_line(topic: str, payload: bytes, retained: bool) -> dict[str, Any]:
    """A status message as a JSON object marked ``"status"`` (no ``id``: not a detection).

    Raises :class:`ProtocolError` (only) for a payload too large or nested too deep."""
    data = bytes(payload)
    if len(data) > MAX_STATUS_BYTES:
        raise ProtocolError(f"status of {len(data)} bytes (at most {MAX_STATUS_BYTES})")
    value: Any
    try:
        value = load_json(data, max_bytes=MAX_STATUS_BYTES)
    except ProtocolError:
        if json_depth(data) > 32:
            raise
        value = data.decode("utf-8", "replace")  # the last will is the plain string "offline"
    parts = topic.split("/")
    line: dict[str, Any] = {"status": value, "topic": topic, "retained": retained}
    if len(parts) >= 3:
        line["site"], line["node"] = parts[-3], parts[-2]
    return line


def verified_report(payload: bytes, topic: str, verifier: Verifier) -> dict[str, Any]:
    """Decode a detection and check its signature; :class:`SignatureError` when it is not
    its node's, on this topic, and :class:`ProtocolError` when it is no report at all."""
    body, signature = split(payload)
    report = decode(body, topic=topic)
    origin = topic_origin(topic)
    if origin is None or origin != (report["site"], report["node"]):
        raise SignatureError(f"report of {report['node']} on a topic not its own ({topic})")
    verifier.verify(report["node"], topic, body, signature)
    return report


class Subscriber:
    """Subscribe, decode, deduplicate and emit until :meth:`stop` (or ``count`` reports)."""

    def __init__(
        self,
        settings: mq.LinkSettings,
        topics: list[str],
        emit: Emit,
        *,
        qos: int = 1,
        dedupe_size: int = DEDUPE_SIZE,
        count: int | None = None,
        reconnect_min: float = 0.5,
        reconnect_max: float = 15.0,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self.emit = emit
        self.qos = qos
        self.seen = SeenIds(dedupe_size)
        self.count = count
        self.received = 0  # unique detections emitted
        self.duplicates = 0
        self.bad = 0  # poison messages: not a report or status at all
        self.rejected = 0  # reports whose signature is missing or wrong
        self.verifier = verifier
        self.connected = False  # subscribed right now
        self._backoff = Backoff(reconnect_min, reconnect_max)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._last_outcome: str | None = None
        self._bad_logged_at = 0.0
        self._bad_unlogged = 0

    def stop(self) -> None:
        """Ask :meth:`run` to return; safe from a signal handler or another thread."""
        self._stop.set()
        with contextlib.suppress(OSError):  # already closed: run() has returned
            self._wake_w.send(b"\0")

    @property
    def done(self) -> bool:
        return self._stop.is_set() or (self.count is not None and self.received >= self.count)

    def run(self) -> None:
        """Connect (and reconnect) until stopped; failures are logged once per state change."""
        try:
            while not self.done:
                try:
                    conn = mq.connect(
                        self.settings,
                        on_message=self._on_message,
                        wake=self._wake_r,
                        cancelled=lambda: self.done,
                    )
                except mq.LinkError as failure:
                    if failure.state == mq.STOPPED:
                        break
                    self._note_failure(failure)
                    self._wait(self._backoff.next_delay())
                    continue
                self._serve(conn)
        finally:
            self._wake_r.close()
            self._wake_w.close()

    def _wait(self, delay: float) -> None:
        deadline = time.monotonic() + delay
        while not self.done and (left := deadline - time.monotonic()) > 0:
            if mq.wait_readable(self._wake_r, left):
                mq.drain(self._wake_r)

    def _serve(self, conn: mq.MqttConnection) -> None:
        self._backoff.reset()
        conn.subscribe(self.topics, self.qos)  # also after a resumed session: harmless
        where = self.settings.where
        if self._last_outcome not in (None, mq.CONNECTED):
            log.info("connected to %s again (session resumed: %s)", where, conn.session_present)
        else:
            log.info("subscribed to %s on %s", ", ".join(self.topics), where)
        self._last_outcome = mq.CONNECTED
        self.connected = True
        while conn.alive and not self.done:
            if conn.pump(1.0, self._wake_r):
                mq.drain(self._wake_r)
        self.connected = False
        if conn.failure is not None:
            conn.close()
            self._note_failure(conn.failure)
            self._wait(self._backoff.next_delay())
        else:
            conn.close(flush_timeout=2.0)  # DISCONNECT: the broker keeps the session

    def _note_failure(self, failure: mq.LinkError) -> None:
        if failure.state == self._last_outcome:
            log.debug("still %s: %s", failure.state, failure.message)
            return
        self._last_outcome = failure.state
        log.warning("%s: %s; retrying", failure.state, failure.message)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        # Runs before the PUBACK: returning normally acknowledges the message, raising would
        # end the subscriber and have the broker deliver the same message again.
        last = topic.rsplit("/", 1)[-1]
        try:
            if last == STATUS:
                line = status_line(topic, payload, retained)
            elif self.verifier is not None:
                line = verified_report(payload, topic, self.verifier)
            else:  # not verifying: a signed report reads as the report it signs
                line = decode(split(payload)[0], topic=topic)
        except SignatureError as exc:
            self.rejected += 1
            self._bad_payload(topic, exc, "rejected a report")
            return
        except ProtocolError as exc:
            self.bad += 1
            self._bad_payload(topic, exc, "ignoring a message that is not a report")
            return
        except Exception as exc:  # a decoder bug: still a message to skip, not to die on
            self.bad += 1
            self._bad_payload(topic, exc, f"ignoring a message ({type(exc).__name__})")
            return
        if last == STATUS:
            self.emit(line)
            return
        report = line
        if not self.seen.first_time(report["id"]):
            self.duplicates += 1
            log.debug("duplicate %s dropped", report["id"])
            return
        if self.count is not None and self.received >= self.count:
            return
        self.emit(report)
        self.received += 1
        if last != DETECTION:
            log.debug("report %s came on %s (not a detection topic)", report["id"], topic)

    def _bad_payload(self, topic: str, exc: Exception, what: str) -> None:
        now = time.monotonic()
        if now - self._bad_logged_at < BAD_PAYLOAD_LOG_S:
            self._bad_unlogged += 1
            return
        more = f" ({self._bad_unlogged} more since the last warning)" if self._bad_unlogged else ""
        log.warning("%s on %s: %s%s", what, topic, str(exc)[:300], more)
        self._bad_logged_at, self._bad_unlogged = now, 0
