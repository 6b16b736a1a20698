"""One MQTT connection driven by its owner's thread (paho-mqtt 2.2, callback API v2).

The uplinks and ``ugs-gateway subscribe`` both need what paho's own loop thread hides: *why*
a connection failed (refused port, untrusted certificate, wrong password, silent broker), so
a technician gets one clear log line per state change. So this module drives paho through
its external-loop API (``connect_async`` + ``reconnect`` + ``loop_read/loop_write/loop_misc``
around our own ``poll``), in the owner's thread, and classifies every failure into a
:class:`LinkError` with a state and a message that says what to check.

Each :class:`MqttConnection` is one attempt with a fresh paho client: TLS certificates and
the password file are read again for every attempt, so renewed certificates or a corrected
password are picked up without a restart. The broker-side session persists anyway
(``clean_session=False`` with a stable client id).

Keep-alive covers the half-open link: paho sends PINGREQ after ``keepalive`` s of silence and
drops the connection when nothing comes back within another ``keepalive`` (see
:meth:`MqttConnection.pump`); a broker that accepts TCP but never answers CONNECT is dropped
after ``connect_timeout``.

On the socket, Nagle is off and what arrives is ACKed at once (``TCP_QUICKACK``): with Nagle
on at both ends, a full in-flight window waited each time for the delayed-ACK timer before
the broker let its PUBACKs go. Publishes made inside :meth:`MqttConnection.burst` are
corked into full segments instead.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from gateway.uplinks.config import TlsConfig
from gateway.uplinks.paho_client import PahoClient

# Link states shown in status() and logs. See docs/uplinks.md for what each one means.
CONNECTING = "connecting"
CONNECTED = "connected"
UNREACHABLE = "unreachable"
TLS_FAILED = "tls-failed"
AUTH_FAILED = "auth-failed"
REFUSED = "refused"
STALLED = "stalled"
DISCONNECTED = "disconnected"
STOPPED = "stopped"
CLOSED = "closed"  # of one MqttConnection: it is over (see its .failure)

FAILURE_STATES = (UNREACHABLE, TLS_FAILED, AUTH_FAILED, REFUSED, STALLED, DISCONNECTED)

# CONNACK / MQTT 5 reason codes (paho maps MQTT 3.1.1 return codes 4 and 5 onto 134 and 135).
_AUTH_CODES = {134, 135}
_KEEPALIVE_TIMEOUT = 141
# Linux only (elsewhere sockets keep their defaults).
_TCP_CORK: int | None = getattr(socket, "TCP_CORK", None)
_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class LinkError(Exception):
    """Why a connection attempt failed or a connection ended: a state and a message."""

    def __init__(self, state: str, message: str) -> None:
        super().__init__(message)
        self.state = state
        self.message = message


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class LinkSettings:
    """Everything needed to open one connection; ``label`` prefixes log messages."""

    label: str
    host: str
    port: int
    client_id: str
    clean_session: bool = False
    keepalive: int = 60
    connect_timeout: float = 10.0
    tls: TlsConfig | None = None
    username: str | None = None
    password_file: Path | None = None
    will: Will | None = None
    # paho's own cap on unacknowledged QoS>0 messages; 0 = none, for owners that bound
    # their window themselves (paho rescans every queued message on each PUBACK when capped).
    max_inflight: int = 20

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def read_password(path: Path) -> str:
    """The password: the file's first line, without its line ending."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LinkError(
            AUTH_FAILED,
            f"cannot read password_file {path}: {reason} (check the file and its permissions)",
        ) from None
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise LinkError(AUTH_FAILED, f"password_file {path} is empty (put the password on line 1)")
    return lines[0]


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """A client context from the configured files, read now."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    step, path = "tls.ca_file", tls.ca_file
    try:
        if tls.ca_file is not None:
            ctx.load_verify_locations(cafile=str(tls.ca_file))
        if tls.cert_file is not None:
            step, path = "tls.cert_file/key_file", tls.cert_file
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LinkError(
            TLS_FAILED,
            f"cannot load {step} {path}: {reason} "
            "(check the file exists, is readable and holds PEM data; a key must match its cert)",
        ) from None
    return ctx


class _LastError(logging.Handler):
    """Keeps paho's last error line (it logs why a socket died, then reports a bare code)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.text: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.text = record.getMessage()


