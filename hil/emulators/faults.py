"""Fault injection for the device emulators, scriptable from tests and from the command line.

A :class:`Faults` object is a thread-safe switchboard: a test (or an operator) arms faults on
it, and the emulator that holds it consults it as it runs. Each emulator applies the faults
that make sense for its device and documents how:

- every emulator: ``inject_garbage``, ``corrupt_next``, ``drop_next``, ``stall``/``resume``,
  ``silent``, ``unplug``/``replug``, ``reboot``;
- Modbus servers: ``modbus_exception``, ``reply_delay``.

"Next n" faults are counted down as the emulator consumes them (``take_*``), so a test arms
exactly the number of broken frames or replies it wants. :attr:`Faults.injected` counts what
was actually applied, which is what a test compares with the driver's ``status()``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

Listener = Callable[["Faults"], None]


class Faults:
    """Faults armed on one emulated device."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._garbage = bytearray()
        self._corrupt = 0
        self._drop = 0
        self._exceptions: list[tuple[int, int]] = []  # (code, remaining)
        self._stalled_until: float | None = None  # monotonic; inf = until resume()
        self._silent = False
        self._plugged = True
        self._reboots = 0
        self._reply_delay = 0.0
        self._listeners: list[Listener] = []
        self.injected: Counter[str] = Counter()
        """What the emulator actually applied, by fault name (for tests and logs)."""

    # -- arming (called by tests, the CLI) ---------------------------------------------------

    def inject_garbage(self, data: int | bytes) -> None:
        """Send ``data`` (or that many random bytes) on the line before the next frame/reply."""
        chunk = os.urandom(data) if isinstance(data, int) else bytes(data)
        with self._lock:
            self._garbage += chunk
        self._changed()

    def corrupt_next(self, n: int = 1) -> None:
        """Send the next ``n`` frames/replies with a wrong CRC."""
        with self._lock:
            self._corrupt += _count(n)
        self._changed()

    def drop_next(self, n: int = 1) -> None:
        """Lose the next ``n`` frames/replies on the wire (the device carries on)."""
        with self._lock:
            self._drop += _count(n)
        self._changed()

    def stall(self, seconds: float | None = None) -> None:
        """Freeze the device for ``seconds`` (or until :meth:`resume`): it neither samples nor
        talks, and carries on afterwards as if no time had passed."""
        until = float("inf") if seconds is None else time.monotonic() + max(0.0, seconds)
        with self._lock:
            self._stalled_until = until
        self._changed()

    def resume(self) -> None:
        """End a stall early."""
        with self._lock:
            self._stalled_until = None
        self._changed()

    def silent(self, on: bool = True) -> None:
        """Mute the device's output (it keeps sampling, so what it said meanwhile is lost)."""
        with self._lock:
            self._silent = on
        self._changed()

    def unplug(self) -> None:
        """The port vanishes, as when a USB adapter is pulled out."""
        with self._lock:
            self._plugged = False
        self._changed()

    def replug(self) -> None:
        """The port comes back (on a new device node, behind the same stable path)."""
        with self._lock:
            self._plugged = True
        self._changed()

    def reboot(self) -> None:
        """Restart the device: counters and sequence numbers start again from zero."""
        with self._lock:
            self._reboots += 1
        self._changed()

    def modbus_exception(self, code: int, n: int = 1) -> None:
        """Answer the next ``n`` requests with Modbus exception ``code`` (1-255)."""
        if not 1 <= code <= 255:
            raise ValueError("a Modbus exception code is 1-255")
        with self._lock:
            self._exceptions.append((code, _count(n)))
        self._changed()

    def reply_delay(self, seconds: float) -> None:
        """Answer every request this much later (0 to stop)."""
        with self._lock:
            self._reply_delay = max(0.0, float(seconds))
        self._changed()

    def clear(self) -> None:
        """Disarm everything (plugged, not stalled, not silent, no pending faults)."""
        with self._lock:
            self._garbage.clear()
            self._corrupt = self._drop = self._reboots = 0
            self._exceptions.clear()
            self._stalled_until = None
            self._silent = False
            self._plugged = True
            self._reply_delay = 0.0
        self._changed()

    # -- observing (called by emulators) -----------------------------------------------------

    def on_change(self, listener: Listener) -> None:
        """Call ``listener(faults)`` after every change (from the thread that made it)."""
        with self._lock:
            self._listeners.append(listener)

    def take_garbage(self) -> bytes:
        """The garbage armed so far, once."""
        with self._lock:
            data = bytes(self._garbage)
            self._garbage.clear()
        if data:
            self._applied("garbage_bytes", len(data))
        return data

    def take_corrupt(self) -> bool:
        """True if this frame/reply is to be corrupted (counts one down)."""
        return self._take("_corrupt", "corrupted")

    def take_drop(self) -> bool:
        """True if this frame/reply is to be dropped (counts one down)."""
        return self._take("_drop", "dropped")

    def take_reboot(self) -> bool:
        """True once per :meth:`reboot`."""
        return self._take("_reboots", "reboots")

    def take_exception(self) -> int | None:
        """The Modbus exception code to answer this request with, if one is armed."""
        with self._lock:
            if not self._exceptions:
                return None
            code, left = self._exceptions[0]
            if left <= 1:
                self._exceptions.pop(0)
            else:
                self._exceptions[0] = (code, left - 1)
        self._applied("exceptions")
        return code

    @property
    def stalled(self) -> bool:
        with self._lock:
            if self._stalled_until is None:
                return False
            if time.monotonic() < self._stalled_until:
                return True
            self._stalled_until = None
            return False

    @property
    def is_silent(self) -> bool:
        with self._lock:
            return self._silent

    @property
    def plugged(self) -> bool:
        with self._lock:
            return self._plugged

    @property
    def delay(self) -> float:
        """Seconds to hold each reply back."""
        with self._lock:
            return self._reply_delay

    # -- internals ---------------------------------------------------------------------------

    def _take(self, attr: str, name: str) -> bool:
        with self._lock:
            left: int = getattr(self, attr)
            if left <= 0:
                return False
            setattr(self, attr, left - 1)
        self._applied(name)
        return True

    def _applied(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.injected[name] += n

    def _changed(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self)
            except Exception:
                # A listener belongs to an emulator; a bug there must not break the test
                # or operator that armed the fault.
                log.exception("fault listener failed")


def _count(n: int) -> int:
    if n < 0:
        raise ValueError("a fault count cannot be negative")
    return int(n)
