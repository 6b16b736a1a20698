"""MQTT uplinks to partner agencies: each carries reports from the durable outbox to one broker.

One :class:`MqttUplink` per ``[[uplinks]]`` entry, each with its own thread, connection, outbox
cursor and counters; nothing is shared between uplinks but the outbox (whose lock is never
held across network I/O), so one partner's outage never delays another's reports.

How a report travels:

1. The pipeline calls ``outbox.store(fields)``; the report is durable when it returns. The
   outbox's listener hands the new row to every uplink whose share filter accepted it, and
   wakes their threads ("live" rows).
2. The uplink thread publishes live rows first, then the backlog (``outbox.pending``, oldest
   first) at ``drain_rate`` reports/s, keeping at most ``max_inflight`` unacknowledged.
   The share filter's field allow-list (``share.fields``, ``share.redact``) and the
   encoding are applied just before sending.
3. On PUBACK (QoS 1) the row is acknowledged in the outbox for this uplink; the outbox
   deletes a report once every uplink that should carry it has acknowledged it. A connection
   that drops loses only its in-flight bookkeeping: those rows are still pending in the
   outbox and are sent again (same ``id``) on the next connection.

Status: every connection carries a last will ``offline`` (retained) on
``{prefix}/{site}/{node}/status``. On connecting, the uplink publishes the latest payload
given to :meth:`MqttUplink.publish_status` (or ``{"state": "online", ...}`` until the service
gives one), retained; on a clean :meth:`MqttUplink.stop` it publishes
``{"state": "stopped", ...}`` retained before disconnecting (a clean disconnect suppresses
the will). So a central system reads JSON while the node is up or was stopped on purpose,
and the plain string ``offline`` when the node or its link died.

Connection failures are logged once per state change (see :mod:`gateway.uplinks.mqtt_client` for the
states); the uplink keeps redialling with jittered exponential backoff between
``reconnect_min`` and ``reconnect_max`` while reports accumulate in the outbox.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from drivers.backoff import Backoff
from gateway.detection_report import format_time
from gateway.outbox.store import Outbox, OutboxRow
from gateway.signing import Signer
from gateway.uplinks import Unit
from gateway.uplinks import mqtt_client as mq
from gateway.uplinks.config import UplinkConfig
from gateway.uplinks.encoding import detection_topic, encode, status_topic
from gateway.uplinks.link_state import LinkState
from gateway.uplinks.live_feed import LiveFeed
from gateway.uplinks.tasking import MqttTasking

log = logging.getLogger(__name__)

LIVE_RESERVE = 16  # extra in-flight slots that only live reports may use
ACK_BATCH = 64  # PUBACKs recorded in the outbox in one transaction
ACK_DELAY_S = 0.05  # ... or after this long, whichever comes first
IDLE_POLL_S = 0.5  # longest wait in the loop (keep-alive checks, status changes)
BACKLOG_RECHECK_S = 1.0  # how often an empty backlog is looked at again
STOP_FLUSH_S = 2.0  # on stop: wait this long for the last PUBACKs and the final status
ERROR_PAUSE_S = 5.0  # after an unexpected error in the uplink thread


def _iso_now() -> str:
    return format_time(time.time())


class MqttUplink(LinkState):
    """One partner link: its own thread between the outbox and one MQTT broker.

    Thread-safe API: :meth:`start`, :meth:`stop`, :meth:`notify`, :meth:`publish_status`,
    :meth:`status`. Construct it after the :class:`Outbox`, which must know this uplink's
    name (its share filter) from its ``uplinks`` mapping::

        outbox = Outbox(path, cfg.outbox, node=..., site=..., boot=...,
                        uplinks=share_filters(cfg.uplinks))
        uplinks = [MqttUplink(u, outbox, node=..., site=...) for u in cfg.uplinks]
    """

    _log = log

    def __init__(
        self,
        config: UplinkConfig,
        outbox: Outbox,
        *,
        node: str,
        site: str,
        unit: Unit | None = None,
        signer: Signer | None = None,
    ) -> None:
        if config.name not in outbox.uplinks:
            raise ValueError(f"the outbox was not opened with uplink {config.name!r}")
        self.config = config
        self.name = config.name
        # Reports are signed with the unit's key unless this link cannot take the bytes.
        self.signer = signer if config.sign else None
        self.outbox = outbox
        self.node, self.site = node, site
        self.detection_topic = detection_topic(site, node, config.topic_prefix)
        self.status_topic = status_topic(site, node, config.topic_prefix)
        self.settings = mq.LinkSettings(
            label=f"uplink-{config.name}",
            host=config.host,
            port=config.effective_port,
            client_id=config.resolved_client_id(node),
            clean_session=False,
            keepalive=config.keepalive,
            connect_timeout=config.connect_timeout,
            tls=config.tls if config.tls.enabled else None,
            username=config.username,
            password_file=config.password_file,
            will=mq.Will(self.status_topic, b"offline", qos=1, retain=True),
            max_inflight=0,  # the session keeps the window itself (see _Session)
        )
        self._feed = LiveFeed(self.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Guards the fields below it; held only for a few assignments, never across I/O.
        self._lock = threading.Lock()
        self._status_payload: dict[str, Any] | None = None
        self._status_dirty = False
        self._final_status: dict[str, Any] | None = None
        self._init_link_state(mq.STOPPED)
        self._counters = {"published": 0, "acked": 0, "reconnects": 0, "in_flight": 0}
        self._last_ack: float | None = None
        self.unit = unit
        self._tasking: MqttTasking | None = None
        if config.tasking and unit is not None:
            self._tasking = MqttTasking(config, unit, node=node, site=site)
        outbox.add_listener(self._feed.on_stored)

    # -- thread-safe API ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"uplink {self.name} already started")
        self._thread = threading.Thread(target=self._run, name=f"uplink-{self.name}", daemon=True)
        self._set_state(mq.CONNECTING)
        self._thread.start()
        if self._tasking is not None:
            self._tasking.start()

    def stop(self, timeout: float = 10.0, final_status: Mapping[str, Any] | None = None) -> None:
        """Publish a final retained status (default ``{"state": "stopped", ...}``), wait up
        to :data:`STOP_FLUSH_S` for outstanding PUBACKs, disconnect and end the thread."""
        with self._lock:
            self._final_status = dict(final_status) if final_status is not None else None
        if self._tasking is not None:
            self._tasking.stop()
        self._stop.set()
        self._feed.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("uplink %s: thread did not stop within %g s", self.name, timeout)
                return
        self._feed.close()

    def notify(self, report: Mapping[str, Any] | None = None) -> None:
        """Wake the uplink thread. Not needed after ``outbox.store``: the outbox listener
        already hands every new report to the uplinks that should carry it."""
        self._feed.wake()

    def publish_status(self, payload: Mapping[str, Any]) -> None:
        """Publish ``payload`` as JSON, retained, on the status topic (now if connected, and
        again after every reconnect: the will may have replaced it with ``offline``)."""
        with self._lock:
            self._status_payload = dict(payload)
            self._status_dirty = True
        self._feed.wake()

    def status(self, outbox_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Plain-JSON state of this uplink for the health report and ``outbox stats``."""
        stats = outbox_stats if outbox_stats is not None else self.outbox.stats()
        mine = (stats.get("uplinks") or {}).get(self.name, {})
        with self._lock:
            since = self._connected_since
            return {
                "name": self.name,
                "broker": self.settings.where,
                "tls": self.settings.tls is not None,
                "signed": self.signer is not None,
                "encoding": self.config.encoding,
                "topic": self.detection_topic,
                "state": self._state,
                "state_since": format_time(self._state_since),
                "last_error": self._last_error,
                "connected_since": format_time(since) if since is not None else None,
                "published": self._counters["published"],
                "acked": self._counters["acked"],
                "in_flight": self._counters["in_flight"],
                "reconnects": self._counters["reconnects"],
                "last_ack": format_time(self._last_ack) if self._last_ack else None,
                "pending": mine.get("pending"),
                "dropped": mine.get("dropped"),
                "tasking": self._tasking.status() if self._tasking is not None else None,
                "filtered": mine.get("filtered"),
            }

    def _failed(self, failure: mq.LinkError) -> None:
        self._link_down(
            failure.state, failure.message, serious=failure.state in (mq.AUTH_FAILED, mq.TLS_FAILED)
        )

    def _connected(self) -> None:
        with self._lock:
            self._connected_since = time.time()
            self._status_dirty = True  # replace a retained "offline" left by the will
            if self._was_up_before():
                self._counters["reconnects"] += 1
        where = (
            f"{self.settings.where} ({'TLS' if self.settings.tls is not None else 'plain MQTT'})"
        )
        self._link_up(mq.CONNECTED, f"connected to {where}", f"connected to {where}")

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self.config.reconnect_min, self.config.reconnect_max)
        while not self._stop.is_set():
            try:
                delay = self._one_connection(backoff)
            except Exception:
                # A bug or a storage failure must not end the thread: the reports are safe in
                # the outbox, and the next round starts from there.
                log.exception(
                    "uplink %s: unexpected error; retrying in %g s", self.name, ERROR_PAUSE_S
                )
                self._set_state(mq.DISCONNECTED, "internal error (see the log)")
                delay = ERROR_PAUSE_S
            if delay > 0:
                self._stop.wait(delay)
        self._set_state(mq.STOPPED)
        self._feed.link_down()
        with self._lock:
            self._connected_since = None

    def _one_connection(self, backoff: Backoff) -> float:
        """Connect, serve until the link fails or stop; return the delay before redialling."""
        if self._state != mq.CONNECTING:
            self._set_state(mq.CONNECTING)
        try:
            conn = mq.connect(self.settings, wake=self._feed.wake_r, cancelled=self._stop.is_set)
        except mq.LinkError as failure:
            if failure.state == mq.STOPPED:
                return 0.0
            self._failed(failure)
            return backoff.next_delay()
        self._connected()
        backoff.reset()
        session = _Session(self, conn)
        try:
            session.serve()
        except mq.LinkError as failure:  # paho refused a publish: treat as a lost link
            conn.failure = conn.failure or failure
        finally:
            session.finish()
        if conn.failure is not None:
            self._failed(conn.failure)
            return backoff.next_delay()
        return 0.0


