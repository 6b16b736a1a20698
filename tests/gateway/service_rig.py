"""A field unit on the bench for service tests: emulators playing a scenario, a config that
points the gateway at them and at a broker, and a command post collecting what arrives."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.subscriber import Subscriber
from gateway.uplinks import mqtt_client as mq
from hil.playback import Playback, apply_calibration, scenario_playback
from hil.station import EmulatedStation, config_toml

STARTUP_S = 90.0
"""How long a service under test may take to be ready: it includes compiling the signal
kernels on a cold Numba cache."""


class CommandPost:
    """Subscribes to one node's topics; keeps every detection and status message."""

    def __init__(self, host: str, port: int, site: str, node: str) -> None:
        self.detections: list[dict[str, Any]] = []
        self.statuses: list[Any] = []
        self._cond = threading.Condition()
        settings = mq.LinkSettings(
            label="test-command-post",
            host=host,
            port=port,
            client_id=f"test-cp-{node}",
            clean_session=True,
            keepalive=10,
        )
        self.subscriber = Subscriber(settings, [f"ugs/v1/{site}/{node}/#"], self._emit)
        self._thread = threading.Thread(target=self.subscriber.run, daemon=True)
        self._thread.start()

    def _emit(self, message: dict[str, Any]) -> None:
        with self._cond:
            if "status" in message:
                self.statuses.append(message["status"])
            else:
                self.detections.append(message)
            self._cond.notify_all()

    def wait(self, predicate: Callable[[CommandPost], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self._cond.wait(left)

    def last_status(self) -> dict[str, Any] | None:
        with self._cond:
            for status in reversed(self.statuses):
                if isinstance(status, dict):
                    return status
        return None

    def close(self) -> None:
        self.subscriber.stop()
        self._thread.join(5.0)


class Bench:
    """Emulated sensors playing ``scenario`` plus the config of a gateway reading them."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        node: str,
        broker: tuple[str, int] | None,
        scenario: str = "demo",
        duration_s: float = 60.0,
        seed: int = 2,
        kinds: tuple[str, ...] = ("seismic", "pir", "magnetometer"),
        extra: str = "",
    ) -> None:
        self.node = node
        self.site = "bench"
        self.playback: Playback = scenario_playback(scenario, duration_s, seed)
        sources = {k: v for k, v in self.playback.sources.items() if k in kinds}
        self.station = EmulatedStation(
            sources=sources, seed=seed, kinds=kinds, runtime_dir=tmp_path / "hil"
        )
        self.station.start()
        self.started = time.time()
        sensors = self.station.sensors()
        apply_calibration(sensors, self.playback)
        text = config_toml(sensors, node_id=node, site=self.site, state_dir=str(tmp_path / "state"))
        if broker is not None:
            text += (
                f'\n[[uplinks]]\nname = "command-post"\nhost = "{broker[0]}"\n'
                f"port = {broker[1]}\ntls = false\n"
            )
        text += "\n[health]\ninterval_s = 2\n" + extra
        self.config = tmp_path / "gateway.toml"
        self.config.write_text(text)
        self.state_dir = tmp_path / "state"
        self.log_path = tmp_path / "run.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def run_gateway(self, **env: str) -> subprocess.Popen[bytes]:
        """``ugs-gateway run`` on this bench's config, with ``env`` added to the environment
        and its log in ``log_path``; ``close`` kills it if it is still running."""
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "run", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, **env),
            )
        return self.proc

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.station.stop()
