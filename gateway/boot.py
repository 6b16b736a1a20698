"""The boot counter: a number kept in the state dir and incremented at every start.

Report ids are ``{node}-{boot}-{seq}``, and receivers drop a report whose id they have seen,
so a boot number must never be handed out twice: a counter that went backwards after a
power cut would make the command posts discard new detections as duplicates.

The counter is kept twice, in ``boot`` and ``boot.mirror``, each a line
``ugs-boot <n> <crc32>``. Each copy is replaced by writing a temporary file, fsyncing it,
renaming it over the old one and fsyncing the directory; the mirror is written only after the
main copy is durable. On start the highest intact copy wins, so a torn or garbled file (a
filesystem that lied about fsync, a card that corrupted a block) costs nothing. When the disk
is so full that not even a small temporary file fits, the copies are overwritten in place
(same size, no new blocks): one at a time, so one of them is always intact.

The outbox remembers the boots whose reports it holds or held (``floor``, from
:func:`gateway.outbox.stats.last_boot`): the next boot is above it as well, so losing the
boot files while the outbox survives (a state dir restored from a backup, files deleted by
hand) cannot hand out a number whose reports receivers have already seen.

If both copies exist but neither is readable, and the outbox knows no boot either, the
counter restarts from the wall clock in seconds (far above any counter a unit reaches by
restarting) when the clock looks set, and otherwise gives up with :class:`StorageError`,
because reusing a boot number would lose reports.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
import zlib
from pathlib import Path

from drivers.durable import fsync_dir
from gateway import clock
from gateway.errors import StorageError

log = logging.getLogger(__name__)

FILES = ("boot", "boot.mirror")
_WIDTH = 20  # digits: every record has the same length so in-place rewrites never grow


def _record(value: int) -> bytes:
    digits = f"{value:0{_WIDTH}d}"
    return f"ugs-boot {digits} {zlib.crc32(digits.encode()):08x}\n".encode()


def _parse(data: bytes) -> int | None:
    parts = data.decode("ascii", "replace").split()
    if len(parts) != 3 or parts[0] != "ugs-boot" or not parts[1].isdigit():
        return None
    if f"{zlib.crc32(parts[1].encode()):08x}" != parts[2]:
        return None
    return int(parts[1])


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def _overwrite(path: Path, data: bytes) -> None:
    # Same length as what is there: rewrites allocated blocks, needs no free space.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_boot(state_dir: Path) -> int:
    """The last boot number handed out (0 before the first start); does not change it."""
    value, _ = _read(Path(state_dir))
    return value


def _read(state_dir: Path) -> tuple[int, bool]:
    """(highest intact value, whether some copy existed but was damaged)."""
    best, damaged = 0, False
    for name in FILES:
        path = state_dir / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError(
                f"cannot read the boot counter {path}: {exc.strerror or exc} "
                "(check the state_dir's permissions)"
            ) from None
        value = _parse(data)
        if value is None:
            log.error("boot counter copy %s is damaged; using the other copy", path)
            damaged = True
        else:
            best = max(best, value)
    return best, damaged


def next_boot(state_dir: Path, floor: int = 0) -> int:
    """Increment the durable boot counter in ``state_dir`` and return the new value (1, 2, ...).

    The new value is above ``floor`` too: the highest boot the outbox has seen. Creates
    ``state_dir`` if needed. Returns only once the new value is on disk. Raises
    :class:`StorageError` with a message for a technician when the directory cannot be used.
    """
    state_dir = Path(state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the state dir {state_dir}: {exc.strerror or exc} "
            "(check node.state_dir and its permissions)"
        ) from None
    if not state_dir.is_dir():
        raise StorageError(f"the state dir {state_dir} is not a directory (check node.state_dir)")
    current, damaged = _read(state_dir)
    if floor > current:
        log.error(
            "the boot counter in %s says %d but the outbox holds reports of boot %d (were "
            "the boot files lost or restored from a backup?); continuing from the outbox",
            state_dir,
            current,
            floor,
        )
        current = floor
    if current == 0 and damaged:
        if not clock.plausible(time.time()):
            raise StorageError(
                f"the boot counter in {state_dir} is damaged and the clock is not set, so no "
                "boot number is safe to use; set the clock or remove the damaged boot files"
            )
        current = int(time.time())
        log.error("boot counter lost; continuing from the clock: boot %d", current + 1)
    value = current + 1
    data = _record(value)
    for name in FILES:
        path = state_dir / name
        try:
            _replace(path, data)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or not path.exists():
                raise StorageError(
                    f"cannot write the boot counter {path}: {exc.strerror or exc} "
                    "(check that node.state_dir is writable and the disk is not full)"
                ) from None
            try:
                _overwrite(path, data)
            except OSError as exc2:
                raise StorageError(
                    f"cannot write the boot counter {path}: {exc2.strerror or exc2} "
                    "(the disk is full)"
                ) from None
            log.warning("disk full: boot counter %s rewritten in place", path)
    return value
