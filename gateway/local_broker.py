"""A throw-away local mosquitto for the demo and the benchmarks.

Starts ``mosquitto -c CONF`` (foreground, no ``-d``) on a free loopback port with its own
temporary directory, waits until it accepts connections (by connecting, not by sleeping),
and ends it on :meth:`LocalBroker.stop` or when the ``with`` block ends. ``user root`` in the
config only matters when run as root: mosquitto would otherwise switch to the user
``mosquitto``, which cannot write into a private temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from gateway.errors import UgsError

HOST = "127.0.0.1"


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, or None when it is not installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class LocalBroker:
    """mosquitto on ``127.0.0.1:<free port>``; ``persistence`` keeps sessions across restarts."""

    def __init__(self, *, persistence: bool = False, binary: str | None = None) -> None:
        self.binary = binary or find_mosquitto()
        if self.binary is None:
            raise UgsError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.host = HOST
        self.port = _free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix="ugs-mosquitto-")
        self.dir = Path(self._tmp.name)
        self.log_path = self.dir / "mosquitto.log"
        conf = [
            "user root",
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.dir}/",
            "max_queued_messages 0",
            f"log_dest file {self.log_path}",
        ]
        self.conf_path = self.dir / "mosquitto.conf"
        self.conf_path.write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 10.0) -> LocalBroker:
        assert self.binary is not None
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                self.stop()
                raise UgsError(f"mosquitto exited with {self.proc.returncode}: {log.strip()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise UgsError(
                        f"mosquitto did not listen on {self.address} within {timeout} s"
                    ) from None
            time.sleep(0.01)  # polling the listener, bounded by the deadline

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> LocalBroker:
        return self.start() if self.proc is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
