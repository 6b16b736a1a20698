"""A unit and fusion nodes on the bench for SAPIENT tests.

- :func:`unit_control`: the unit's control (modes, node id) without a running service;
- :func:`linked`: the real Outbox and a SapientUplink to a given port (test timescales);
- :class:`Events`: collects what a :class:`~gateway.sapient_node.FusionNode` (the stand-in,
  in this process) emits, and waits for it;
- :class:`RawPeer`: a fusion node by hand on a real socket, for hostile behaviour;
- :class:`StandIn`: ``ugs-gateway sapient-node`` as a process (killed and restarted by the
  end-to-end tests), its JSON lines collected.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from dsp.config import DspConfig
from gateway.control import UnitControl
from gateway.modes import ModesConfig
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from gateway.uplinks.sapient import SapientUplink
from gateway.uplinks.sapient_codec import FrameDecoder, encode_frame, parse_message, timestamp
from gateway.uplinks.sapient_config import SapientUplinkConfig

NODE, SITE = "ugs-s1", "rig"
MODES = {"profiles": {"sensitive": {"description": "more detections",
                                    "dsp": {"seismic": {"trigger_on": 2.4}}}}}  # fmt: skip


def unit_control(state_dir: Path, applied: list[DspConfig] | None = None) -> UnitControl:
    state_dir.mkdir(parents=True, exist_ok=True)
    return UnitControl(
        node=NODE,
        site=SITE,
        state_dir=state_dir,
        location={"lat": 49.0, "lon": -122.7},
        sensors=[("geo1", "seismic"), ("pir1", "pir"), ("mag1", "magnetometer")],
        dsp=DspConfig(),
        modes=ModesConfig.model_validate(MODES),
        mode="normal",
        apply_dsp=(applied.append if applied is not None else lambda _dsp: None),
        status=lambda _uplink: {"state": "ok"},
        snippets_dir=None,
        current_boot=1,
        current_seq=lambda: 0,
    )


def sapient_config(port: int, **extra: Any) -> SapientUplinkConfig:
    values: dict[str, Any] = {
        "name": "fusion",
        "protocol": "sapient",
        "host": "127.0.0.1",
        "port": port,
        "tls": False,
        "status_interval_s": 1.0,
        "ack_timeout": 2.0,
        "connect_timeout": 1.0,
        "reconnect_min": 0.1,
        "reconnect_max": 0.5,
        "confirm_s": 0.3,
        "drain_rate": 0,
    }
    values.update(extra)
    return SapientUplinkConfig.model_validate(values)


@contextmanager
def linked(
    tmp_path: Path, config: SapientUplinkConfig, unit: UnitControl | None = None
) -> Iterator[tuple[Outbox, SapientUplink]]:
    box = Outbox(
        tmp_path / "outbox.sqlite",
        OutboxConfig(min_free_bytes=0),
        node=NODE,
        site=SITE,
        boot=1,
        uplinks={config.name: config.share.accepts},
    )
    uplink = SapientUplink(config, box, unit or unit_control(tmp_path / "state"))
    uplink.start()
    try:
        yield box, uplink
    finally:
        uplink.stop()
        box.close()


class Events:
    """What a stand-in emitted, with waits on it (never sleeps)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, record: dict[str, Any]) -> None:
        record = dict(record, mono=time.monotonic())
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def of(self, kind: str, direction: str = "received") -> list[dict[str, Any]]:
        with self._cond:
            return [
                r
                for r in self.records
                if r.get("type") == kind and r.get("direction", "received") == direction
            ]

    def wait(self, predicate: Callable[[Events], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = predicate(self)
                if found:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    kinds = [r.get("type") for r in self.records[-20:]]
                    raise AssertionError(f"timed out waiting for {what}; last: {kinds}")
                self._cond.wait(min(left, 0.2))

    def invalid(self) -> list[dict[str, Any]]:
        with self._cond:
            return [r for r in self.records if r.get("valid") is False]


def report_ids(records: list[dict[str, Any]]) -> list[str]:
    """The unit's own report ids carried by detection reports (object_info "report")."""
    ids = []
    for record in records:
        for info in record["message"]["detection_report"].get("object_info", []):
            if info["type"] == "report":
                ids.append(info["value"])
    return ids


class RawPeer:
    """One accepted connection on a listening socket, spoken to frame by frame."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sock: socket.socket | None = None
        self.decoder = FrameDecoder()
        self.pending: list[SapientMessage] = []

    def accept(self, timeout: float = 5.0) -> RawPeer:
        self.server.settimeout(timeout)
        self.sock, _ = self.server.accept()
        self.sock.settimeout(timeout)
        if self.tls is not None:
            self.sock = self.tls.wrap_socket(self.sock, server_side=True)
        self.decoder = FrameDecoder()
        self.pending = []
        return self

    def receive(self, kind: str | None = None, timeout: float = 5.0) -> SapientMessage:
        """The next message (of ``kind``, skipping others)."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                message = self.pending.pop(0)
                if kind is None or message.WhichOneof("content") == kind:
                    return message
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the unit closed the connection")
            self.pending += [parse_message(p) for p in self.decoder.feed(data)]

    def send(self, message: SapientMessage | bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(message if isinstance(message, bytes) else encode_frame(message))

    def ack_registration(self) -> SapientMessage:
        registration = self.receive("registration")
        reply = SapientMessage()
        reply.timestamp.CopyFrom(timestamp(time.time()))
        reply.node_id = "0b7e9f5c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"
        reply.registration_ack.acceptance = True
        self.send(reply)
        return registration

    def close(self) -> None:
        for sock in (self.sock, self.server):
            if sock is not None:
                sock.close()


class StandIn:
    """``ugs-gateway sapient-node`` in its own process on a fixed port."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.events = Events()
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> StandIn:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "sapient-node", "--listen",
             f"127.0.0.1:{self.port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log_path.open("a"), text=True, env=dict(os.environ),
        )  # fmt: skip
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # listening once a connection is accepted
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"sapient-node exited: {self.log_path.read_text()}"
                    ) from None
                time.sleep(0.02)
        raise RuntimeError("sapient-node did not listen within 10 s")

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with contextlib.suppress(ValueError):
                self.events(json.loads(line))

    def command(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
