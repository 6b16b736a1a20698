"""When the wall clock can be trusted: one rule for reports, the boot counter and the outbox.

A field unit without a real-time clock boots in 1970 (or, with fake-hwclock, at its last
shutdown) and may run for a while before NTP or GNSS sets the time. Whatever it stamps then
must say so rather than lie. The rule, which docs/messages.md states for partners
("Unsynchronised clock") and a test holds to this code:

1. A clock that reads earlier than :data:`FLOOR` (2026-01-01, before this software existed)
   is not set, whatever anyone says (:func:`plausible`).
2. Otherwise the kernel decides: every time daemon (systemd-timesyncd, chrony, ntpd, gpsd
   with chrony) clears the kernel's ``STA_UNSYNC`` flag while it disciplines the clock
   (:func:`kernel_clock_synced`, read with ``adjtimex``).
3. Where the kernel's verdict cannot be read, systemd-timesyncd's flag file counts.
4. Where neither is known, the floor alone decides (:func:`trusted`).

Users: the service marks reports ``"clock": "unsynced"`` with :class:`ClockWatch` and
:func:`trusted`; the health report shows :func:`judge`'s verdict; the boot counter and the
outbox's age bound and statistics trust a stored time only when it is :func:`plausible`.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FLOOR = dt.date(2026, 1, 1)
"""No clock reading before this day can be right: this software did not exist yet."""
FLOOR_S = dt.datetime(FLOOR.year, FLOOR.month, FLOOR.day, tzinfo=dt.UTC).timestamp()

# systemd-timesyncd creates this file once it has synchronised the clock (tmpfs: per boot).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")

RECHECK_S = 10.0
"""How long :class:`ClockWatch` keeps a verdict before asking the kernel again."""


def plausible(epoch_s: float) -> bool:
    """Whether a wall-clock reading can be right at all: not before :data:`FLOOR`."""
    return epoch_s >= FLOOR_S


@dataclass(frozen=True)
class Verdict:
    """What is known of the clock: ``synced`` is None when nobody can tell."""

    synced: bool | None
    source: str | None  # "kernel", "timesyncd" or None
    plausible: bool


def judge(
    now: float,
    kernel: bool | None,
    timesync_flag: Callable[[], bool],
    floor_s: float = FLOOR_S,
) -> Verdict:
    """Rules 1-3 for a clock reading ``now``, the kernel's verdict and timesyncd's flag."""
    readable = now >= floor_s
    source: str | None = "kernel"
    synced = kernel
    if synced is None:
        source = "timesyncd"
        synced = True if timesync_flag() else None
        if synced is None:
            source = None
    if not readable:
        synced = False
    return Verdict(synced, source, readable)


def trusted(synced: bool | None, at: float) -> bool:
    """Whether a time ``at`` taken while the clock's state was ``synced`` is right (rule 4)."""
    return plausible(at) if synced is None else synced


def current_verdict() -> Verdict:
    """The rule applied to this unit's clock now."""
    return judge(time.time(), kernel_clock_synced(), TIMESYNC_FLAG.exists)


class ClockWatch:
    """The clock's ``synced`` verdict, asked of the kernel at most every :data:`RECHECK_S`."""

    def __init__(self, verdict: Callable[[], Verdict] = current_verdict) -> None:
        self._verdict = verdict
        self._value: bool | None = None
        self._at = -RECHECK_S

    def __call__(self) -> bool | None:
        now = time.monotonic()
        if now - self._at >= RECHECK_S:
            self._value = self._verdict().synced
            self._at = now
        return self._value


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: modes, then longs, then the status word and padding.
    # Only `status` is read; the rest is sized generously to match every 64-bit ABI.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    )


STA_UNSYNC = 0x0040
TIME_ERROR = 5


@functools.cache
def _adjtimex() -> Any:
    # The symbols already loaded into the interpreter include libc's; no library search
    # (ctypes.util.find_library would run ldconfig on every call).
    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None


def kernel_clock_synced() -> bool | None:
    """The kernel's own verdict (``adjtimex``, read only): True, False, or None if unknown.

    Every time daemon (systemd-timesyncd, chrony, ntpd, gpsd with chrony) clears the
    kernel's STA_UNSYNC flag while it keeps the clock disciplined. Reading needs no
    privilege; the unit allows the ``adjtimex`` call for that (and has no CAP_SYS_TIME to
    change anything with it).
    """
    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    timex = _Timex()  # modes = 0: read only
    state = adjtimex(ctypes.byref(timex))
    if state == -1:
        err = ctypes.get_errno()
        if err not in (errno.EPERM, errno.ENOSYS):
            log.debug("adjtimex failed: %s", os.strerror(err))
        return None
    return state != TIME_ERROR and not timex.status & STA_UNSYNC