def _connect_error(settings: LinkSettings, exc: BaseException) -> LinkError:
    where = settings.where
    tls = settings.tls
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = f"tls.ca_file ({tls.ca_file})" if tls and tls.ca_file else "the system CA store"
        return LinkError(
            TLS_FAILED,
            f"{where} presented a certificate that was not accepted: {exc.verify_message}; "
            f"check that {ca} holds the CA that signed the broker's certificate and that the "
            f"certificate names '{settings.host}'",
        )
    if isinstance(exc, ssl.SSLError):
        return LinkError(
            TLS_FAILED,
            f"TLS handshake with {where} failed: {exc.reason or exc}; check that the port is the "
            "broker's TLS listener and, if it requires client certificates, tls.cert_file/key_file",
        )
    if isinstance(exc, socket.gaierror):
        return LinkError(
            UNREACHABLE,
            f"cannot resolve '{settings.host}': {exc.strerror or exc} (check host and DNS)",
        )
    if isinstance(exc, ConnectionRefusedError):
        return LinkError(
            UNREACHABLE,
            f"{where} refused the connection (check host and port, and that the broker runs)",
        )
    if isinstance(exc, TimeoutError):
        if "handshake" in str(exc):
            return LinkError(
                STALLED,
                f"{where} accepted the connection but did not finish the TLS handshake within "
                f"{settings.connect_timeout:g} s (broker hung or overloaded?)",
            )
        return LinkError(
            UNREACHABLE,
            f"no answer from {where} within {settings.connect_timeout:g} s "
            "(check the network link, a firewall, host and port)",
        )
    if isinstance(exc, ConnectionError) and tls is not None and tls.enabled:
        return LinkError(
            TLS_FAILED,
            f"{where} closed the connection during the TLS handshake ({exc}); check that the "
            "port is a TLS listener and, if it requires client certificates, "
            "tls.cert_file/key_file",
        )
    if isinstance(exc, OSError):
        return LinkError(
            UNREACHABLE,
            f"cannot connect to {where}: {exc.strerror or exc} (check the network link)",
        )
    return LinkError(UNREACHABLE, f"cannot connect to {where}: {exc}")


MessageHandler = Callable[[str, bytes, bool], None]
"""``(topic, payload, retained)``; runs in the owner's thread before the PUBACK is sent."""


