"""Copy what can still be read out of a damaged outbox file into a new one.

A torn write or a bad block usually spoils a few pages, not the whole file. After the
damaged file has been moved aside, every report that still reads back as a valid v1 report
is copied into the new file with its row id, boot, seq and storage time, and queued again for
the uplinks it was still pending for (where that part of the file is unreadable too, for
every configured uplink whose share filter accepts it: a partner may then get a report
twice, with the same ``id``). Counters (drops, deliveries) are copied when readable.

Reading skips over damaged regions by seeking past them with growing strides, so one bad
interior page does not hide the rows behind it.

Bounded in time and memory: a :class:`Salvage` copies one batch (:data:`BATCH` reports and
their pending state) per :meth:`Salvage.step`, in the caller's transaction. The outbox runs
the steps in a thread of its own and holds its lock for one step at a time, so a store
waits for one batch at most whatever the size of the damaged file, and only one batch is
ever in memory. Progress is kept in the new file (meta ``salvage:<damaged file name>`` =
the last row id looked at), so a salvage cut short by a restart resumes where it was.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.detection_report import validate_report
from gateway.errors import ProtocolError
from gateway.outbox.stats import Counts

log = logging.getLogger(__name__)

BATCH = 500
MAX_SKIPS = 128
PROGRESS = "salvage:"
"""Prefix of the meta keys that say which damaged files still have reports to copy."""
UNKNOWN_HIGHEST = 2**61
"""Where row ids go on when the damaged file does not say how far it went: above anything."""

Row = tuple[int, int, int, float, int, str, int]  # the columns of ``reports``
Targets = Callable[[dict[str, Any]], tuple[str, ...]]


def _open_damaged(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    with contextlib.suppress(sqlite3.Error):
        # query_only: never write to the damaged file. writable_schema: read a file
        # whose header promises more pages than it has (truncated) instead of refusing.
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA writable_schema=ON")
    return conn


def _highest_row_id(conn: sqlite3.Connection) -> int | None:
    found = []
    for query in (
        "SELECT value FROM meta WHERE key = 'last_row_id'",
        "SELECT max(row_id) FROM reports",
    ):
        with contextlib.suppress(sqlite3.Error, TypeError):
            value = conn.execute(query).fetchone()[0]
            if isinstance(value, int):
                found.append(value)
    return max(found) if found else None


def prepare(damaged: Path, new: sqlite3.Connection) -> None:
    """Inside the new file's transaction, before any report is stored in it: copy the
    damaged file's counters, keep row ids above its own, and note that its reports are to
    be copied (:meth:`Salvage.step`). Never raises for a damaged file."""
    try:
        old = _open_damaged(damaged)
    except sqlite3.Error:
        return
    try:
        with contextlib.suppress(sqlite3.Error):
            for row in old.execute(
                "SELECT name, added_at, removed_at, delivered, dropped, released, last_ack_at "
                "FROM uplinks"
            ).fetchall():
                new.execute("INSERT OR REPLACE INTO uplinks VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        with contextlib.suppress(sqlite3.Error):
            # Also carries on the progress of a salvage the damaged file was itself doing.
            for key, value in old.execute("SELECT key, value FROM meta").fetchall():
                new.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        highest = _highest_row_id(old)
    finally:
        old.close()
    # Reports stored from now on come after every report that may still be copied, so a
    # copied report never meets a new one with its row id.
    new.execute(
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_row_id', "
        "max(?, coalesce((SELECT value FROM meta WHERE key = 'last_row_id'), 0)))",
        (UNKNOWN_HIGHEST if highest is None else highest,),
    )
    new.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, 0)", (PROGRESS + damaged.name,))


def _valid(row: Row) -> bool:
    try:
        validate_report(json.loads(row[5]))
    except (ValueError, TypeError, RecursionError, ProtocolError):
        return False
    return True


class Salvage:
    """Copies one damaged file, a batch per :meth:`step`; ``after`` is its progress."""

    def __init__(self, damaged: Path, after: int = 0) -> None:
        self.damaged = damaged
        self.after = after  # the last row id looked at
        self.copied = 0
        self.bad = 0
        self.done = False
        self._stride = 1
        self._skips = 0
        self._old = _open_damaged(damaged)
        highest = _highest_row_id(self._old)
        # Unreadable: the scan then ends when a query finds nothing more.
        self._limit = 2**62 if highest is None else highest

    def close(self) -> None:
        self._old.close()

    def step(self, new: sqlite3.Connection, configured: list[str], targets: Targets) -> Counts:
        """Copy the next batch into ``new`` (inside the caller's transaction); returns what
        it added. Sets ``done`` when the damaged file has nothing more to give."""
        start = self.after
        rows = self._next_rows()
        added = Counts()
        if not rows:
            return added
        pending = {name: self._pending(name, start, rows[-1][0]) for name in configured}
        for row in rows:
            if not _valid(row):
                self.bad += 1
                continue
            names = _uplinks_for(row, pending, targets)
            if pending and not names:
                continue  # every uplink it was for has it already
            claimed = 1 if pending else 0
            cursor = new.execute(
                "INSERT OR IGNORE INTO reports(row_id, boot, seq, stored_at, size, body, "
                "claimed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row[:6], claimed),
            )
            if cursor.rowcount != 1:
                continue
            new.executemany(
                "INSERT OR IGNORE INTO deliveries(uplink, row_id) VALUES (?, ?)",
                [(name, row[0]) for name in names],
            )
            added.add(Counts(1, row[4], 1 - claimed, dict.fromkeys(names, 1)))
            self.copied += 1
        return added

    def _next_rows(self) -> list[Row]:
        """Up to :data:`BATCH` rows after ``after``; steps over an unreadable stretch."""
        rows: list[Row] = []
        if self.done:
            return rows
        try:
            for row in self._old.execute(
                "SELECT row_id, boot, seq, stored_at, size, body, claimed FROM reports "
                "WHERE row_id > ? ORDER BY row_id LIMIT ?",
                (self.after, BATCH),
            ):
                rows.append(row)
                self.after, self._stride = row[0], 1
        except sqlite3.Error:
            if rows:
                return rows  # the next step starts at the bad page and steps over it
            self._skips += 1
            self.after = min(self.after + self._stride, self._limit)
            self._stride *= 2
            self.done = self._skips > MAX_SKIPS or self.after >= self._limit
            return rows
        if len(rows) < BATCH:
            self.done = True
        return rows

    def _pending(self, uplink: str, low: int, high: int) -> set[int] | None:
        """Row ids in (low, high] the damaged file still had pending for ``uplink``; None
        where that part of the file cannot be read."""
        try:
            return {
                row_id
                for (row_id,) in self._old.execute(
                    "SELECT row_id FROM deliveries WHERE uplink = ? AND row_id > ? AND row_id <= ?",
                    (uplink, low, high),
                )
            }
        except sqlite3.Error:
            return None


def _uplinks_for(row: Row, pending: dict[str, set[int] | None], targets: Targets) -> list[str]:
    row_id = row[0]
    if not row[6]:
        # Kept while no uplink was configured: it goes to those configured now.
        return list(targets(json.loads(row[5])))
    chosen, wanted = [], None
    for name, known in pending.items():
        if known is not None:
            if row_id in known:
                chosen.append(name)
            continue
        if wanted is None:
            wanted = set(targets(json.loads(row[5])))
        if name in wanted:
            chosen.append(name)  # may be a second delivery, with the same id
    return chosen
