"""An in-process gateway for uplink tests: the real Outbox and Uplinks, fake detections."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gateway.detection_report import detection_fields
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from gateway.signing import Signer
from gateway.uplinks.config import UplinkConfig
from gateway.uplinks.mqtt import MqttUplink

NODE, SITE = "ugs-t0", "rig"

FAST = {
    "tls": False,
    "keepalive": 1,
    "connect_timeout": 1.5,
    "reconnect_min": 0.1,
    "reconnect_max": 0.5,
    "drain_rate": 0,
}


def uplink_config(name: str, port: int, host: str = "127.0.0.1", **extra: Any) -> UplinkConfig:
    """An uplink that notices trouble and redials fast (test timescales)."""
    return UplinkConfig.model_validate({"name": name, "host": host, "port": port, **FAST, **extra})


def fields(n: int, *, cls: str | None = None, conf: float = 0.9) -> dict[str, Any]:
    now = time.time()
    return detection_fields(
        cls or ("footstep", "vehicle", "unknown")[n % 3],
        conf,
        now - 1.0,
        now,
        ["geo1", "pir1"],
        features={"peak": 0.002, "cadence_hz": 1.8},
        loc={"lat": 49.0, "lon": -122.7},
    )


@contextmanager
def gateway(
    tmp_path: Path,
    configs: list[UplinkConfig],
    *,
    boot: int = 1,
    outbox: OutboxConfig | None = None,
    start: bool = True,
    signer: Signer | None = None,
) -> Iterator[tuple[Outbox, dict[str, MqttUplink]]]:
    box = Outbox(
        tmp_path / "outbox.sqlite",
        outbox or OutboxConfig(min_free_bytes=0),
        node=NODE,
        site=SITE,
        boot=boot,
        uplinks={c.name: c.share.accepts for c in configs},
    )
    uplinks = {c.name: MqttUplink(c, box, node=NODE, site=SITE, signer=signer) for c in configs}
    try:
        if start:
            for uplink in uplinks.values():
                uplink.start()
        yield box, uplinks
    finally:
        for uplink in uplinks.values():
            uplink.stop()
        box.close()


class Producer:
    """Stores a report every ``1/rate`` s in a thread; records ids and store times."""

    def __init__(self, outbox: Outbox, rate: float) -> None:
        self.outbox = outbox
        self.period = 1.0 / rate
        self.lock = threading.Lock()
        self.stored: list[dict[str, Any]] = []
        self.stored_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="producer", daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            report = self.outbox.store(fields(n))
            with self.lock:
                self.stored.append(report)
                self.stored_at[report["id"]] = time.monotonic()
            n += 1
            self._stop.wait(self.period)

    def start(self) -> Producer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def ids(self) -> set[str]:
        with self.lock:
            return {r["id"] for r in self.stored}

    def count(self) -> int:
        with self.lock:
            return len(self.stored)
