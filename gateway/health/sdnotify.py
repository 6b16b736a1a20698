"""Tell systemd how the service is doing (``sd_notify``) and feed its watchdog honestly.

``Notifier`` sends the sd_notify protocol's newline-separated ``KEY=value`` datagrams to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace).
Without that variable (a shell, a test, the demo) every call is a no-op, so the service code
calls it unconditionally::

    notifier = Notifier()
    notifier.ready("3 sensors open, 2 uplinks connecting")   # READY=1 + STATUS=
    notifier.status("geo1 degraded: no reply from /dev/ttyUSB0")
    notifier.reloading()  # on SIGHUP: RELOADING=1 + MONOTONIC_USEC=; then ready() again
    notifier.stopping()   # on SIGTERM

``Watchdog`` sends ``WATCHDOG=1`` only while the service's threads make progress: it takes
one ``Probe`` per thread and stops pinging when any of them is stale, so systemd restarts a
service with a wedged reader or pipeline (``WatchdogSec=`` in the unit)::

    watchdog = Watchdog(notifier, [
        Probe("pipeline", lambda: pipeline.blocks_processed, stale_after=10),
        Probe("reader geo1", lambda: reader.last_loop_time, kind="timestamp"),
    ])
    watchdog.start()   # pings every WATCHDOG_USEC/2 while all probes progress
    ...
    watchdog.stop()

A probe measures whether a *thread* is alive, not whether its device is: a reader that keeps
retrying an unplugged sensor is making progress (its loop turns) and must not get the whole
service restarted; report the sensor as degraded instead. A probe may return None while its
thread is idle by design (a sensor disabled by a reload); it is then not judged.

Sending never raises: a health channel that crashes the service it reports on would be worse
than a lost message. Failures are logged once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)


def _socket_address(value: str) -> str | bytes:
    # "@name" is the abstract namespace: a leading NUL byte on the wire.
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    return value


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """The watchdog timeout systemd expects pings within, in seconds, or None.

    None when the unit has no ``WatchdogSec=``, or when ``$WATCHDOG_PID`` names another
    process (the variables were inherited by a child and are not meant for it).
    """
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    try:
        interval = int(usec) / 1e6
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number of microseconds", usec)
        return None
    if interval <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            log.warning("ignoring WATCHDOG_PID=%r: not a process id", owner)
            return None
    return interval


def _one_line(text: str) -> str:
    # A newline would start a new KEY=value assignment in the datagram.
    return " ".join(text.split())


class Notifier:
    """An sd_notify client bound to one socket (``$NOTIFY_SOCKET`` by default)."""

    def __init__(self, socket_path: str | None = None, env: Mapping[str, str] | None = None):
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET") if socket_path is None else socket_path
        self._address = _socket_address(path) if path else None
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False
        self.dropped = 0
        """Messages not sent because the manager's queue was full."""
        self.watchdog_interval = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens."""
        return self._address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments in one datagram; True if it was sent."""
        if self._address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    # A manager that does not read its queue must not stall the thread that
                    # reports (the health thread, the watchdog): drop the message instead.
                    self._socket.setblocking(False)
                self._socket.sendto(payload, self._address)
            except BlockingIOError:
                self.dropped += 1
                return False
            except OSError as exc:
                if not self._failed:
                    log.warning("cannot notify the service manager: %s", exc)
                    self._failed = True
                return False
        if self._failed:
            log.info("notifying the service manager works again")
            self._failed = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service is up (sensors open); also ends a reload."""
        fields = ["READY=1"]
        if status is not None:
            fields.append(f"STATUS={_one_line(status)}")
        return self.send(*fields)

    def status(self, text: str) -> bool:
        """A one-line summary shown by ``systemctl status``."""
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """Ping the watchdog; only ``Watchdog`` should call this, when progress is real."""
        return self.send("WATCHDOG=1")

    def reloading(self, status: str | None = None) -> bool:
        """A reload began; call ``ready()`` when it is done."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields = ["RELOADING=1", f"MONOTONIC_USEC={usec}"]
        if status is not None:
            fields.append(f"STATUS={_one_line(status)}")
        return self.send(*fields)

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown began (stores the detections in flight before exiting)."""
        fields = ["STOPPING=1"]
        if status is not None:
            fields.append(f"STATUS={_one_line(status)}")
        return self.send(*fields)

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time to start or stop (a cold Numba cache compiles for a while)."""
        return self.send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1e6))}")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def notify(*assignments: str) -> bool:
    """One-shot ``sd_notify``: ``notify("READY=1", "STATUS=up")``; no-op without systemd."""
    with Notifier() as notifier:
        return notifier.send(*assignments)


