"""One connection of a SAPIENT uplink: registration, then reports, status and tasks.

:class:`Session` runs in the uplink's thread (see :mod:`gateway.uplinks.sapient` for what the
link does and the delivery rule); it raises :class:`LinkFailedError` with a state and a
message when the connection is over.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import select
import socket
import ssl
import termios
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gateway.errors import ProtocolError
from gateway.outbox.store import OutboxRow
from gateway.uplinks import sapient_messages as sm
from gateway.uplinks.sapient_codec import FrameDecoder, encode_frame, parse_message
from gateway.uplinks.sapient_tasks import REGISTER, START, STATUS, STOP, decide, task_id_problem

if TYPE_CHECKING:
    from gateway.uplinks.sapient import SapientUplink

log = logging.getLogger("gateway.uplinks.sapient")

CONNECTING = "connecting"
REGISTERING = "registering"
CONNECTED = "connected"
UNREACHABLE = "unreachable"
TLS_FAILED = "tls-failed"
REFUSED = "refused"
STALLED = "stalled"
DISCONNECTED = "disconnected"
STOPPED = "stopped"

READ_BYTES = 65536
OUT_HIGH = 256 * 1024
"""Bytes waiting to be written above which nothing more is read from the peer."""
FRAME_STALL_S = 30.0
WRITE_STALL_S = 60.0
TASK_RATE = 10.0
TASK_BURST = 20.0
IDLE_POLL_S = 0.5
STOP_FLUSH_S = 2.0
ERROR_PAUSE_S = 5.0
ALERT_QUEUE = 100
LOG_REPEAT_S = 10.0


class LinkFailedError(Exception):
    def __init__(self, state: str, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.state, self.message, self.delay = state, message, delay


def _outq(sock: socket.socket) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (Linux TIOCOUTQ)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
    except OSError:
        return 1
    return int(buf[0])


class Session:
    """One TCP connection: registration, then reports, status and tasks until it drops."""

    def __init__(self, up: SapientUplink, sock: socket.socket) -> None:
        self.up = up
        self.sock = sock
        self.cfg = up.config
        self.decoder = FrameDecoder()
        self.out = bytearray()
        self.registered = False
        self.registered_once = False
        self.register_sent = 0.0
        self.next_status = 0.0
        self.last_status_key: tuple[Any, ...] | None = None
        self.in_flight: dict[int, list[float]] = {}  # row_id -> [sent_at (monotonic), tcp_acked]
        self.backlog_high = 0
        self.backlog_empty_until = 0.0
        self.tokens = max(1.0, min(float(self.cfg.max_inflight), self.cfg.drain_rate or 1.0))
        self.refill_at = time.monotonic()
        self.task_tokens = TASK_BURST
        self.task_refill = time.monotonic()
        self.task_flood_logged = 0.0
        self.flooded = 0
        self.frame_started: float | None = None
        self.write_blocked_since: float | None = None
        self.bad_logged = 0.0

    # -- framing ------------------------------------------------------------------------------

    def send(self, message: Any) -> None:
        self.out += encode_frame(message)
        self.flush()

    def flush(self) -> None:
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                if self.write_blocked_since is None:
                    self.write_blocked_since = time.monotonic()
                return
            except OSError as exc:
                raise LinkFailedError(
                    DISCONNECTED, f"connection to {self.up.where} lost ({exc})"
                ) from None
            del self.out[:sent]
            self.write_blocked_since = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.up._feed.link_down()
        with self.up._lock:
            self.up._counters["in_flight"] = 0

    # -- main loop ----------------------------------------------------------------------------

    def serve(self) -> None:
        up = self.up
        self.register()
        while not up._stop.is_set():
            now = time.monotonic()
            if not self.registered and now - self.register_sent > self.cfg.ack_timeout:
                raise LinkFailedError(
                    STALLED,
                    f"{up.where} sent no registration ack within {self.cfg.ack_timeout:g} s",
                )
            if self.frame_started is not None and now - self.frame_started > FRAME_STALL_S:
                raise LinkFailedError(
                    STALLED,
                    f"{up.where} left a frame unfinished for {FRAME_STALL_S:g} s "
                    f"({self.decoder.pending} bytes of it)",
                )
            if (
                self.write_blocked_since is not None
                and now - self.write_blocked_since > WRITE_STALL_S
            ):
                raise LinkFailedError(
                    STALLED, f"{up.where} has read nothing of ours for {WRITE_STALL_S:g} s"
                )
            wait = IDLE_POLL_S
            if self.registered:
                wait = min(wait, self.periodic(now))
            self.confirm(now)
            wait = min(wait, 0.1) if self.in_flight else wait
            self.poll(wait)
        if self.registered:
            self.goodbye()

    def poll(self, timeout: float) -> None:
        poller = select.poll()
        events = 0
        if len(self.out) < OUT_HIGH:
            events |= select.POLLIN
        if self.out:
            events |= select.POLLOUT
        pending = getattr(self.sock, "pending", None)
        if pending is not None and pending() > 0:
            timeout = 0.0
        poller.register(self.sock, events or select.POLLERR)
        poller.register(self.up._feed.wake_r, select.POLLIN)
        ready = dict(poller.poll(max(0.0, timeout) * 1000))
        if self.up._feed.wake_r.fileno() in ready:
            self.up._feed.drain_wake()
        sock_events = ready.get(self.sock.fileno(), 0)
        if sock_events & (select.POLLIN | select.POLLERR | select.POLLHUP) or (
            pending is not None and pending() > 0 and len(self.out) < OUT_HIGH
        ):
            self.read()
        if self.out:
            self.flush()

    def read(self) -> None:
        try:
            data = self.sock.recv(READ_BYTES)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            raise LinkFailedError(
                DISCONNECTED, f"connection to {self.up.where} lost ({exc})"
            ) from None
        if not data:
            midway = f" in the middle of a frame ({self.decoder.pending} bytes of it)"
            raise LinkFailedError(
                DISCONNECTED,
                f"{self.up.where} closed the connection{midway if self.decoder.pending else ''}",
            )
        try:
            for payload in self.decoder.feed(data):
                self.received(payload)
        except ProtocolError as exc:  # a length no peer of ours sends: out of step for good
            raise LinkFailedError(DISCONNECTED, f"{self.up.where}: {exc}; redialling") from None
        self.frame_started = (
            (self.frame_started or time.monotonic()) if self.decoder.pending else None
        )

    # -- what the fusion node sends -------------------------------------------------------------

    def received(self, payload: bytes) -> None:
        up = self.up
        try:
            message = parse_message(payload)
        except ProtocolError as exc:
            self.bad(payload, str(exc))
            return
        kind = message.WhichOneof("content")
        if message.destination_id and message.destination_id != up.unit.sapient_id:
            self.bad(
                payload, f"{kind} addressed to node {message.destination_id!r}, not to this one"
            )
        elif kind == "registration_ack":
            self.registration_ack(message)
        elif kind == "task":
            self.task(message, payload)
        elif kind == "alert_ack":
            log.debug("uplink %s: alert %s acknowledged", up.name, message.alert_ack.alert_id)
        elif kind == "error":
            up._count("errors_received")
            log.warning(
                "uplink %s: %s reports an error in what the unit sent: %s",
                up.name,
                up.where,
                "; ".join(message.error.error_message) or "(no reason given)",
            )
        else:
            self.bad(
                payload, f"a fusion node does not send {kind or 'an empty message'} to a sensor"
            )

    def bad(self, payload: bytes, why: str) -> None:
        up = self.up
        now = time.monotonic()
        if now - self.bad_logged >= LOG_REPEAT_S:
            self.bad_logged = now
            log.warning("uplink %s: from %s: %s; answered with an error", up.name, up.where, why)
        up._count("errors_sent")
        self.send(sm.error(up.unit, now=time.time(), packet=payload, problems=[why]))

    def registration_ack(self, message: Any) -> None:
        ack = message.registration_ack
        if not ack.acceptance:
            reasons = "; ".join(ack.ack_response_reason) or "no reason given"
            raise LinkFailedError(
                REFUSED,
                f"{self.up.where} rejected the registration: {reasons}; check the fusion "
                "node's configuration for this unit",
                delay=self.cfg.reconnect_max,
            )
        if self.registered:
            return
        self.registered = self.registered_once = True
        self.up._registered(time.monotonic() - self.register_sent)
        self.send_status(force_new=True)

    def task(self, message: Any, payload: bytes) -> None:
        up = self.up
        task = message.task
        problem = task_id_problem(task)
        if problem is not None:
            self.bad(payload, problem)
            return
        now = time.monotonic()
        self.task_tokens = min(TASK_BURST, self.task_tokens + (now - self.task_refill) * TASK_RATE)
        self.task_refill = now
        if self.task_tokens < 1.0:
            self.flooded += 1
            if now - self.task_flood_logged >= LOG_REPEAT_S:
                self.task_flood_logged = now
                log.warning(
                    "uplink %s: %s sends tasks faster than %g/s; rejecting the excess (%d so far)",
                    up.name,
                    up.where,
                    TASK_RATE,
                    self.flooded,
                )
            self.ack(task.task_id, False, [f"too many tasks: at most {TASK_RATE:g} per second"])
            return
        self.task_tokens -= 1.0
        outcome = decide(task, self.cfg.tasking, up.unit, by=f"SAPIENT uplink {up.name}")
        log.info(
            "uplink %s: task %s (%s) from %s: %s%s",
            up.name,
            task.task_id,
            outcome.summary,
            up.where,
            "accepted" if outcome.accepted else "rejected: ",
            "" if outcome.accepted else "; ".join(outcome.reasons),
        )
        self.ack(task.task_id, outcome.accepted, outcome.reasons)
        for effect in outcome.effects:
            if effect == STOP:
                with up._lock:
                    up._reporting = False
            elif effect == START:
                with up._lock:
                    up._reporting = True
            elif effect == STATUS:
                self.send_status(force_new=True)
            elif effect == REGISTER:
                self.register()

    def ack(self, task_id: str, accepted: bool, reasons: list[str]) -> None:
        self.up._count("tasks_accepted" if accepted else "tasks_rejected")
        self.send(
            sm.task_ack(
                self.up.unit, now=time.time(), task_id=task_id, accepted=accepted, reasons=reasons
            )
        )

    # -- what the unit sends ----------------------------------------------------------------------

    def register(self) -> None:
        self.registered = False
        self.register_sent = time.monotonic()
        if self.up._state != REGISTERING:
            self.up._set_state(REGISTERING)
        self.send(sm.registration(self.up.unit, self.cfg, time.time()))

    def status_message(self, health: Mapping[str, Any] | None, *, goodbye: bool = False) -> Any:
        up = self.up
        with up._lock:
            reporting = up._reporting
        return sm.status_report(
            up.unit,
            self.cfg,
            health,
            now=time.time(),
            new=True,
            goodbye=goodbye,
            clock_synced=up._clock_ok() is True,
            reporting=reporting,
        )

    def send_status(self, *, force_new: bool = False, goodbye: bool = False) -> None:
        """A status report now: INFO_NEW when what it says differs from the last one."""
        up = self.up
        with up._lock:
            health = up._health
            up._health_new = False
        message = self.status_message(health, goodbye=goodbye)
        key = _status_key(message)
        if key == self.last_status_key and not force_new:
            message.status_report.info = sm.Status.INFO_UNCHANGED
        self.last_status_key = key
        self.send(message)
        up._count("status_sent")
        self.next_status = time.monotonic() + self.cfg.status_interval_s

    def periodic(self, now: float) -> float:
        """Status, alerts and reports that are due; returns how long the loop may sleep."""
        up = self.up
        with up._lock:
            health_new = up._health_new
            alerts = list(up._alerts)
            up._alerts.clear()
        for sensor, failed, why in alerts:
            self.send(sm.alert(up.unit, now=time.time(), sensor=sensor, failed=failed, why=why,
                               location=sm.reports_location(up.unit, self.cfg)))  # fmt: skip
            up._count("alerts_sent")
        if health_new:
            with up._lock:
                up._health_new = False
                health = up._health
            if _status_key(self.status_message(health)) != self.last_status_key:
                self.send_status()
        if now >= self.next_status:
            self.send_status()
        if len(self.out) >= OUT_HIGH:
            return min(IDLE_POLL_S, max(0.0, self.next_status - now))
        self.send_live()
        wait = self.send_backlog(now)
        return min(wait, max(0.0, self.next_status - now))

    def report(self, row: OutboxRow) -> None:
        up = self.up
        with up._lock:
            reporting = up._reporting
        if not reporting:
            up.outbox.ack(up.name, [row.row_id])
            up._count("withheld")
            return
        report = self.cfg.share.apply(row.report)
        try:
            mode = up.unit.mode_at(float(_event_end(report)))
            message = sm.detection_report(report, up.unit, self.cfg, now=time.time(), mode=mode)
        except (KeyError, TypeError, ValueError, ProtocolError) as exc:
            log.error("uplink %s: report %s cannot be sent (%s); dropped for this link",
                      up.name, row.report.get("id"), exc)  # fmt: skip
            up.outbox.ack(up.name, [row.row_id])
            return
        self.send(message)
        self.in_flight[row.row_id] = [time.monotonic(), 0.0]
        up._count("sent")

    def send_live(self) -> None:
        up = self.up
        limit = self.cfg.max_inflight + 16
        while len(self.in_flight) < limit and len(self.out) < OUT_HIGH:
            row = up._feed.pop()
            if row is None:
                return
            if row.row_id <= self.backlog_high or row.row_id in self.in_flight:
                continue
            self.report(row)

    def send_backlog(self, now: float) -> float:
        up = self.up
        if up._feed.take_overflow():
            self.backlog_empty_until = 0.0
        if now < self.backlog_empty_until:
            return min(IDLE_POLL_S, self.backlog_empty_until - now)
        free = self.cfg.max_inflight - len(self.in_flight)
        if free <= 0:
            return IDLE_POLL_S
        want = free
        rate = self.cfg.drain_rate
        if rate:
            burst = max(1.0, min(float(self.cfg.max_inflight), rate))
            self.tokens = min(burst, self.tokens + (now - self.refill_at) * rate)
            self.refill_at = now
            if self.tokens < 1.0:
                return min(IDLE_POLL_S, (1.0 - self.tokens) / rate)
            want = min(want, int(self.tokens))
        exclude = set(self.in_flight)
        rows = up.outbox.pending(up.name, want, exclude=exclude, after=self.backlog_high)
        if len(rows) < want and self.backlog_high:
            rows = up.outbox.pending(up.name, want, exclude=exclude)
        for row in rows:
            self.report(row)
            self.backlog_high = max(self.backlog_high, row.row_id)
        if rate:
            self.tokens -= len(rows)
        if len(rows) < want:
            self.backlog_empty_until = now + 1.0
            return IDLE_POLL_S
        return 0.0

    # -- delivery -------------------------------------------------------------------------------

    def confirm(self, now: float) -> None:
        """Acknowledge in the outbox the reports the fusion node's TCP has had for confirm_s."""
        if not self.in_flight:
            self._update()
            return
        if not self.out and _outq(self.sock) == 0:
            for entry in self.in_flight.values():
                if not entry[1]:
                    entry[1] = now
        done = [
            row_id
            for row_id, (sent_at, tcp_acked) in self.in_flight.items()
            if tcp_acked and now - sent_at >= self.cfg.confirm_s
        ]
        if done:
            for row_id in done:
                del self.in_flight[row_id]
            self.up.outbox.ack(self.up.name, done)
            self.up._count("acked", len(done))
        self._update()

    def _update(self) -> None:
        with self.up._lock:
            self.up._counters["in_flight"] = len(self.in_flight)

    def goodbye(self) -> None:
        """Clean stop: a GOODBYE status, what is still queued, the last confirmations."""
        with contextlib.suppress(LinkFailedError):
            self.send_status(force_new=True, goodbye=True)
            deadline = time.monotonic() + max(STOP_FLUSH_S, min(self.cfg.confirm_s + 0.5, 5.0))
            while time.monotonic() < deadline:
                self.flush()
                self.confirm(time.monotonic())
                if not self.out and not self.in_flight:
                    break
                time.sleep(0.05)
        log.info("uplink %s: said goodbye to %s", self.up.name, self.up.where)


def _event_end(report: Mapping[str, Any]) -> float:
    from gateway.detection_report import parse_time

    return parse_time(str(report["t1"]))


def _status_key(message: Any) -> tuple[Any, ...]:
    """What a status says, less the figures that move all the time (the outbox's depth)."""
    status = message.status_report
    return (
        status.system,
        status.mode,
        tuple(s.status_value for s in status.status if not s.status_value.startswith("outbox")),
    )
