"""What systemd does with sd_notify: a bound AF_UNIX datagram socket that collects messages."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class Listener:
    """What systemd does: a bound datagram socket that collects notifications."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind_to)

    def recv(self, timeout: float = 2.0) -> list[str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        return data.decode("utf-8").split("\n")

    def drain(self) -> list[list[str]]:
        got = []
        self.sock.setblocking(False)
        try:
            while True:
                got.append(self.sock.recv(4096).decode("utf-8").split("\n"))
        except BlockingIOError:
            return got

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            Path(self.address).unlink(missing_ok=True)

    def wait_for(self, key: str, timeout: float = 10.0) -> list[str]:
        """Read datagrams until one carries ``key`` (e.g. ``"READY=1"``); return it."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.recv(left)
            except TimeoutError:
                break
            if key in message:
                return message
        raise AssertionError(f"no {key} within {timeout} s")


class Collector:
    """A listener that reads everything in the background, like systemd does (a queue left
    unread fills up, and then the service's messages are dropped)."""

    def __init__(self, address: str) -> None:
        self.listener = Listener(address)
        self.address = address
        self.messages: list[list[str]] = []
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.listener.recv(0.2)
            except (TimeoutError, OSError):
                continue
            with self._cond:
                self.messages.append(message)
                self._cond.notify_all()

    def count(self, key: str) -> int:
        with self._cond:
            return sum(1 for m in self.messages if key in m)

    def wait_for(self, key: str, timeout: float = 10.0, after: int = 0) -> list[str]:
        """The first message carrying ``key`` among those received after the first ``after``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages[after:]:
                    if key in message:
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key} within {timeout} s")
                self._cond.wait(left)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.listener.close()
