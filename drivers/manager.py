"""Start every configured sensor, one reader thread per bus, and report their health.

Modbus RTU devices that share a port share one :class:`~drivers.modbus.bus.ModbusBus` (one
thread, one lock), and so do units behind one Modbus TCP endpoint; every other endpoint and
every seismic digitizer gets its own thread. Drivers are looked up by kind in
:mod:`drivers.registry` and all have the same shape: ``Driver(config, sink, clock=...)``
(Modbus drivers also take ``bus=``), ``start()``, ``stop(timeout)``, ``status()``.

A driver retries its own device forever; a driver whose ``start()`` itself fails is retried
here with backoff, and the others carry on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from drivers.backoff import Backoff
from drivers.block import BlockSink
from drivers.config import SensorConfig
from drivers.modbus.bus import ModbusBus
from drivers.modbus.transport import link_for
from drivers.registry import driver_class

log = logging.getLogger(__name__)


class Driver(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def status(self) -> dict[str, Any]: ...


class SensorManager:
    """The sensors of one field unit."""

    def __init__(
        self,
        sensors: Sequence[SensorConfig],
        sink: BlockSink,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._configs = {s.name: s for s in sensors}
        self._drivers: dict[str, Driver] = {}
        self.buses: dict[str, ModbusBus] = {}
        for config in sensors:
            if not config.enabled:
                continue
            cls: Any = driver_class(config.kind)
            if config.transport.startswith("modbus-"):
                bus = self.buses.get(config.bus)
                if bus is None:
                    bus = self.buses[config.bus] = ModbusBus(link_for(config))
                self._drivers[config.name] = cls(config, sink, clock=clock, bus=bus)
            else:
                self._drivers[config.name] = cls(config, sink, clock=clock)
        self._failed: dict[str, str] = {}  # sensors whose start() raised, with the reason
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._retry_thread: threading.Thread | None = None

    @property
    def drivers(self) -> dict[str, Driver]:
        return dict(self._drivers)

    def start(self) -> None:
        """Start every enabled sensor; one that cannot start is retried in the background."""
        self._stop.clear()
        for name, driver in self._drivers.items():
            self._try_start(name, driver)
        with self._lock:
            pending = bool(self._failed)
        if pending:
            self._retry_thread = threading.Thread(
                target=self._retry, name="sensor-retry", daemon=True
            )
            self._retry_thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every sensor within ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._retry_thread is not None:
            self._retry_thread.join(max(0.0, deadline - time.monotonic()))
            self._retry_thread = None
        for name, driver in self._drivers.items():
            try:
                driver.stop(max(0.0, deadline - time.monotonic()))
            except Exception:
                log.exception("%s: stopping failed", name)

    def status(self) -> dict[str, dict[str, Any]]:
        """Health of every configured sensor by name (plain JSON types)."""
        report: dict[str, dict[str, Any]] = {}
        for name, config in self._configs.items():
            driver = self._drivers.get(name)
            if driver is None:
                report[name] = _placeholder(config, "stopped", "disabled in the configuration")
                continue
            with self._lock:
                failed = self._failed.get(name)
            if failed is not None:
                report[name] = _placeholder(config, "down", failed)
                continue
            try:
                report[name] = {"name": name, **driver.status()}
            except Exception as exc:
                log.exception("%s: status failed", name)
                report[name] = _placeholder(config, "down", f"status unavailable: {exc}")
        return report

    def _try_start(self, name: str, driver: Driver) -> bool:
        try:
            driver.start()
        except Exception as exc:
            log.warning("%s: cannot start: %s", name, exc)
            with self._lock:
                self._failed[name] = f"cannot start: {exc}"
            return False
        with self._lock:
            self._failed.pop(name, None)
        return True

    def _retry(self) -> None:
        backoff = Backoff(initial=1.0, maximum=30.0)
        while not self._stop.wait(backoff.next_delay()):
            with self._lock:
                names = list(self._failed)
            if not names:
                return
            for name in names:
                if self._try_start(name, self._drivers[name]):
                    log.info("%s: started", name)


def _placeholder(config: SensorConfig, state: str, error: str) -> dict[str, Any]:
    return {
        "name": config.name,
        "kind": config.kind,
        "transport": config.transport,
        "port": config.port,
        "state": state,
        "error": error,
    }
