"""Pseudo-terminals that stand in for serial ports, and stable paths that can be unplugged.

- :class:`Pty`: one pty; the emulator holds the master end (a file descriptor) and the driver
  opens :attr:`Pty.path` like any serial port.
- :class:`PtyPair`: two ptys bridged by a small thread, giving two paths that behave as the
  two ends of a null-modem cable (for peers that insist on opening a path themselves, such
  as pymodbus's serial server).
- :class:`StableLink`: a symlink standing in for ``/dev/serial/by-id/usb-...``: it can be
  removed (the USB adapter is pulled out) and recreated pointing at a new pty (plugged back,
  on a new device node), exactly what a driver must survive in the field.

Both ends are put in raw mode at once, so bytes written before the driver opens the port are
not mangled by the line discipline (no echo, no CR/LF translation, no ^C).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import threading
import tty
from pathlib import Path
from types import TracebackType

# Bytes a bridge buffers for an end nobody reads before it drops them (a real UART drops
# them too); enough for a second of the fastest stream we emulate.
BRIDGE_BUFFER = 64 * 1024


class Pty:
    """One pseudo-terminal: write to :attr:`master` (or :meth:`write`), open :attr:`path`."""

    def __init__(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master: int = master
        # Kept open so the pty survives the driver closing and reopening its end (without it
        # the master would see EIO whenever no one has the path open).
        self._slave = slave
        self.path = os.ttyname(slave)
        self.closed = False

    def write(self, data: bytes) -> int:
        """Write what fits without blocking; returns the bytes taken (0 when full)."""
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0

    def read(self, size: int = 65536) -> bytes:
        """What the other side wrote, without blocking (``b""`` if nothing)."""
        try:
            return os.read(self.master, size)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def close(self) -> None:
        """Close both ends: whoever has :attr:`path` open now reads EIO (a hang-up)."""
        if self.closed:
            return
        self.closed = True
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> Pty:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class PtyPair:
    """Two paths joined like a null-modem cable: bytes written to one are read from the other."""

    def __init__(self) -> None:
        self._ends = (Pty(), Pty())
        self.a = self._ends[0].path
        self.b = self._ends[1].path
        self.dropped = 0
        """Bytes dropped because the side they were going to did not read them."""
        self._wake_r, self._wake_w = os.pipe()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._bridge, name="pty-bridge", daemon=True)
        self._thread.start()

    @property
    def paths(self) -> tuple[str, str]:
        return self.a, self.b

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for end in self._ends:
            end.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _bridge(self) -> None:
        ends = self._ends
        pending = [bytearray(), bytearray()]  # bytes waiting to be written to ends[i]
        while not self._stop.is_set():
            readable = [self._wake_r] + [
                ends[i].master for i in (0, 1) if len(pending[1 - i]) < BRIDGE_BUFFER
            ]
            writable = [ends[i].master for i in (0, 1) if pending[i]]
            try:
                ready_r, ready_w, _ = select.select(readable, writable, [], 1.0)
            except (OSError, ValueError):
                return  # closed under us while stopping
            try:
                for i in (0, 1):
                    if ends[i].master in ready_r:
                        pending[1 - i] += ends[i].read()
                    if ends[i].master in ready_w and pending[i]:
                        taken = ends[i].write(bytes(pending[i]))
                        del pending[i][:taken]
            except OSError:
                return  # an end was closed: the cable is cut
            for i in (0, 1):
                if len(pending[i]) > BRIDGE_BUFFER:
                    self.dropped += len(pending[i]) - BRIDGE_BUFFER
                    del pending[i][: len(pending[i]) - BRIDGE_BUFFER]


class StableLink:
    """A symlink that stays put while the device node behind it comes and goes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def point_to(self, target: str | os.PathLike[str]) -> None:
        """Create or atomically re-point the link (the device was plugged in)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(os.fspath(target), tmp)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        """Remove the link (the device was unplugged)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @property
    def exists(self) -> bool:
        return self.path.is_symlink()

    def __str__(self) -> str:
        return str(self.path)

    def __enter__(self) -> StableLink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()