class MqttConnection:
    """One connection attempt and, when it succeeds, the live connection.

    Not thread-safe: every method is called from the owner's thread. Typical use::

        conn = MqttConnection(settings)
        conn.open()                     # raises LinkError (unreachable, tls-failed, ...)
        conn.wait_connected()           # raises LinkError (auth-failed, stalled, ...)
        mid = conn.publish(topic, payload)
        conn.pump(0.5, wake_socket)     # network I/O, keep-alive; then conn.take_acks()
        if conn.failure: ...            # the connection ended, and why
    """

    def __init__(self, settings: LinkSettings, *, on_message: MessageHandler | None = None) -> None:
        self.settings = settings
        self.state = CONNECTING
        self.failure: LinkError | None = None
        self._closing = False
        self._batching = False  # inside burst()
        self._corked = False
        self.session_present = False
        self.connected_at: float | None = None
        self._on_message = on_message
        self._acks: list[int] = []
        self._last_error = _LastError()
        self._client = self._build()

    def _build(self) -> paho.Client:
        s = self.settings
        client = PahoClient(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=s.clean_session,
            protocol=paho.MQTTv311,
        )
        # A private logger (not in the logging registry) that only keeps paho's error lines.
        paho_log = logging.Logger(f"paho.{s.label}", logging.ERROR)
        paho_log.addHandler(self._last_error)
        paho_log.propagate = False
        client.enable_logger(paho_log)
        client.connect_timeout = s.connect_timeout
        client.max_inflight_messages_set(s.max_inflight)
        client.max_queued_messages_set(0)
        if s.tls is not None and s.tls.enabled:
            client.tls_set_context(tls_context(s.tls))
        if s.username is not None:
            password = read_password(s.password_file) if s.password_file else None
            client.username_pw_set(s.username, password)
        if s.will is not None:
            w = s.will
            client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retain)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        return client

    # -- paho callbacks (run inside loop_read, in the owner's thread) -----------------------

    def _handle_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            code = reason.value
            where = self.settings.where
            if code in _AUTH_CODES:
                user = self.settings.username
                who = f"user '{user}'" if user else "an anonymous client"
                self.failure = LinkError(
                    AUTH_FAILED,
                    f"{where} refused {who}: {reason}; check username and password_file "
                    "(and the broker's ACL)",
                )
            else:
                self.failure = LinkError(REFUSED, f"{where} refused the connection: {reason}")
            return
        self.state = CONNECTED
        self.session_present = bool(flags.session_present)
        self.connected_at = time.monotonic()

    def _handle_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        was, self.state = self.state, CLOSED
        if self.failure is not None or self._closing:
            return
        where = self.settings.where
        detail = self._last_error.text or "closed by the broker or the network"
        tls = self.settings.tls
        if reason.value == _KEEPALIVE_TIMEOUT and was == CONNECTING:
            self.failure = LinkError(
                STALLED,
                f"{where} accepted the connection but sent no CONNACK within "
                f"{self.settings.keepalive} s (broker hung or overloaded?)",
            )
        elif reason.value == _KEEPALIVE_TIMEOUT:
            self.failure = LinkError(
                STALLED,
                f"{where} stopped answering (nothing within keepalive "
                f"{self.settings.keepalive} s); redialling",
            )
        elif was == CONNECTING and tls is not None and tls.enabled and "SSL" in detail.upper():
            self.failure = LinkError(
                TLS_FAILED,
                f"{where} ended the TLS session before accepting the connection ({detail}); if "
                "it requires client certificates, check tls.cert_file/key_file",
            )
        elif was == CONNECTING:
            hint = "" if tls is not None and tls.enabled else " (a TLS port? then drop tls = false)"
            self.failure = LinkError(
                DISCONNECTED, f"{where} closed the connection before accepting it{hint}"
            )
        else:
            self.failure = LinkError(DISCONNECTED, f"connection to {where} lost ({detail})")

    def _handle_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any
    ) -> None:
        self._acks.append(mid)

    def _handle_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(msg.topic, bytes(msg.payload), bool(msg.retain))

    # -- owner API ---------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.failure is None and self.state in (CONNECTING, CONNECTED)

    @property
    def connected(self) -> bool:
        return self.failure is None and self.state == CONNECTED

    def open(self) -> None:
        """TCP connect, TLS handshake and CONNECT; blocks up to ``connect_timeout``."""
        try:
            self._client.reconnect()
        except Exception as exc:  # every cause is classified for the log
            self.failure = _connect_error(self.settings, exc)
            self._close_socket()
            raise self.failure from None
        # paho leaves Nagle on: a message would wait for the ACK of the one before it (up to
        # the peer's delayed-ACK time). Off, a report leaves at once; burst() batches.
        self._set_tcp(socket.TCP_NODELAY, 1)

    def wait_connected(
        self, wake: socket.socket | None = None, cancelled: Callable[[], bool] | None = None
    ) -> None:
        """Pump until CONNACK; raises :class:`LinkError` on refusal, silence or cancel.

        ``wake`` (drained here) lets another thread interrupt the wait to ask ``cancelled``.
        """
        deadline = time.monotonic() + self.settings.connect_timeout
        while self.state == CONNECTING and self.failure is None:
            left = deadline - time.monotonic()
            if cancelled is not None and cancelled():
                self.failure = LinkError(STOPPED, "stopped while connecting")
            elif left <= 0:
                self.failure = LinkError(
                    STALLED,
                    f"{self.settings.where} accepted the connection but sent no CONNACK within "
                    f"{self.settings.connect_timeout:g} s (broker hung or overloaded?)",
                )
            elif self.pump(min(left, 0.5), wake) and wake is not None:
                drain(wake)
        if self.failure is not None:
            self._close_socket()
            raise self.failure

    def pump(self, timeout: float, wake: socket.socket | None = None) -> bool:
        """Wait up to ``timeout`` s for network or ``wake`` activity and process it.

        Returns True when ``wake`` became readable (the caller drains it). Keep-alive is
        checked on every call, so callers should not pass long timeouts (<= 1 s is plenty).
        """
        sock = self._client.socket()
        if sock is None or not self.alive:
            if wake is not None:
                return wait_readable(wake, timeout)
            time.sleep(timeout)
            return False
        pending = getattr(sock, "pending", None)
        if pending is not None and pending() > 0:
            timeout = 0.0  # TLS already decrypted bytes that poll cannot see
        poller = select.poll()
        events = select.POLLIN | (select.POLLOUT if self._client.want_write() else 0)
        poller.register(sock, events)
        if wake is not None:
            poller.register(wake, select.POLLIN)
        ready = dict(poller.poll(max(0.0, timeout) * 1000))
        woken = wake is not None and wake.fileno() in ready
        sock_events = ready.get(sock.fileno(), 0)
        if sock_events & (select.POLLIN | select.POLLERR | select.POLLHUP) or (
            pending is not None and pending() > 0
        ):
            self._client.loop_read()
            # ACK what came in at once rather than after the delayed-ACK timer: a broker with
            # Nagle on (mosquitto's default) holds further PUBACKs until that ACK arrives,
            # which would stall a full in-flight window for up to 40 ms each time.
            self._set_tcp(_TCP_QUICKACK, 1)
        if self._client.socket() is not None and self._client.want_write():
            self._client.loop_write()
        if self._client.socket() is not None:
            self._client.loop_misc()
        return woken

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queue a message; returns its mid (its PUBACK shows up in :meth:`take_acks`)."""
        if self._batching and not self._corked:
            self._corked = self._set_tcp(_TCP_CORK, 1)
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise LinkError(DISCONNECTED, f"publish failed: {paho.error_string(info.rc)}")
        return int(info.mid)

    @contextlib.contextmanager
    def burst(self) -> Iterator[None]:
        """Messages published inside the block leave together: from the first one on, the
        socket is corked (``TCP_CORK``) until the block ends, so a batch of reports takes a
        few full TCP segments instead of one small segment each (a kernel round trip less per
        message on both ends, fewer packets on a thin link). Nothing waits beyond the block."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            if self._corked:
                self._corked = False
                self._set_tcp(_TCP_CORK, 0)

    def _set_tcp(self, option: int | None, value: int) -> bool:
        sock = self._client.socket()
        if option is None or not isinstance(sock, socket.socket):  # also an SSLSocket
            return False
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError:  # closed meanwhile, or not a TCP socket
            return False
        return True

    def subscribe(self, topics: list[str], qos: int = 1) -> None:
        result, _ = self._client.subscribe([(t, qos) for t in topics])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise LinkError(DISCONNECTED, f"subscribe failed: {paho.error_string(result)}")

    def take_acks(self) -> list[int]:
        """The mids acknowledged (PUBACK) since the last call."""
        acks, self._acks = self._acks, []
        return acks

    def close(self, flush_timeout: float = 0.0) -> None:
        """End the connection: a DISCONNECT first when connected (the broker then keeps the
        last will to itself), else just the socket."""
        if self.state == CONNECTED and self.failure is None:
            self._closing = True
            self._client.disconnect()
            deadline = time.monotonic() + flush_timeout
            while self._client.socket() is not None and self._client.want_write():
                if time.monotonic() > deadline:
                    break
                self._client.loop_write()
        self._closing = True
        self._close_socket()

    def _close_socket(self) -> None:
        # The paho client is discarded after this; only the file descriptor needs closing.
        self.state = CLOSED
        sock = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def wait_readable(sock: socket.socket, timeout: float) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(max(0.0, timeout) * 1000))


def drain(sock: socket.socket) -> None:
    """Empty a non-blocking wake-up socket."""
    with contextlib.suppress(OSError):
        while sock.recv(4096):
            pass


def connect(
    settings: LinkSettings,
    *,
    on_message: MessageHandler | None = None,
    wake: socket.socket | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> MqttConnection:
    """Open a connection and wait for the broker to accept it; raises :class:`LinkError`.

    The TCP connect and TLS handshake block up to ``connect_timeout``; the wait for CONNACK
    can be cut short through ``wake`` + ``cancelled`` (state ``stopped``).
    """
    try:
        conn = MqttConnection(settings, on_message=on_message)
    except ValueError as exc:  # paho rejects bad arguments (e.g. an over-long client id)
        raise LinkError(REFUSED, f"cannot set up the connection: {exc}") from None
    conn.open()
    conn.wait_connected(wake, cancelled)
    return conn