ProbeKind = Literal["counter", "timestamp"]


@dataclass
class Probe:
    """One thread's sign of life.

    ``kind="counter"``: ``read`` returns a number that changes whenever the thread does work
    (blocks processed, loop turns); stale when unchanged for ``stale_after`` seconds.
    ``kind="timestamp"``: ``read`` returns the ``time.monotonic()`` of its last progress;
    stale when older than ``stale_after`` seconds.
    """

    name: str
    read: Callable[[], float | None]
    stale_after: float = 10.0
    kind: ProbeKind = "counter"

    def __post_init__(self) -> None:
        if self.stale_after <= 0:
            raise ValueError(f"probe {self.name}: stale_after must be positive")
        if self.kind not in ("counter", "timestamp"):
            raise ValueError(f"probe {self.name}: kind must be 'counter' or 'timestamp'")


@dataclass
class _Seen:
    value: float | None
    changed_at: float


# Without a watchdog (not under systemd, or no WatchdogSec=) probes are still checked, so a
# wedged thread is logged; this often.
DEFAULT_CHECK_PERIOD_S = 5.0


class Watchdog:
    """Pings systemd's watchdog at half its interval while every probe shows progress."""

    def __init__(
        self,
        notifier: Notifier,
        probes: Sequence[Probe] = (),
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.interval = notifier.watchdog_interval if interval is None else interval
        self.period = self.interval / 2 if self.interval else DEFAULT_CHECK_PERIOD_S
        self._clock = clock
        self._lock = threading.Lock()
        self._probes: dict[str, Probe] = {}
        self._seen: dict[str, _Seen] = {}
        self._wedged: dict[str, float] = {}
        self._pings = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for probe in probes:
            self.add(probe)

    def add(self, probe: Probe) -> None:
        """Watch one more thread (or replace the probe of that name, e.g. after a reload)."""
        with self._lock:
            self._probes[probe.name] = probe
            self._seen.pop(probe.name, None)

    def remove(self, name: str) -> None:
        with self._lock:
            self._probes.pop(name, None)
            self._seen.pop(name, None)
            self._wedged.pop(name, None)

    def _age(self, probe: Probe, now: float) -> float | None:
        """Seconds since the probe last showed progress, or None when it is not judged."""
        try:
            value = probe.read()
        except Exception:
            # A probe that fails is a bug, but the thread may be fine: count it as no news.
            log.exception("watchdog probe %s failed", probe.name)
            seen = self._seen.get(probe.name)
            return None if seen is None else now - seen.changed_at
        seen = self._seen.get(probe.name)
        if value is None:
            # Idle by design: when it resumes it gets a full stale_after of grace.
            self._seen[probe.name] = _Seen(None, now)
            return None
        if probe.kind == "timestamp":
            self._seen[probe.name] = _Seen(value, now)
            return max(0.0, now - value)
        if seen is None or seen.value != value:
            self._seen[probe.name] = _Seen(value, now)
            return 0.0
        return now - seen.changed_at

    def check(self) -> dict[str, float]:
        """Probes with no progress for longer than their ``stale_after``: name -> age (s)."""
        now = self._clock()
        with self._lock:
            wedged = {}
            for probe in self._probes.values():
                age = self._age(probe, now)
                if age is not None and age > probe.stale_after:
                    wedged[probe.name] = round(age, 3)
            for name in wedged.keys() - self._wedged.keys():
                log.error(
                    "watchdog: no progress from %s for %.1f s; not pinging systemd, which "
                    "restarts the service when WatchdogSec= runs out",
                    name,
                    wedged[name],
                )
            for name in self._wedged.keys() - wedged.keys():
                if name in self._probes:
                    log.warning("watchdog: %s makes progress again", name)
            self._wedged = wedged
            return dict(wedged)

    def tick(self) -> bool:
        """Check the probes and ping if all progress; True if a ping was sent."""
        if self.check():
            return False
        if not self.interval:
            return False
        sent = self.notifier.watchdog()
        if sent:
            with self._lock:
                self._pings += 1
        return sent

    def status(self) -> dict[str, Any]:
        """For the health report: whether pinging, and which threads are wedged."""
        with self._lock:
            return {
                "interval_s": self.interval,
                "probes": sorted(self._probes),
                "wedged": dict(self._wedged),
                "pings": self._pings,
            }

    def _run(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self.period):
                return

    def start(self) -> None:
        """Start the background thread; pings immediately, then every ``period`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
