"""One reader thread and one lock per Modbus wire, shared by the devices on it.

An RS-485 line carries one request at a time, so the devices on it are polled in turn by one
thread, always the one whose poll is due first. A dead device must not starve the others: its
driver backs it off (probed rarely until it answers again), and the time any single request
may hold the wire is capped by what the other devices' FIFOs can absorb. A port that vanishes
is reopened with jittered backoff while the devices report it down.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Protocol

from drivers.backoff import Backoff
from drivers.errors import DeviceError
from drivers.modbus.transport import ModbusLink

log = logging.getLogger(__name__)

# All devices silent this long on an open link: reopen it (a wedged USB adapter, a
# half-open TCP connection after a cable was pulled).
REOPEN_AFTER_SILENCE_S = 5.0


class BusDevice(Protocol):
    """What the bus needs from a device driver."""

    name: str

    def due_at(self) -> float:
        """Monotonic time of the device's next poll."""
        ...

    def slack_s(self) -> float:
        """How late its next poll may come without losing samples (inf: no matter)."""
        ...

    def service(self, link: ModbusLink, budget_s: float) -> bool:
        """Do the due poll; ``budget_s`` caps how long one request may hold the wire.
        Returns True if the device answered at all. Never raises."""
        ...

    def link_down(self, reason: str) -> None:
        """The wire is unusable for now (port gone, connection refused)."""
        ...


class ModbusBus:
    """A link plus the thread that polls every device attached to it."""

    def __init__(self, link: ModbusLink, *, reopen: Backoff | None = None) -> None:
        self.link = link
        self.lock = threading.Lock()
        """Held for every request on the wire."""
        self._reopen = reopen or Backoff(initial=0.1, maximum=5.0)
        self._devices: list[BusDevice] = []
        self._members = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_answer = time.monotonic()
        self.reopens = 0
        """Times the link was opened again after the first time."""
        self.cpu_s = 0.0
        """CPU time of the reader thread so far."""

    @property
    def name(self) -> str:
        return self.link.describe

    def attach(self, device: BusDevice) -> None:
        """Start polling ``device`` (starting the thread with the first one)."""
        with self._members:
            if device not in self._devices:
                self._devices.append(device)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._run, name=f"modbus {self.name}", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def detach(self, device: BusDevice, timeout: float = 5.0) -> None:
        """Stop polling ``device``; the last one out stops the thread and closes the link."""
        with self._members:
            if device in self._devices:
                self._devices.remove(device)
            thread = self._thread if not self._devices else None
            if thread is not None:
                self._stop.set()
                self._thread = None
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    # -- the reader thread ----------------------------------------------------------------

    def _run(self) -> None:
        cpu0 = time.thread_time()
        while not self._stop.is_set():
            try:
                self._step()
                self.cpu_s = time.thread_time() - cpu0
            except Exception:
                # A bug must not kill the reader of a whole bus: log it and carry on.
                log.exception("modbus bus %s: unexpected error", self.name)
                self._stop.wait(0.5)
        with self.lock:
            self.link.close()

    def _step(self) -> None:
        with self._members:
            devices = list(self._devices)
        if not devices:
            self._wake.wait(1.0)
            self._wake.clear()
            return
        if not self.link.is_open and not self._open(devices):
            return
        device = min(devices, key=lambda d: d.due_at())
        delay = device.due_at() - time.monotonic()
        if delay > 0:
            # Wake early for attach/detach/stop; re-evaluate who is due after any wake.
            if self._wake.wait(delay):
                self._wake.clear()
            return
        budget = min((d.slack_s() for d in devices if d is not device), default=math.inf) / 2
        with self.lock:
            answered = device.service(self.link, budget)
        now = time.monotonic()
        if answered:
            self._last_answer = now
        elif now - self._last_answer > REOPEN_AFTER_SILENCE_S and self.link.is_open:
            log.warning(
                "%s: no device has answered for %.0f s, reopening",
                self.name,
                now - self._last_answer,
            )
            with self.lock:
                self.link.close()

    def _open(self, devices: list[BusDevice]) -> bool:
        try:
            with self.lock:
                self.link.open()
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DeviceError) else f"cannot open {self.name}: {exc}"
            for device in devices:
                device.link_down(reason)
            self._stop.wait(self._reopen.next_delay())
            return False
        if self.link.opens > 1:
            self.reopens += 1
            log.info("%s: reopened", self.name)
        self._reopen.reset()
        self._last_answer = time.monotonic()
        return True
