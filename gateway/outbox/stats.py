"""Statistics of an outbox file: what ``ugs-gateway outbox stats`` prints.

The service keeps the counts (depth, payload bytes, pending per uplink) in memory and
passes them in, so its stats cost a few index lookups whatever the backlog; another process
reads the file read-only and counts by scanning (:func:`read_stats`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.clock import FLOOR_S
from gateway.detection_report import format_time
from gateway.errors import StorageError
from gateway.outbox.db import (
    DROP_REASONS,
    SCHEMA_VERSION,
    file_bytes,
    free_disk,
    meta_get,
    used_bytes,
)

FILTERED_KEY = "filtered:"
"""Meta key prefix: per uplink, the reports let go because its share filter was narrowed
after they were stored (``Outbox.pending`` checks the filter again)."""


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None or epoch < 0 else format_time(epoch)


@dataclass
class Counts:
    """How much waits in the outbox: kept up to date in memory by the service, counted by a
    full scan for ``ugs-gateway outbox stats``."""

    depth: int = 0
    payload: int = 0
    unclaimed: int = 0
    pending: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.depth += other.depth
        self.payload += other.payload
        self.unclaimed += other.unclaimed
        for name, n in other.pending.items():
            self.pending[name] = self.pending.get(name, 0) + n


def count_all(conn: sqlite3.Connection) -> Counts:
    """Counts by scanning the tables (time grows with the backlog)."""
    depth, payload, unclaimed = conn.execute(
        "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(claimed = 0), 0) FROM reports"
    ).fetchone()
    pending = dict(conn.execute("SELECT uplink, count(*) FROM deliveries GROUP BY uplink"))
    return Counts(int(depth), int(payload), int(unclaimed), pending)


def collect_stats(
    conn: sqlite3.Connection,
    path: Path,
    limits: dict[str, Any],
    configured: set[str] | None,
    counts: Counts | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The figures of ``ugs-gateway outbox stats``, in a read transaction of their own.

    Without ``counts`` the tables are scanned for them; everything else costs a few index
    lookups, whatever the backlog. ``now`` is the outbox's time (:mod:`gateway.outbox.aging`)
    for the oldest report's age; another process reads the wall clock.
    """
    if now is None:
        now = time.time()
    conn.execute("BEGIN")
    try:
        if counts is None:
            counts = count_all(conn)
        oldest = conn.execute(
            "SELECT row_id, stored_at FROM reports ORDER BY row_id LIMIT 1"
        ).fetchone()
        newest = conn.execute(
            "SELECT row_id, boot, seq FROM reports ORDER BY row_id DESC LIMIT 1"
        ).fetchone()
        uplinks: dict[str, Any] = {}
        for name, added, removed, delivered, dropped, released, last_ack in conn.execute(
            "SELECT name, added_at, removed_at, delivered, dropped, released, last_ack_at "
            "FROM uplinks ORDER BY name"
        ).fetchall():
            cursor = conn.execute(
                "SELECT min(row_id) FROM deliveries WHERE uplink = ?", (name,)
            ).fetchone()[0]
            uplinks[name] = {
                "pending": counts.pending.get(name, 0),
                "cursor": cursor,
                "delivered": delivered,
                "dropped": dropped,
                "released": released,
                "filtered": int(meta_get(conn, FILTERED_KEY + name, 0) or 0),
                "last_ack": _iso(last_ack),
                "added": _iso(added),
                "configured": removed is None if configured is None else name in configured,
            }
        drops = {reason: int(meta_get(conn, f"dropped_{reason}", 0)) for reason in DROP_REASONS}
        used = used_bytes(conn)
        last = None if newest is None else (newest[1], newest[2])
        remembered = (meta_get(conn, "last_boot"), meta_get(conn, "last_seq"))
        if remembered[0] is not None and (last is None or remembered > last):
            last = remembered
        recovered = meta_get(conn, "recovered_from")
    finally:
        conn.execute("COMMIT")
    oldest_age = None
    if oldest is not None and oldest[1] >= FLOOR_S:
        oldest_age = round(max(0.0, now - oldest[1]), 3)
    return {
        "path": str(path),
        "depth": counts.depth,
        "bytes": used,
        "payload_bytes": counts.payload,
        "file_bytes": file_bytes(path),
        "free_disk_bytes": free_disk(path.parent),
        "oldest_age_s": oldest_age,
        "oldest_row_id": None if oldest is None else oldest[0],
        "newest_row_id": None if newest is None else newest[0],
        "unclaimed": counts.unclaimed,
        "drops": {"total": sum(drops.values()), **drops},
        "last_stored": None if last is None else {"boot": last[0], "seq": last[1]},
        "recovered_from": recovered,
        "limits": limits,
        "uplinks": uplinks,
    }


def empty_stats(path: Path, limits: dict[str, Any]) -> dict[str, Any]:
    """Stats of an outbox that does not exist yet."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    return {
        "path": str(path),
        "exists": False,
        "depth": 0,
        "bytes": 0,
        "payload_bytes": 0,
        "file_bytes": 0,
        "free_disk_bytes": free_disk(directory),
        "oldest_age_s": None,
        "oldest_row_id": None,
        "newest_row_id": None,
        "unclaimed": 0,
        "drops": {"total": 0, **dict.fromkeys(DROP_REASONS, 0)},
        "last_stored": None,
        "recovered_from": None,
        "limits": limits,
        "uplinks": {},
    }


def last_boot(path: Path) -> int:
    """The highest boot whose reports the outbox at ``path`` holds or held; 0 when there is
    no readable outbox. Read-only, without the outbox's lock (before the service opens it).
    """
    if not path.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=2.0)
    except sqlite3.Error:
        return 0
    try:
        found = [
            conn.execute("SELECT max(boot) FROM reports").fetchone()[0],
            meta_get(conn, "last_boot"),
        ]
    except sqlite3.Error:
        return 0  # damaged or not an outbox: it is moved aside and salvaged at open
    finally:
        conn.close()
    return max((int(b) for b in found if isinstance(b, int)), default=0)


def read_stats(path: Path, limits: dict[str, Any]) -> dict[str, Any]:
    """Stats of the outbox at ``path`` read from another process, without writing to it.

    Opens the file read-only (``mode=ro``): a running service is never blocked, and a
    missing outbox is not created. Raises :class:`StorageError` when it cannot be read.
    """
    if not path.exists():
        return empty_stats(path, limits)
    uri = f"file:{path}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=2.0)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the outbox {path}: {exc}") from None
    try:
        conn.execute("PRAGMA busy_timeout=2000")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            raise StorageError(f"{path} is not an outbox of this gateway version")
        stats = collect_stats(conn, path, limits, None)
        stats["exists"] = True
        return stats
    except sqlite3.Error as exc:
        raise StorageError(
            f"cannot read the outbox {path}: {exc} (is it damaged, or not readable by this user?)"
        ) from None
    finally:
        conn.close()
