"""Copy what can still be read out of a damaged outbox file into a new one.

A torn write or a bad block usually spoils a few pages, not the whole file. After the
damaged file has been moved aside, every report that still reads back as a valid v1 report
is copied into the new file with its row id, boot, seq and storage time, and queued again for
the uplinks it was still pending for (where that part of the file is unreadable too, for
every configured uplink whose share filter accepts it: a partner may then get a report
twice, with the same ``id``). Counters (drops, deliveries) are copied when readable.

Reading skips over damaged regions by seeking past them with growing strides, so one bad
interior page does not hide the rows behind it. Runs in batches, so a large outbox does not
have to fit in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gateway.detection_report import validate_report
from gateway.errors import ProtocolError

log = logging.getLogger(__name__)

BATCH = 1000
MAX_SKIPS = 128
Row = tuple[int, int, int, float, int, str, int]  # the columns of ``reports``


def _highest_row_id(conn: sqlite3.Connection) -> int:
    found = []
    for query in (
        "SELECT value FROM meta WHERE key = 'last_row_id'",
        "SELECT max(row_id) FROM reports",
    ):
        with contextlib.suppress(sqlite3.Error, TypeError):
            value = conn.execute(query).fetchone()[0]
            if isinstance(value, int):
                found.append(value)
    # Unreadable: the scan then ends when a query finds nothing more.
    return max(found) if found else 2**62


def _rows(conn: sqlite3.Connection, highest: int) -> Iterator[Row]:
    """Readable report rows in row id order, stepping over unreadable stretches."""
    last, stride, skips = 0, 1, 0
    while skips <= MAX_SKIPS and last < highest:
        try:
            cursor = conn.execute(
                "SELECT row_id, boot, seq, stored_at, size, body, claimed FROM reports "
                "WHERE row_id > ? ORDER BY row_id",
                (last,),
            )
            for row in cursor:
                yield row
                last, stride = row[0], 1
            return
        except sqlite3.Error:
            skips += 1
            last = min(last + stride, highest)
            stride *= 2


def _valid(row: Row) -> bool:
    try:
        validate_report(json.loads(row[5]))
    except (ValueError, TypeError, RecursionError, ProtocolError):
        return False
    return True


class _Pending:
    """What the damaged file says about one uplink's pending reports, as far as readable."""

    def __init__(self) -> None:
        self.rows: set[int] = set()
        self.unknown: list[tuple[int, int]] = []  # row id ranges that could not be read

    def knows(self, row_id: int) -> bool:
        return not any(low < row_id <= high for low, high in self.unknown)


def _scan_pending(conn: sqlite3.Connection, uplink: str, highest: int) -> _Pending:
    pending = _Pending()
    last, stride, skips = 0, 1, 0
    while skips <= MAX_SKIPS and last < highest:
        try:
            for (row_id,) in conn.execute(
                "SELECT row_id FROM deliveries WHERE uplink = ? AND row_id > ? ORDER BY row_id",
                (uplink, last),
            ):
                pending.rows.add(row_id)
                last, stride = row_id, 1
            return pending
        except sqlite3.Error:
            skips += 1
            step = min(last + stride, highest)
            pending.unknown.append((last, step))
            last, stride = step, stride * 2
    pending.unknown.append((last, 2**63))
    return pending


def _copy_counters(old: sqlite3.Connection, new: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        for row in old.execute(
            "SELECT name, added_at, removed_at, delivered, dropped, released, last_ack_at "
            "FROM uplinks"
        ).fetchall():
            new.execute("INSERT OR REPLACE INTO uplinks VALUES (?, ?, ?, ?, ?, ?, ?)", row)
    with contextlib.suppress(sqlite3.Error):
        for key, value in old.execute("SELECT key, value FROM meta").fetchall():
            new.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def salvage(
    damaged: Path,
    new: sqlite3.Connection,
    targets: Callable[[dict[str, Any]], tuple[str, ...]],
    configured: set[str],
) -> tuple[int, int]:
    """Copy readable reports of ``damaged`` into ``new``; return (copied, unreadable).

    A report is queued for a configured uplink if the damaged file still had it pending for
    that uplink; where that part of the file is unreadable, if ``targets(report)`` names the
    uplink. Never raises for a damaged file.
    """
    try:
        old = sqlite3.connect(damaged, isolation_level=None)
    except sqlite3.Error:
        return 0, 0
    copied = bad = 0
    try:
        with contextlib.suppress(sqlite3.Error):
            # query_only: never write to the damaged file. writable_schema: read a file
            # whose header promises more pages than it has (truncated) instead of refusing.
            old.execute("PRAGMA query_only=1")
            old.execute("PRAGMA writable_schema=ON")
        highest = _highest_row_id(old)
        pending = {name: _scan_pending(old, name, highest) for name in sorted(configured)}
        new.execute("BEGIN IMMEDIATE")
        _copy_counters(old, new)
        new.execute("COMMIT")
        batch: list[Row] = []
        for row in _rows(old, highest):
            if _valid(row):
                batch.append(row)
            else:
                bad += 1
            if len(batch) >= BATCH:
                copied += _insert(new, batch, pending, targets)
                batch = []
        copied += _insert(new, batch, pending, targets)
    except sqlite3.Error as exc:
        log.warning("outbox salvage from %s stopped: %s", damaged, exc)
        with contextlib.suppress(sqlite3.Error):
            new.execute("ROLLBACK")
    finally:
        old.close()
    return copied, bad


def _uplinks_for(
    row: Row,
    pending: dict[str, _Pending],
    targets: Callable[[dict[str, Any]], tuple[str, ...]],
) -> list[str]:
    row_id = row[0]
    if not row[6]:
        # Kept while no uplink was configured: it goes to those configured now.
        return list(targets(json.loads(row[5])))
    chosen, wanted = [], None
    for name, state in pending.items():
        if row_id in state.rows:
            chosen.append(name)
        elif not state.knows(row_id):
            if wanted is None:
                wanted = set(targets(json.loads(row[5])))
            if name in wanted:
                chosen.append(name)  # may be a second delivery, with the same id
    return chosen


def _insert(
    new: sqlite3.Connection,
    rows: list[Row],
    pending: dict[str, _Pending],
    targets: Callable[[dict[str, Any]], tuple[str, ...]],
) -> int:
    copied = 0
    new.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            names = _uplinks_for(row, pending, targets)
            if pending and not names:
                continue  # every uplink it was for has it already
            new.execute(
                "INSERT OR IGNORE INTO reports(row_id, boot, seq, stored_at, size, body, "
                "claimed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*row[:6], 1 if pending else 0),
            )
            new.executemany(
                "INSERT OR IGNORE INTO deliveries(uplink, row_id) VALUES (?, ?)",
                [(name, row[0]) for name in names],
            )
            copied += 1
    except BaseException:
        new.execute("ROLLBACK")
        raise
    new.execute("COMMIT")
    return copied
