"""A throw-away local mosquitto for the demo and the benchmarks, and how to launch one.

:func:`start_mosquitto` starts ``mosquitto -c CONF`` (foreground, no ``-d``) and returns once
every listener accepts connections (by connecting, not by sleeping); :func:`stop_process`
ends it. The test suite's broker (``tests/broker.py``) launches through them too.
:class:`LocalBroker` is one on a free loopback port with its own temporary directory, ended on
:meth:`LocalBroker.stop` or when the ``with`` block ends. ``user root`` in the
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
from collections.abc import Sequence
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


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _log_text(log_path: Path | None) -> str:
    try:
        return log_path.read_text(errors="replace").strip() if log_path else ""
    except FileNotFoundError:
        return ""


def start_mosquitto(
    conf_path: Path,
    ports: Sequence[int],
    *,
    binary: str | None = None,
    timeout: float = 10.0,
    log_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Run ``mosquitto -c conf_path`` and return once each of ``ports`` accepts connections.

    Raises :class:`UgsError` (with mosquitto's log) when it exits or does not listen in time;
    the process is ended then.
    """
    binary = binary or find_mosquitto()
    if binary is None:
        raise UgsError("mosquitto is not installed (Debian: apt-get install mosquitto)")
    proc = subprocess.Popen(
        [binary, "-c", str(conf_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            raise UgsError(f"mosquitto exited with {proc.returncode}: {_log_text(log_path)}")
        try:
            with socket.create_connection((HOST, pending[0]), timeout=0.5):
                pending.pop(0)
                continue
        except OSError:
            if time.monotonic() > deadline:
                stop_process(proc)
                raise UgsError(
                    f"mosquitto did not listen on {HOST}:{pending[0]} within {timeout} s: "
                    f"{_log_text(log_path)}"
                ) from None
        time.sleep(0.01)  # polling the listener, bounded by the deadline
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class LocalBroker:
    """mosquitto on ``127.0.0.1:<free port>``; ``persistence`` keeps sessions across restarts."""

    def __init__(self, *, persistence: bool = False, binary: str | None = None) -> None:
        self.binary = binary or find_mosquitto()
        if self.binary is None:
            raise UgsError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.host = HOST
        self.port = free_port()
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
        try:
            self.proc = start_mosquitto(
                self.conf_path,
                [self.port],
                binary=self.binary,
                timeout=timeout,
                log_path=self.log_path,
            )
        except UgsError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
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
