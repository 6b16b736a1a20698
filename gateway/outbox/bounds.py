"""Keeping the outbox within its bounds: bytes, age, the free-disk reserve, a full disk.

- **Bytes**: the database's pages in use (``PRAGMA page_count - freelist_count``) stay below
  ``max_bytes``. The count is taken from SQLite whenever an upper-bound estimate kept in
  memory says the bound is near, and every ``MEASURE_EVERY`` stores.
- **Reserve**: once a second the free space on the outbox's filesystem is read; when growing
  the file would leave less than ``min_free_bytes``, the bound is lowered to the file's
  current size, so new reports reuse the pages of dropped ones and the file stops growing.
- **Age**: once a second, reports older than ``max_age`` are dropped. Ages are in outbox
  time (:mod:`gateway.outbox.aging`), which no step of the wall clock moves. A report
  stored while the clock read before :data:`gateway.clock.FLOOR` has no trustworthy age
  and is kept (only the byte bound applies).
- "Once a second" is measured on the monotonic clock: a wall clock stepped back by a day
  does not switch the checks off for a day.
- **Full disk**: a *ballast* file (``<outbox>.ballast``, ``ballast_bytes``, 8 MiB by
  default) is kept beside the database while there is room. When the disk refuses a write
  anyway (another program filled it), the ballast is deleted: that gives SQLite the room to
  checkpoint its log and drop the oldest reports, after which the file is held at its size
  until the disk has room again (then the ballast comes back). Without that room, a WAL
  database on a full disk could neither take new reports nor delete old ones.
- **Only a full disk drops reports.** SQLite says "full" for a file size limit too, and
  "I/O error" for a failing card as well as for some full-disk writes. Reports are dropped
  for room only when ``statvfs`` confirms that the disk is full (:meth:`Bounds.disk_full`);
  anything else is an I/O error, which the outbox retries and reports and which deletes
  nothing.

Every dropped report is counted per uplink that still had it pending and by reason, in the
database, in the same transaction as the delete.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from gateway.clock import FLOOR_S
from gateway.errors import StorageError
from gateway.outbox import db
from gateway.outbox.aging import OutboxClock
from gateway.outbox.config import OutboxConfig
from gateway.outbox.stats import Counts

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes a row costs beyond its JSON text (record and cell headers)
DELIVERY_OVERHEAD = 16  # per pending uplink, beyond the uplink's name
MEASURE_EVERY = 256  # stores between two exact measurements of the pages in use
CHECK_EVERY_S = 1.0
LOG_EVERY_S = 60.0
FULL_BELOW_BYTES = 4 * 1024 * 1024
"""A disk with less than this free counts as full: a checkpoint of the outbox's log may need
that much (``db.JOURNAL_SIZE_LIMIT`` plus a write-ahead log's worth of pages)."""


class OutboxFullError(StorageError):
    """``drop = "newest"`` and the outbox is at its bound: this report was dropped."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


def row_cost(body_bytes: int, targets: Iterable[str]) -> int:
    """An upper bound of what storing a report adds to the pages in use."""
    return body_bytes + ROW_OVERHEAD + sum(len(name) + DELIVERY_OVERHEAD for name in targets)


class Bounds:
    """The bounds of one outbox file; the caller holds the outbox's lock."""

    def __init__(
        self,
        path: Path,
        config: OutboxConfig,
        uplinks: Callable[[], Iterable[str]],
        on_drop: Callable[[sqlite3.Connection, Counts], None],
        clock: OutboxClock,
    ) -> None:
        self.path = path
        self.config = config
        self.clock = clock
        self._uplinks = uplinks
        self._on_drop = on_drop
        self.ballast = path.with_name(path.name + ".ballast")
        self.used = 0
        self._since_measure = MEASURE_EVERY  # measure before the first store
        self._next_age_check = 0.0
        self._next_disk_check = 0.0
        self._limit = config.max_bytes
        self._limit_reason = "max_bytes"
        self._last_log = 0.0
        self._unlogged: dict[str, int] = {}
        self._warned: dict[str, float] = {}

    def reset(self) -> None:
        """Forget estimates (a new file was opened)."""
        self.used = 0
        self._since_measure = MEASURE_EVERY
        self._next_disk_check = 0.0

    # -- the ballast -------------------------------------------------------------------

    def ensure_ballast(self, free: int) -> None:
        size = self.config.ballast_bytes
        if not size:
            with contextlib.suppress(OSError):
                self.ballast.unlink()  # switched off: give the space back
            return
        if self.ballast.exists() or free < self.config.min_free_bytes + 2 * size:
            return
        try:
            fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, size)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.ballast.unlink()
            if exc.errno not in (
                errno.ENOSPC,
                errno.EDQUOT,
                errno.EFBIG,
                errno.EOPNOTSUPP,
                errno.EINVAL,
            ):
                log.warning("outbox: cannot create the ballast %s: %s", self.ballast, exc)

    def release_ballast(self) -> bool:
        try:
            self.ballast.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("outbox: cannot delete the ballast %s: %s", self.ballast, exc)
            return False
        log.warning(
            "outbox: the disk holding %s is full: released the %d-byte ballast and holding "
            "the outbox at its current size, dropping the oldest reports",
            self.path,
            self.config.ballast_bytes,
        )
        self._next_disk_check = 0.0
        return True

    # -- limits ------------------------------------------------------------------------

    def disk_full(self) -> bool:
        """Whether ``statvfs`` says the outbox's disk is full (less than
        :data:`FULL_BELOW_BYTES` free); an unreadable disk is not called full."""
        try:
            return db.free_disk(self.path.parent) < FULL_BELOW_BYTES
        except OSError:
            return False

    def limit(self, now: float) -> int:
        """The byte bound now (``now`` on the monotonic clock): max_bytes, lowered to keep
        the free-disk reserve."""
        if now < self._next_disk_check:
            return self._limit
        self._next_disk_check = now + CHECK_EVERY_S
        free = db.free_disk(self.path.parent)
        self.ensure_ballast(free)
        missing = 0 if self.ballast.exists() else self.config.ballast_bytes
        reserve = self.config.min_free_bytes + missing
        limit, reason = self.config.max_bytes, "max_bytes"
        if free < reserve + limit:
            # Pages already in the file are reused; only growth eats into the reserve.
            try:
                file_size = self.path.stat().st_size
            except OSError:
                file_size = 0
            held = file_size + max(0, free - reserve)
            if held < limit:
                if self._limit_reason != "min_free":
                    log.info(
                        "outbox: %d bytes free on the disk of %s (min_free_bytes %d): the "
                        "outbox can grow to %d bytes, less than max_bytes",
                        free,
                        self.path,
                        self.config.min_free_bytes,
                        held,
                    )
                limit, reason = held, "min_free"
        self._limit, self._limit_reason = limit, reason
        return limit

    def make_room(
        self, conn: sqlite3.Connection, cost: int, report: dict[str, Any], targets: Iterable[str]
    ) -> None:
        """Inside the store's transaction: drop what must go so that ``cost`` more fits."""
        now = time.monotonic()
        self._drop_expired(conn, now)
        limit = self.limit(now)
        if self.used + cost <= limit and self._since_measure < MEASURE_EVERY:
            self.used += cost
            self._since_measure += 1
            return
        self.used = db.used_bytes(conn)
        self._since_measure = 0
        batch = 16
        while self.used + cost > limit:
            oldest = conn.execute("SELECT min(row_id) FROM reports").fetchone()[0]
            if oldest is None:
                break  # nothing left to drop: let SQLite try
            if self.config.drop == "newest":
                raise OutboxFullError(
                    f"outbox at its bound ({limit} bytes): report {report['id']} dropped "
                    "(drop = newest)",
                    report,
                )
            last = conn.execute(
                "SELECT row_id FROM reports ORDER BY row_id LIMIT 1 OFFSET ?", (batch - 1,)
            ).fetchone()
            self.drop_through(conn, last[0] if last else None, self._limit_reason)
            self.used = db.used_bytes(conn)
            batch *= 2
        self.used += cost

    def _drop_expired(self, conn: sqlite3.Connection, now: float) -> None:
        if self.config.max_age <= 0 or now < self._next_age_check:
            return
        self._next_age_check = now + CHECK_EVERY_S
        cutoff = self.clock.now() - self.config.max_age
        if cutoff < FLOOR_S:
            return  # the clock is not set: no age is known
        # Outbox time never goes back (see gateway.outbox.aging), so in row order the reports
        # stored with an unset clock come first, then the expired ones, then the rest.
        first_aged = conn.execute(
            "SELECT row_id FROM reports WHERE stored_at >= ? ORDER BY row_id LIMIT 1", (FLOOR_S,)
        ).fetchone()
        if first_aged is None:
            return
        first_kept = conn.execute(
            "SELECT row_id FROM reports WHERE stored_at >= ? ORDER BY row_id LIMIT 1", (cutoff,)
        ).fetchone()
        last = (1 << 62) if first_kept is None else first_kept[0] - 1
        if last >= first_aged[0]:
            self.drop_rows(conn, first_aged[0], last, "max_age")

    def count_refused(self, conn: sqlite3.Connection, targets: Iterable[str]) -> None:
        """A report refused at the bound (``drop = "newest"``): count it as dropped."""
        conn.executemany(
            "UPDATE uplinks SET dropped = dropped + 1 WHERE name = ?", [(n,) for n in targets]
        )
        db.meta_add(conn, "dropped_refused", 1)
        self._note(1, "refused")

    def drop_through(self, conn: sqlite3.Connection, last_row_id: int | None, reason: str) -> int:
        """Drop every report with ``row_id <= last_row_id`` (None: all), counting them."""
        return self.drop_rows(conn, 0, (1 << 62) if last_row_id is None else last_row_id, reason)

    def drop_rows(self, conn: sqlite3.Connection, first: int, last: int, reason: str) -> int:
        """Drop the reports with ``first <= row_id <= last``, counting them per uplink."""
        gone = Counts()
        for name in self._uplinks():
            n = conn.execute(
                "DELETE FROM deliveries WHERE uplink = ? AND row_id BETWEEN ? AND ?",
                (name, first, last),
            ).rowcount
            if n:
                conn.execute("UPDATE uplinks SET dropped = dropped + ? WHERE name = ?", (n, name))
                gone.pending[name] = -n
        for size, claimed in conn.execute(
            "DELETE FROM reports WHERE row_id BETWEEN ? AND ? RETURNING size, claimed",
            (first, last),
        ).fetchall():
            gone.depth -= 1
            gone.payload -= size
            gone.unclaimed -= 0 if claimed else 1
        dropped = -gone.depth
        db.meta_add(conn, f"dropped_{reason}", dropped)
        self._on_drop(conn, gone)
        self._note(dropped, reason)
        return dropped

    def _note(self, n: int, reason: str) -> None:
        self._unlogged[reason] = self._unlogged.get(reason, 0) + n
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            log.warning(
                "outbox: dropped %s (limits: max_bytes=%d, max_age=%gs, min_free_bytes=%d, "
                "drop=%s); see `ugs-gateway outbox stats`",
                ", ".join(f"{count} for {why}" for why, count in self._unlogged.items()),
                self.config.max_bytes,
                self.config.max_age,
                self.config.min_free_bytes,
                self.config.drop,
            )
            self._last_log = now
            self._unlogged = {}

    # -- a full disk -------------------------------------------------------------------

    def _warn_limited(self, key: str, message: str, *args: object) -> None:
        # A full disk fails every store: say so once a minute, not hundreds of times.
        now = time.monotonic()
        if now - self._warned.get(key, -LOG_EVERY_S) >= LOG_EVERY_S:
            self._warned[key] = now
            log.warning(message, *args)

    def after_full(
        self,
        conn: sqlite3.Connection,
        txn: Callable[[], contextlib.AbstractContextManager[Any]],
        exc: BaseException,
        attempt: int,
    ) -> bool:
        """The disk refused a write: make room; False when nothing more can be done."""
        self._warn_limited(
            "refused", "outbox: the disk refused a write (%s); dropping the oldest reports", exc
        )
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        released = self.release_ballast()
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(RESTART)")
        oldest = conn.execute("SELECT min(row_id) FROM reports").fetchone()[0]
        if oldest is None:
            return released
        last = conn.execute(
            "SELECT row_id FROM reports ORDER BY row_id LIMIT 1 OFFSET ?", ((16 << attempt) - 1,)
        ).fetchone()
        try:
            with txn():
                self.drop_through(conn, last[0] if last else None, "disk_full")
        except sqlite3.Error as again:
            if not db.is_full(again):
                raise
            self._warn_limited(
                "stuck",
                "outbox: the disk is full and even dropping reports failed (%s): new reports "
                "are not stored until there is room (the stored ones are kept)",
                again,
            )
            return released
        # Hold the file at its size (new reports reuse the freed pages) until the disk has
        # room again.
        self.reset()
        self._limit = min(self._limit, db.allocated_bytes(conn))
        self._limit_reason = "disk_full"
        self._next_disk_check = time.monotonic() + CHECK_EVERY_S
        return True
