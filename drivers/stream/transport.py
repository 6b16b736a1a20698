"""A serial byte stream opened from a URL that survives the device vanishing and returning.

``port`` is anything ``serial.serial_for_url`` opens: a device path (prefer the stable
``/dev/serial/by-id/usb-...`` names over ``/dev/ttyUSB0``, which can change at replug), a pty,
``socket://HOST:PORT`` or ``loop://``.

A USB adapter that is pulled out shows up in one of three ways, and all three end in
:class:`PortLostError`: the read fails (EIO), the port reports data but reads nothing, or the
port stays silent while its path has disappeared or now leads to another device node.
:meth:`SerialTransport.connect` then reopens the same path with jittered backoff until the
device is back, without restarting anything.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import serial

from drivers.backoff import Backoff
from drivers.errors import DeviceError

log = logging.getLogger(__name__)

Opener = Callable[..., Any]


class PortLostError(DeviceError):
    """An open port stopped working (unplugged, hung up, or its path now leads elsewhere)."""


class SerialTransport:
    """One serial port, read in short polls, reopened after it is lost."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        parity: str = "N",
        stopbits: int = 1,
        poll_s: float = 0.1,
        backoff: Backoff | None = None,
        opener: Opener = serial.serial_for_url,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.poll_s = poll_s
        self.backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self._opener = opener
        self._serial: Any = None
        self._opened_node: str | None = None  # where the path led when we opened it
        self._lock = threading.Lock()
        self.opens = 0
        self.reconnects = 0
        """Successful opens after the port had been lost or failed to open."""
        self.open_failures = 0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    @property
    def is_path(self) -> bool:
        """True when ``port`` names a filesystem node rather than a URL."""
        return "://" not in self.port

    @property
    def counts_waiting(self) -> bool:
        """Whether the open port says how many bytes wait (a tty does; ``socket://`` only
        says whether any do), so that a reader may let bytes gather between reads."""
        return isinstance(self._serial, serial.serialposix.Serial)

    def open(self) -> None:
        """Open the port once; DeviceError says what a technician should check."""
        try:
            handle = self._opener(
                self.port,
                baudrate=self.baudrate,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=self.poll_s,
                write_timeout=self.poll_s,
            )
        except (OSError, ValueError) as exc:
            self.open_failures += 1
            self.last_error = self._explain_open_failure(exc)
            raise DeviceError(self.last_error) from None
        with self._lock:
            self._serial = handle
        self._opened_node = self._node()
        if self.opens:
            self.reconnects += 1
        self.opens += 1
        self.backoff.reset()
        log.info("opened %s", self.port)

    def connect(self, stop: threading.Event) -> bool:
        """Open the port, retrying with backoff until it opens or ``stop`` is set."""
        while not stop.is_set():
            if self.is_open:
                return True
            try:
                self.open()
                return True
            except DeviceError as exc:
                delay = self.backoff.next_delay()
                if self.backoff.attempts == 1 or self.backoff.attempts % 20 == 0:
                    log.warning("%s; retrying", exc)
                stop.wait(delay)
        return False

    def read(self) -> bytes:
        """The bytes that arrive within ``poll_s`` (``b""`` if none); PortLostError if it failed."""
        handle = self._serial
        if handle is None:
            raise PortLostError(f"{self.port} is not open")
        try:
            first = handle.read(1)
            if not first:
                self._check_still_there()
                return b""
            waiting = handle.in_waiting
            return bytes(first + handle.read(waiting)) if waiting else bytes(first)
        except OSError as exc:  # SerialException is an OSError
            self._lost(f"{self.port} stopped working ({_reason(exc)}): unplugged or powered off?")

    def write(self, data: bytes) -> None:
        handle = self._serial
        if handle is None:
            raise PortLostError(f"{self.port} is not open")
        try:
            handle.write(data)
        except OSError as exc:
            self._lost(f"{self.port} refused a write ({_reason(exc)})")

    def cancel(self) -> None:
        """Wake a read blocked in another thread (used when stopping)."""
        handle = self._serial
        cancel = getattr(handle, "cancel_read", None)
        if cancel is not None:
            try:
                cancel()
            except Exception:  # best effort: the port may be half closed already
                log.debug("cancel_read failed on %s", self.port, exc_info=True)

    def close(self) -> None:
        with self._lock:
            handle, self._serial = self._serial, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # closing a vanished device can fail; it is gone either way
                log.debug("closing %s failed", self.port, exc_info=True)

    # -- internals ---------------------------------------------------------------------------

    def _lost(self, message: str) -> NoReturn:
        self.last_error = message
        self.close()
        raise PortLostError(message)

    def _check_still_there(self) -> None:
        """A silent port whose path vanished or moved is a lost port, not a quiet device."""
        if not self.is_path or self._opened_node is None:
            return
        node = self._node()
        if node is None:
            self._lost(f"{self.port} disappeared: the device was unplugged")
        if node != self._opened_node:
            self._lost(f"{self.port} now leads to {node}: the device was replugged")

    def _node(self) -> str | None:
        if not self.is_path:
            return None
        try:
            return os.path.realpath(self.port, strict=True)
        except OSError:
            return None

    def _explain_open_failure(self, exc: Exception) -> str:
        reason = _reason(exc)
        if self.is_path and not os.path.lexists(self.port):
            hint = "no such device: is it plugged in? (ls -l /dev/serial/by-id/)"
        elif isinstance(exc, PermissionError) or "ermission" in reason:
            hint = "permission denied: is the service user in the 'dialout' group?"
        elif "busy" in reason.lower():
            hint = "port busy: is another program using it?"
        else:
            hint = reason
        return f"cannot open {self.port}: {hint}"


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
