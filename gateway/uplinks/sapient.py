"""A SAPIENT uplink: the unit as an ASM of one fusion node (BSI Flex 335 v2.0 over TCP).

One :class:`SapientUplink` per ``[[uplinks]]`` entry with ``protocol = "sapient"``, with its
own thread, TCP (or TLS) connection and outbox cursor, like an MQTT uplink.

Each connection: register (:func:`~gateway.uplinks.sapient_messages.registration`), wait up
to ``ack_timeout`` for the registration ack, then a status report at once and every
``status_interval_s`` after the last one (sooner when the unit's state changes), an alert
when a sensor fails or recovers, one detection report per report the share filter accepts
(live ones first, the backlog at ``drain_rate``), and the answer to each task. After any
drop: redial with backoff and register again. A clean stop sends a ``GOODBYE`` status.

Delivery: SAPIENT acknowledges no detection report. A report counts as delivered (and is
acknowledged in the outbox for this uplink) once the fusion node's TCP has acknowledged its
bytes (the socket's send queue has emptied after it was written) and the connection stayed up
``confirm_s`` after it was sent; reports within that window when a link drops are sent again
on the next connection, with the same ``report_id`` and ``object_id``. At most
``max_inflight`` reports wait for that at once.

A hostile or broken peer: bytes that are not a frame of a ``SapientMessage`` get an ``error``
back; a length prefix over 1 MiB, a frame left unfinished for :data:`FRAME_STALL_S`, or a
peer that stops reading for :data:`WRITE_STALL_S` end the connection (logged, redialled);
tasks beyond :data:`TASK_RATE` per second are rejected. Memory stays bounded: one frame in,
at most :data:`OUT_HIGH` bytes out (reading pauses above it).
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from drivers.backoff import Backoff
from gateway.clock import ClockWatch
from gateway.detection_report import format_time
from gateway.outbox.store import Outbox
from gateway.uplinks import Unit
from gateway.uplinks.link_state import LinkState
from gateway.uplinks.live_feed import LiveFeed
from gateway.uplinks.sapient_config import SapientUplinkConfig
from gateway.uplinks.sapient_session import (
    ALERT_QUEUE,
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    ERROR_PAUSE_S,
    REFUSED,
    STOPPED,
    TLS_FAILED,
    UNREACHABLE,
    LinkFailedError,
    Session,
)

log = logging.getLogger(__name__)


class SapientUplink(LinkState):
    """One fusion node: a thread between the outbox and a SAPIENT TCP connection.

    Thread-safe API, as for every uplink: :meth:`start`, :meth:`stop`,
    :meth:`publish_status`, :meth:`status`, :attr:`state`.
    """

    _log = log

    def __init__(self, config: SapientUplinkConfig, outbox: Outbox, unit: Unit) -> None:
        if config.name not in outbox.uplinks:
            raise ValueError(f"the outbox was not opened with uplink {config.name!r}")
        self.config = config
        self.name = config.name
        self.outbox = outbox
        self.unit = unit
        self.where = f"{config.host}:{config.port}"
        self._clock_ok = ClockWatch()
        self._feed = LiveFeed(self.name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._health: dict[str, Any] | None = None
        self._health_new = False
        self._alerts: deque[tuple[str, bool, str]] = deque(maxlen=ALERT_QUEUE)
        self._sensor_problems: dict[str, str] | None = None
        self._reporting = True
        self._init_link_state(STOPPED)
        self._registered_in: float | None = None
        self._counters = {
            "sent": 0,
            "acked": 0,
            "in_flight": 0,
            "withheld": 0,
            "reconnects": 0,
            "registrations": 0,
            "status_sent": 0,
            "alerts_sent": 0,
            "tasks_accepted": 0,
            "tasks_rejected": 0,
            "errors_sent": 0,
            "errors_received": 0,
        }
        outbox.add_listener(self._feed.on_stored)

    # -- thread-safe API ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"uplink {self.name} already started")
        self._thread = threading.Thread(target=self._run, name=f"uplink-{self.name}", daemon=True)
        self._set_state(CONNECTING)
        self._thread.start()

    def stop(self, timeout: float = 10.0, final_status: Mapping[str, Any] | None = None) -> None:
        """Send a ``GOODBYE`` status (when registered), flush, disconnect, end the thread."""
        if final_status is not None:
            with self._lock:
                self._health = dict(final_status)
        self._stop.set()
        self._feed.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("uplink %s: thread did not stop within %g s", self.name, timeout)
                return
        self._feed.close()

    def publish_status(self, payload: Mapping[str, Any]) -> None:
        """The service's latest health: a status report goes out at once when it changes
        what the fusion node is told, and an alert for each sensor that failed or recovered."""
        problems = {
            key.removeprefix("sensor "): str(why)
            for key, why in (payload.get("problems") or {}).items()
            if key.startswith("sensor ")
        }
        with self._lock:
            self._health = dict(payload)
            self._health_new = True
            before = self._sensor_problems
            self._sensor_problems = problems
            if before is not None:
                for sensor in sorted(set(before) | set(problems)):
                    if (sensor in problems) != (sensor in before):
                        failed = sensor in problems
                        why = problems[sensor] if failed else "delivering again"
                        self._alerts.append((sensor, failed, why))
        self._feed.wake()

    def status(self, outbox_stats: Mapping[str, Any] | None = None) -> dict[str, Any]:
        stats = outbox_stats if outbox_stats is not None else self.outbox.stats()
        mine = (stats.get("uplinks") or {}).get(self.name, {})
        with self._lock:
            since = self._connected_since
            return {
                "name": self.name,
                "protocol": "sapient",
                "fusion_node": self.where,
                "tls": self.config.tls.enabled,
                "node_id": self.unit.sapient_id,
                "state": self._state,
                "state_since": format_time(self._state_since),
                "last_error": self._last_error,
                "connected_since": format_time(since) if since is not None else None,
                "registered_in_s": self._registered_in,
                "reporting": self._reporting,
                **self._counters,
                "pending": mine.get("pending"),
                "dropped": mine.get("dropped"),
            }

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counters[key] += n

    def _failed(self, failure: LinkFailedError) -> None:
        self._link_down(
            failure.state, failure.message, serious=failure.state in (TLS_FAILED, REFUSED)
        )

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff(self.config.reconnect_min, self.config.reconnect_max)
        while not self._stop.is_set():
            try:
                delay = self._one_connection(backoff)
            except Exception:
                log.exception(
                    "uplink %s: unexpected error; retrying in %g s", self.name, ERROR_PAUSE_S
                )
                self._set_state(DISCONNECTED, "internal error (see the log)")
                delay = ERROR_PAUSE_S
            if delay > 0:
                self._stop.wait(delay)
        self._set_state(STOPPED)

    def _dial(self) -> socket.socket:
        cfg = self.config
        try:
            sock = socket.create_connection((cfg.host, cfg.port), timeout=cfg.connect_timeout)
        except socket.gaierror as exc:
            raise LinkFailedError(
                UNREACHABLE, f"cannot resolve '{cfg.host}': {exc.strerror or exc}"
            ) from None
        except ConnectionRefusedError:
            raise LinkFailedError(
                UNREACHABLE, f"{self.where} refused the connection (is the fusion node up?)"
            ) from None
        except TimeoutError:
            raise LinkFailedError(
                UNREACHABLE,
                f"no answer from {self.where} within "
                f"{cfg.connect_timeout:g} s (network, firewall, host, port)",
            ) from None
        except OSError as exc:
            raise LinkFailedError(
                UNREACHABLE, f"cannot connect to {self.where}: {exc.strerror or exc}"
            ) from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if cfg.tls.enabled:
            from gateway.uplinks.mqtt_client import LinkError, tls_context

            try:
                context = tls_context(cfg.tls)
                sock = context.wrap_socket(
                    sock, server_hostname=cfg.host if cfg.tls.verify else None
                )
            except LinkError as exc:
                sock.close()
                raise LinkFailedError(TLS_FAILED, exc.message) from None
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise LinkFailedError(
                    TLS_FAILED, f"TLS handshake with {self.where} failed: {exc}"
                ) from None
        sock.setblocking(False)
        return sock

    def _one_connection(self, backoff: Backoff) -> float:
        if self._state != CONNECTING:
            self._set_state(CONNECTING)
        try:
            sock = self._dial()
        except LinkFailedError as failure:
            self._failed(failure)
            return backoff.next_delay()
        with self._lock:
            self._connected_since = time.time()
        session = Session(self, sock)
        try:
            session.serve()
        except LinkFailedError as failure:
            session.close()
            self._failed(failure)
            return failure.delay if failure.delay is not None else backoff.next_delay()
        session.close()
        if session.registered_once:
            backoff.reset()
        return 0.0

    def _registered(self, seconds: float) -> None:
        with self._lock:
            self._registered_in = round(seconds, 3)
            if self._was_up_before():
                self._counters["reconnects"] += 1
            self._counters["registrations"] += 1
        self._link_up(
            CONNECTED,
            f"registered with {self.where}",
            f"registered with fusion node {self.where} as {self.unit.sapient_id} "
            f"(ack in {seconds:.3f} s)",
        )
