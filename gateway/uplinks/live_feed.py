"""The live reports of one uplink, of either protocol, and the socket that wakes its thread.

While the link is up, each report stored for the uplink is handed to its thread at once (the
outbox listener runs in the storing thread, so it only appends and wakes); the thread sends
live reports before the backlog. While the link is down nothing is queued: the reports wait
in the outbox and go out as backlog. A full queue is not an error either: the rows beyond it
are flagged as overflow, and the thread then reads them from the outbox.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque

from gateway.outbox.store import OutboxRow

LIVE_QUEUE = 1024
"""Live rows waiting for the thread; beyond that they wait as backlog."""


class LiveFeed:
    def __init__(self, uplink: str, capacity: int = LIVE_QUEUE) -> None:
        self.uplink = uplink
        self.capacity = capacity
        self.wake_r, self._wake_w = socket.socketpair()
        """``wake_r`` turns readable when there is something new for the thread."""
        self.wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._lock = threading.Lock()  # held for a few assignments only, never across I/O
        self._rows: deque[OutboxRow] = deque()
        self._overflow = False
        self._up = False

    def on_stored(self, row: OutboxRow, targets: tuple[str, ...]) -> None:
        """An outbox listener (runs in the storing thread: keep it short)."""
        if self.uplink not in targets:
            return
        with self._lock:
            if not self._up:
                return  # it waits in the outbox as backlog
            if len(self._rows) < self.capacity:
                self._rows.append(row)
            else:
                self._overflow = True
        self.wake()

    def link_up(self) -> None:
        """The link is up: reports stored from now on are queued (older ones are backlog)."""
        with self._lock:
            self._up = True
            self._rows.clear()

    def link_down(self) -> None:
        """The link is down: nothing is queued; what was is in the outbox."""
        with self._lock:
            self._up = False
            self._rows.clear()

    def pop(self) -> OutboxRow | None:
        """The oldest live row, or None."""
        with self._lock:
            return self._rows.popleft() if self._rows else None

    def take_overflow(self) -> bool:
        """Whether rows were left out of the queue since the last call (read the outbox)."""
        with self._lock:
            overflow, self._overflow = self._overflow, False
            return overflow

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already awake) or closed (stopped)
            self._wake_w.send(b"\0")

    def drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self.wake_r.recv(4096):
                pass

    def close(self) -> None:
        self.wake_r.close()
        self._wake_w.close()
