"""Which uplinks an outbox file serves: uplinks added, removed, and reports kept for later.

Run when the outbox opens, inside its transaction:

- an uplink the file has not seen is registered; it receives reports stored from now on;
- an uplink no longer configured is *released*: its pending reports are let go (counted as
  ``released``) and those no other uplink still needs are deleted, so it never pins the
  disk. Coming back later, it starts afresh;
- reports stored while no uplink was configured at all (``claimed = 0``) are queued for the
  uplinks whose share filter accepts them; those nobody wants are deleted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Collection
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 500  # row ids per statement (SQLite's limit on parameters is far above)

Targets = Callable[[dict[str, Any]], tuple[str, ...]]


def parse_body(body: str) -> dict[str, Any] | None:
    """A stored report's JSON, or None when its text no longer parses."""
    try:
        report = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return report if isinstance(report, dict) else None


def delete_unneeded(
    conn: sqlite3.Connection, row_ids: list[int], configured: Collection[str]
) -> list[int]:
    """Delete those of these reports that no configured uplink still has to carry; return
    the sizes of the deleted ones."""
    names = list(configured)
    held = ",".join("?" * len(names))
    sizes: list[int] = []
    for start in range(0, len(row_ids), CHUNK):
        chunk = row_ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        sizes += [
            size
            for (size,) in conn.execute(
                f"DELETE FROM reports WHERE row_id IN ({marks}) AND claimed = 1 AND NOT "
                f"EXISTS (SELECT 1 FROM deliveries d WHERE d.uplink IN ({held}) "
                "AND d.row_id = reports.row_id) RETURNING size",
                (*chunk, *names),
            ).fetchall()
        ]
    return sizes


def register_uplinks(
    conn: sqlite3.Connection, configured: Collection[str], targets: Targets
) -> bool:
    """Bring the file's uplinks in line with ``configured``; True if reports were claimed."""
    now = time.time()
    known = dict(conn.execute("SELECT name, removed_at FROM uplinks").fetchall())
    for name in configured:
        if name not in known:
            conn.execute("INSERT INTO uplinks(name, added_at) VALUES(?, ?)", (name, now))
            log.info("outbox: new uplink %s receives reports from now on", name)
        elif known[name] is not None:
            conn.execute(
                "UPDATE uplinks SET removed_at = NULL, added_at = ? WHERE name = ?", (now, name)
            )
    for name, removed in known.items():
        if name in configured or removed is not None:
            continue
        released = [
            row_id
            for (row_id,) in conn.execute(
                "DELETE FROM deliveries WHERE uplink = ? RETURNING row_id", (name,)
            ).fetchall()
        ]
        conn.execute(
            "UPDATE uplinks SET removed_at = ?, released = released + ? WHERE name = ?",
            (now, len(released), name),
        )
        delete_unneeded(conn, released, configured)
        log.warning(
            "outbox: uplink %s is no longer configured: released its %d pending reports",
            name,
            len(released),
        )
    return bool(configured) and claim_unclaimed(conn, targets)


def claim_unclaimed(conn: sqlite3.Connection, targets: Targets) -> bool:
    """Queue reports kept while no uplink was configured; True if there were any.

    Read :data:`CHUNK` reports at a time, so a large backlog never sits in memory at once.
    """
    claimed = seen = after = 0
    while True:
        rows = conn.execute(
            "SELECT row_id, body FROM reports WHERE claimed = 0 AND row_id > ? "
            "ORDER BY row_id LIMIT ?",
            (after, CHUNK),
        ).fetchall()
        for row_id, body in rows:
            seen += 1
            report = parse_body(body)
            names = () if report is None else targets(report)
            conn.executemany(
                "INSERT INTO deliveries(uplink, row_id) VALUES(?, ?)", [(n, row_id) for n in names]
            )
            if names:
                claimed += 1
                conn.execute("UPDATE reports SET claimed = 1 WHERE row_id = ?", (row_id,))
            else:
                conn.execute("DELETE FROM reports WHERE row_id = ?", (row_id,))
        if len(rows) < CHUNK:
            break
        after = rows[-1][0]
        del rows
    if seen:
        log.info("outbox: %d reports kept while no uplink was configured are queued", claimed)
    return bool(seen)