class _Session:
    """The work of one live connection: what is in flight, the rate budget, the acks."""

    def __init__(self, uplink: MqttUplink, conn: mq.MqttConnection) -> None:
        self.up = uplink
        self.conn = conn
        cfg = uplink.config
        self.window = cfg.max_inflight
        self.in_flight: dict[int, int] = {}  # mid -> row_id
        self.in_flight_rows: set[int] = set()
        self.acked: list[int] = []  # PUBACKed rows not yet recorded in the outbox
        self.acked_set: set[int] = set()
        self.first_ack_at = 0.0
        self.status_mid: int | None = None
        self.rate = cfg.drain_rate
        # Token bucket for the backlog: at most one window's worth (or one second's) at once.
        self.burst = max(1.0, min(float(self.window), cfg.drain_rate))
        self.tokens = self.burst if cfg.drain_rate else 0.0
        self.refill_at = time.monotonic()
        self.backlog_high = 0  # highest row_id sent from the backlog in this connection
        self.backlog_empty_until = 0.0
        self.share = cfg.share
        self.encoding = cfg.encoding
        self.qos = cfg.qos
        self.signer = uplink.signer

    # -- main loop ----------------------------------------------------------------------------

    def serve(self) -> None:
        up = self.up
        while self.conn.alive and not up._stop.is_set():
            self._take_acks()
            with self.conn.burst():
                self._send_status()
                self._send_live()
                wait = self._send_backlog()
            self._update_counters()
            if self.acked:
                wait = min(wait, max(0.0, self.first_ack_at + ACK_DELAY_S - time.monotonic()))
            if self.conn.pump(wait, up._feed.wake_r):
                up._feed.drain_wake()
        if up._stop.is_set() and self.conn.connected:
            self._goodbye()

    def finish(self) -> None:
        self._take_acks()
        self._flush_acks()
        self.conn.close(flush_timeout=1.0)
        with self.up._lock:
            self.up._counters["in_flight"] = 0

    def _update_counters(self) -> None:
        with self.up._lock:
            self.up._counters["in_flight"] = len(self.in_flight)

    # -- acks ---------------------------------------------------------------------------------

    def _take_acks(self) -> None:
        now = time.monotonic()
        for mid in self.conn.take_acks():
            if mid == self.status_mid:
                self.status_mid = None
                continue
            row_id = self.in_flight.pop(mid, None)
            if row_id is None:
                continue
            self.in_flight_rows.discard(row_id)
            if not self.acked:
                self.first_ack_at = now
            self.acked.append(row_id)
            self.acked_set.add(row_id)
        if self.acked and (len(self.acked) >= ACK_BATCH or now - self.first_ack_at >= ACK_DELAY_S):
            self._flush_acks()

    def _flush_acks(self) -> None:
        if not self.acked:
            return
        self.up.outbox.ack(self.up.name, self.acked)
        with self.up._lock:
            self.up._counters["acked"] += len(self.acked)
            self.up._last_ack = time.time()
        self.acked = []
        self.acked_set = set()

    # -- sending ------------------------------------------------------------------------------

    def _payload(self, row: OutboxRow) -> bytes:
        if self.encoding != "json":
            return encode(self.share.apply(row.report), self.encoding)
        # The outbox validated the report (canonical key order) when it stored it, and the
        # share filter only removes optional fields: validating again on the way out would
        # cost more than the rest of the send path. When the partner may have every field
        # the report has, the stored text is exactly the JSON to send.
        if self.share.sends_whole(row.report):
            return row.body.encode()
        shared = self.share.apply(row.report)
        return json.dumps(shared, separators=(",", ":"), ensure_ascii=False).encode()

    def _publish(self, row: OutboxRow) -> None:
        payload = self._payload(row)
        if self.signer is not None:
            payload = self.signer.sign(self.up.detection_topic, payload)
        mid = self.conn.publish(self.up.detection_topic, payload, qos=self.qos)
        self.in_flight[mid] = row.row_id
        self.in_flight_rows.add(row.row_id)
        with self.up._lock:
            self.up._counters["published"] += 1

    def _busy(self, row_id: int) -> bool:
        return row_id in self.in_flight_rows or row_id in self.acked_set

    def _send_live(self) -> None:
        limit = self.window + LIVE_RESERVE
        while len(self.in_flight) < limit and self.conn.connected:
            row = self.up._feed.pop()
            if row is None:
                return
            # Rows the backlog already covered (sent or acknowledged) are skipped.
            if row.row_id <= self.backlog_high or self._busy(row.row_id):
                continue
            self._publish(row)

    def _send_backlog(self) -> float:
        """Send what the window and the rate allow; return how long the loop may sleep."""
        now = time.monotonic()
        if self.up._feed.take_overflow():
            self.backlog_empty_until = 0.0
        if now < self.backlog_empty_until:
            return min(IDLE_POLL_S, self.backlog_empty_until - now)
        free = self.window - len(self.in_flight)
        # Ask for a batch, not one row per PUBACK: fewer queries at full speed.
        batch = max(1, self.window // 4)
        if free < batch or not self.conn.connected:
            return IDLE_POLL_S
        want = free
        if self.rate:
            self.tokens = min(self.burst, self.tokens + (now - self.refill_at) * self.rate)
            self.refill_at = now
            # The rate too is spent a batch at a time (at 500/s, a read every 24 ms rather
            # than one per report); the average rate is the same.
            enough = min(batch, self.burst)
            if self.tokens < enough:
                return min(IDLE_POLL_S, (enough - self.tokens) / self.rate)
            want = min(want, int(self.tokens))
        exclude = self.in_flight_rows | self.acked_set
        # Everything up to backlog_high has been sent in this connection: read on from there
        # rather than past this connection's in-flight rows again. Only when nothing is left
        # past it, look from the start once (a report whose ack could not be written, or one
        # copied back after damage, would wait below it).
        rows = self.up.outbox.pending(self.up.name, want, exclude=exclude, after=self.backlog_high)
        if len(rows) < want and self.backlog_high:
            rows = self.up.outbox.pending(self.up.name, want, exclude=exclude)
        for row in rows:
            self._publish(row)
            self.backlog_high = max(self.backlog_high, row.row_id)
        if self.rate:
            self.tokens -= len(rows)
        if len(rows) < want:
            self.backlog_empty_until = now + BACKLOG_RECHECK_S
            return IDLE_POLL_S
        return 0.0 if self.window - len(self.in_flight) >= max(1, self.window // 4) else IDLE_POLL_S

    # -- status -------------------------------------------------------------------------------

    def _status_body(self, state: str | None = None) -> bytes:
        with self.up._lock:
            payload = self.up._status_payload
        if payload is None or state is not None:
            payload = {"state": state or "online", "node": self.up.node, "site": self.up.site}
        body = dict(payload)
        body.setdefault("time", _iso_now())
        return json.dumps(body, separators=(",", ":")).encode()

    def _send_status(self) -> None:
        with self.up._lock:
            dirty, self.up._status_dirty = self.up._status_dirty, False
        if dirty and self.conn.connected:
            self.status_mid = self.conn.publish(
                self.up.status_topic, self._status_body(), qos=1, retain=True
            )

    def _goodbye(self) -> None:
        """Clean stop: a final retained status, the last PUBACKs, then DISCONNECT."""
        with self.up._lock:
            final = self.up._final_status
        if final is not None:
            body = json.dumps({"time": _iso_now(), **final}, separators=(",", ":")).encode()
        else:
            body = self._status_body("stopped")
        self.status_mid = self.conn.publish(self.up.status_topic, body, qos=1, retain=True)
        deadline = time.monotonic() + STOP_FLUSH_S
        while self.conn.connected and time.monotonic() < deadline:
            self._take_acks()
            if not self.in_flight and self.status_mid is None:
                break
            self.conn.pump(0.05)
