"""The durable outbox: every detection is on disk before any uplink tries to send it.

Contract (relied on by the uplinks and the pipeline)::

    outbox = Outbox(path, config, node="ugs-0007", site="sector-12", boot=next_boot(state_dir),
                    uplinks={"agency-a": accepts_a, "agency-b": accepts_b})
    report = outbox.store(detection_fields(...))     # pipeline thread
    rows = outbox.pending("agency-a", 100, newest_first=False, exclude=in_flight_row_ids)
    outbox.ack("agency-a", [row.row_id for row in acked])  # on PUBACK
    outbox.stats(); outbox.close()

- ``store(fields)`` adds ``v``, ``id``, ``node``, ``site``, ``boot`` and ``seq`` (1, 2, ...
  within this boot, continuing if the same boot reopens the file), validates the report,
  commits it with ``synchronous=FULL`` and only then returns the complete report. A store that
  raises consumed no ``seq``: the next report gets it, so receivers never see a hole for a
  report that was never made. Errors: :class:`ProtocolError` for fields that are not a valid
  report, :class:`OutboxFullError` (``drop = "newest"`` at ``max_bytes``; the report is dropped,
  counted, and its ``seq`` *is* used, so receivers see the hole of a lost report), and
  :class:`StorageError` when the disk refuses it even after dropping old reports.
- ``uplinks`` maps each uplink's name to its share filter: ``accepts(report) -> bool`` is
  called once per report, in ``store``; the report waits for exactly the uplinks that accepted
  it. A filter that raises counts as "no" (a partner must never get what it should not).
  A report no uplink accepts is not stored. With no uplinks at all, reports are kept
  (``unclaimed``, within the bounds) and handed to the first uplinks configured later.
- A new uplink (a name the file has not seen) receives reports stored from then on, plus the
  unclaimed ones; it does not get reports that were meant only for others. An uplink that is
  no longer configured is *released* at open: its pending reports are let go (counted as
  ``released``) so it never pins rows; if it comes back, it starts afresh.
- ``pending(uplink, limit, newest_first=False, exclude=())`` returns up to ``limit`` rows not
  yet acknowledged by that uplink, oldest first (or newest first for live-first sending),
  skipping row ids in ``exclude`` (the uplink's in-flight ones). Reading never moves anything:
  a row stays pending until ``ack`` or a drop, so nothing is skipped and nothing is lost to a
  crash between read and send. Row ids only grow and are never reused.
- ``ack(uplink, row_ids)`` marks rows as carried by that uplink (call it on PUBACK). Unknown
  or already dropped ids are ignored. A report is deleted when every uplink that should carry
  it has acknowledged it. Acks are committed without an fsync of their own (the next store's
  fsync makes them durable); a power cut can therefore resend a few reports, always with the
  same ``id``.
- ``add_listener(fn)``: ``fn(row, uplinks)`` is called in the storing thread after each
  durable store, with the names of the uplinks that should carry it (wake-ups for live-first
  sending). Keep it short; exceptions are logged and ignored.
- Bounds (``OutboxConfig``): at ``max_bytes`` (database pages in use) or with less than
  ``min_free_bytes`` free on the disk, the oldest reports are dropped to make room (or, with
  ``drop = "newest"``, new ones refused); reports older than ``max_age`` are dropped, except
  those stored while the clock was unset (their age is unknown; only the byte bound applies).
  Every drop is counted per uplink that still had the report pending, and by reason, in the
  file (so the counts survive restarts).
- A disk that refuses writes (SQLITE_FULL, ENOSPC, a file size limit) makes ``store`` drop
  the oldest reports, checkpoint and retry, up to the whole backlog; only then it raises
  :class:`StorageError`, and the caller carries on with the next report.
- A damaged file is moved aside (``outbox.sqlite.corrupt-<UTC time>``) and a new one is
  started, at open and whenever SQLite reports corruption at runtime.
- Thread-safe: ``store``, ``pending``, ``ack`` and ``stats`` may be called from any thread.
  One process owns the file (an flock on ``<path>.lock``); other processes read it with
  :func:`gateway.outbox_db.read_stats`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import outbox_db as db
from gateway.errors import StorageError
from gateway.outbox_config import OutboxConfig
from gateway.report import CLOCK_FLOOR_S, build_report

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes a row costs beyond its JSON text (record header, index entries)
AGE_CHECK_S = 1.0
DISK_CHECK_S = 1.0
MEASURE_EVERY = 256  # stores between two exact measurements of the pages in use
FULL_RETRIES = 12
LOG_EVERY_S = 60.0

Filter = Callable[[dict[str, Any]], bool]
Listener = Callable[["OutboxRow", tuple[str, ...]], None]


@dataclass(frozen=True)
class OutboxRow:
    """A stored report; ``row_id`` is what ``ack`` takes (never reused)."""

    row_id: int
    report: dict[str, Any]
    stored_at: float


class OutboxFullError(StorageError):
    """``drop = "newest"`` and the outbox is at its bound: this report was dropped."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


class Outbox:
    def __init__(
        self,
        path: Path,
        config: OutboxConfig,
        *,
        node: str,
        site: str,
        boot: int,
        uplinks: Mapping[str, Filter],
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.node, self.site, self.boot = node, site, boot
        self._filters = dict(uplinks)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._lockfile = self._take_lock()
        self._conn: sqlite3.Connection | None = None
        self._sync_full = True
        self._last_row_id = 0
        self._next_age_check = 0.0
        self._next_disk_check = 0.0
        self._limit_now = config.max_bytes
        self._reserve_logged = False
        self._used = 0
        self._stores_since_measure = MEASURE_EVERY  # measure before the first store
        self._last_drop_log = 0.0
        self._unlogged_drops = 0
        self.unrouted = 0  # reports no uplink accepted (not stored)
        self._seq = 0
        self._open()
        self._seq = self._initial_seq()

    # -- opening -----------------------------------------------------------------------

    def _take_lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(
                f"cannot use the outbox directory {self.path.parent}: {exc.strerror or exc} "
                "(check outbox.path / node.state_dir and their permissions)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(
                f"the outbox {self.path} is in use by another gateway process "
                "(is the service already running?)"
            ) from None
        return fd

    def _open(self, first_row_id: int = 0) -> None:
        self._conn = db.open_outbox_db(self.path, first_row_id=first_row_id)
        self._sync_full = True
        with self._txn():
            self._register_uplinks()
        seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name='reports'").fetchone()
        self._last_row_id = max(self._last_row_id, seq[0] if seq else 0)

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("the outbox is closed")
        return self._conn

    def _initial_seq(self) -> int:
        conn = self._db
        newest = conn.execute(
            "SELECT boot, seq FROM reports ORDER BY row_id DESC LIMIT 1"
        ).fetchone()
        remembered = (db.meta_get(conn, "last_boot"), db.meta_get(conn, "last_seq"))
        candidates = [c for c in (newest, remembered) if c is not None and c[0] is not None]
        if not candidates:
            return 0
        boot, seq = max(tuple(c) for c in candidates)
        if boot == self.boot:
            return int(seq)  # the same boot reopened the file: continue, never reuse a seq
        if boot > self.boot:
            log.error(
                "the outbox holds reports of boot %d but this is boot %d: the boot counter "
                "in node.state_dir went back (was the state dir wiped?); receivers may "
                "discard new reports as duplicates",
                boot,
                self.boot,
            )
        return 0

    def _remember_seq(self, conn: sqlite3.Connection) -> None:
        # Written whenever reports leave the file, so that a reopen within the same boot
        # continues the seq even when every report it stored has gone.
        if self._seq:
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('last_boot', ?), ('last_seq', ?)",
                (self.boot, self._seq),
            )

    def _register_uplinks(self) -> None:
        conn, now = self._db, time.time()
        known = {
            name: removed for name, removed in conn.execute("SELECT name, removed_at FROM uplinks")
        }
        for name in self._filters:
            if name not in known:
                conn.execute("INSERT INTO uplinks(name, added_at) VALUES(?, ?)", (name, now))
                log.info("outbox: new uplink %s receives reports from now on", name)
            elif known[name] is not None:
                conn.execute(
                    "UPDATE uplinks SET removed_at=NULL, added_at=? WHERE name=?", (now, name)
                )
        for name, removed in known.items():
            if name in self._filters or removed is not None:
                continue
            cur = conn.execute("DELETE FROM deliveries WHERE uplink=?", (name,))
            conn.execute(
                "UPDATE uplinks SET removed_at=?, released=released+? WHERE name=?",
                (now, cur.rowcount, name),
            )
            log.warning(
                "outbox: uplink %s is no longer configured: released its %d pending reports",
                name,
                cur.rowcount,
            )
        if self._filters:
            self._claim_unclaimed()

    def _claim_unclaimed(self) -> None:
        conn = self._db
        rows = conn.execute(
            "SELECT row_id, body FROM reports r WHERE NOT EXISTS "
            "(SELECT 1 FROM deliveries d WHERE d.row_id = r.row_id) ORDER BY row_id"
        ).fetchall()
        orphans = []
        for row_id, body in rows:
            targets = self._targets(json.loads(body))
            conn.executemany(
                "INSERT INTO deliveries(uplink, row_id) VALUES(?, ?)",
                [(name, row_id) for name in targets],
            )
            if not targets:
                orphans.append((row_id,))
        conn.executemany("DELETE FROM reports WHERE row_id=?", orphans)
        if rows:
            log.info(
                "outbox: %d reports kept while no uplink was configured are now queued",
                len(rows) - len(orphans),
            )

    # -- transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self, *, durable: bool = True) -> Any:
        conn = self._db
        if durable != self._sync_full:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._sync_full = durable
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _recover(self, exc: BaseException) -> None:
        """The file went bad under us: move it aside and continue in a new one."""
        log.error("outbox: SQLite reports damage (%s)", exc)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if self.path.exists():
            db.move_aside(self.path, str(exc))
        self._open(first_row_id=self._last_row_id)
        with self._txn():
            db.meta_add(self._db, "recoveries", 1)
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('recovered_from', ?)",
                (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),),
            )

    # -- storing -----------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def _targets(self, report: dict[str, Any]) -> tuple[str, ...]:
        chosen = []
        for name, accepts in self._filters.items():
            try:
                if accepts(report):
                    chosen.append(name)
            except Exception:
                log.exception("share filter of uplink %s failed; not sending it this report", name)
        return tuple(chosen)

    def store(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Store one detection durably; return the complete report (see the module doc)."""
        with self._lock:
            seq = self._seq + 1
            report = build_report(fields, node=self.node, site=self.site, boot=self.boot, seq=seq)
            targets = self._targets(report)
            if self._filters and not targets:
                self._seq = seq
                self.unrouted += 1
                return report
            body = json.dumps(report, separators=(",", ":"), ensure_ascii=False)
            row = self._store_retrying(report, body, targets)
            self._seq = seq
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(row, targets)
            except Exception:
                log.exception("outbox listener failed")
        return report

    def _store_retrying(
        self, report: dict[str, Any], body: str, targets: tuple[str, ...]
    ) -> OutboxRow:
        recovered = False
        for attempt in range(FULL_RETRIES + 1):
            try:
                return self._insert(report, body, targets)
            except OutboxFullError:
                self._seq += 1  # a refused report is a lost report: its seq stays used
                raise
            except sqlite3.Error as exc:
                if db.is_damage(exc) and not recovered:
                    recovered = True
                    self._recover(exc)
                    continue
                if not db.is_full(exc) or attempt == FULL_RETRIES:
                    raise StorageError(f"cannot store report in {self.path}: {exc}") from None
                if not self._make_room_after_full(exc, attempt):
                    raise StorageError(
                        f"the disk holding {self.path} is full and the outbox is empty: "
                        f"report not stored ({exc}); free some space"
                    ) from None
        raise AssertionError("unreachable")

    def _insert(self, report: dict[str, Any], body: str, targets: tuple[str, ...]) -> OutboxRow:
        data_size = len(body.encode())
        # What the row can add to the pages in use: an upper bound, refreshed from SQLite's
        # own page counts whenever it says the bound is near.
        cost = data_size + ROW_OVERHEAD + sum(len(name) + 16 for name in targets)
        now = time.time()
        with self._txn() as conn:
            self._drop_expired(conn, now)
            self._make_room(conn, cost, report, targets)
            cur = conn.execute(
                "INSERT INTO reports(boot, seq, stored_at, size, body) VALUES(?, ?, ?, ?, ?)",
                (report["boot"], report["seq"], now, data_size, body),
            )
            row_id = int(cur.lastrowid or 0)
            for name in targets:
                conn.execute("INSERT INTO deliveries(uplink, row_id) VALUES(?, ?)", (name, row_id))
        self._used += cost
        self._stores_since_measure += 1
        self._last_row_id = row_id
        return OutboxRow(row_id, report, now)

    def _drop_expired(self, conn: sqlite3.Connection, now: float) -> None:
        if self.config.max_age <= 0 or now < self._next_age_check:
            return
        self._next_age_check = now + AGE_CHECK_S
        cutoff = now - self.config.max_age
        # Rows are appended in time order; walk from the oldest until one is young enough.
        # Rows stored with an unset clock (before the floor) have no known age: kept.
        first_kept = conn.execute(
            "SELECT row_id FROM reports WHERE NOT (stored_at < ? AND stored_at >= ?) "
            "ORDER BY row_id LIMIT 1",
            (cutoff, CLOCK_FLOOR_S),
        ).fetchone()
        last = (first_kept[0] - 1) if first_kept else self._last_row_id
        oldest = conn.execute("SELECT min(row_id) FROM reports").fetchone()[0]
        if oldest is not None and last >= oldest:
            self._drop_through(conn, last, "max_age")

    def _limit(self, now: float) -> int:
        """The byte bound now: max_bytes, lowered so the disk keeps min_free_bytes free.

        The free space is looked at once a second: between two looks the outbox writes far
        less than any sensible reserve.
        """
        if now >= self._next_disk_check:
            self._next_disk_check = now + DISK_CHECK_S
            limit = self.config.max_bytes
            free = db.free_disk(self.path.parent)
            if free < self.config.min_free_bytes + limit:
                # Pages already in the file are reused; only growth eats into the reserve.
                file_size = self.path.stat().st_size
                limit = min(limit, file_size + max(0, free - self.config.min_free_bytes))
                if limit < self.config.max_bytes and not self._reserve_logged:
                    log.warning(
                        "outbox: less than min_free_bytes=%d free on the disk of %s: the "
                        "outbox is held at %d bytes",
                        self.config.min_free_bytes,
                        self.path,
                        limit,
                    )
                self._reserve_logged = limit < self.config.max_bytes
            self._limit_now = limit
        return self._limit_now

    def _make_room(
        self,
        conn: sqlite3.Connection,
        cost: int,
        report: dict[str, Any],
        targets: tuple[str, ...],
    ) -> None:
        limit = self._limit(time.time())
        if self._used + cost <= limit and self._stores_since_measure < MEASURE_EVERY:
            return
        self._used = db.used_bytes(conn)
        self._stores_since_measure = 0
        batch = 16
        while self._used + cost > limit:
            oldest = conn.execute("SELECT min(row_id) FROM reports").fetchone()[0]
            if oldest is None:
                return  # nothing left to drop: let SQLite try
            if self.config.drop == "newest":
                self._count_refused(conn, targets)
                raise OutboxFullError(
                    f"outbox at its bound ({limit} bytes): report {report['id']} dropped "
                    "(drop = newest)",
                    report,
                )
            last = conn.execute(
                "SELECT row_id FROM reports ORDER BY row_id LIMIT 1 OFFSET ?", (batch - 1,)
            ).fetchone()
            self._drop_through(conn, last[0] if last else self._last_row_id, "max_bytes")
            self._used = db.used_bytes(conn)
            batch *= 2

    def _count_refused(self, conn: sqlite3.Connection, targets: tuple[str, ...]) -> None:
        conn.executemany(
            "UPDATE uplinks SET dropped = dropped + 1 WHERE name=?", [(n,) for n in targets]
        )
        db.meta_add(conn, "dropped_refused", 1)
        # Commit the counts even though the report is refused.
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        self._note_drops(1, "refused")

    def _drop_through(self, conn: sqlite3.Connection, last_row_id: int, reason: str) -> int:
        """Drop every report with ``row_id <= last_row_id``, counting them per uplink."""
        conn.execute(
            "UPDATE uplinks SET dropped = dropped + (SELECT count(*) FROM deliveries d "
            "WHERE d.uplink = uplinks.name AND d.row_id <= ?)",
            (last_row_id,),
        )
        conn.execute("DELETE FROM deliveries WHERE row_id <= ?", (last_row_id,))
        n = conn.execute("DELETE FROM reports WHERE row_id <= ?", (last_row_id,)).rowcount
        db.meta_add(conn, f"dropped_{reason}", n)
        self._remember_seq(conn)
        self._note_drops(n, reason)
        return n

    def _note_drops(self, n: int, reason: str) -> None:
        self._unlogged_drops += n
        now = time.monotonic()
        if self._unlogged_drops and now - self._last_drop_log >= LOG_EVERY_S:
            log.warning(
                "outbox: dropped %d reports (%s; limits: max_bytes=%d, max_age=%gs, "
                "min_free_bytes=%d); see `ugs-gateway outbox stats`",
                self._unlogged_drops,
                reason,
                self.config.max_bytes,
                self.config.max_age,
                self.config.min_free_bytes,
            )
            self._last_drop_log = now
            self._unlogged_drops = 0

    def _make_room_after_full(self, exc: BaseException, attempt: int) -> bool:
        """The disk refused a write: free pages by dropping the oldest; False if none left."""
        log.warning("outbox: the disk refused a write (%s); dropping the oldest reports", exc)
        conn = self._db
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(RESTART)")
        oldest = conn.execute("SELECT min(row_id) FROM reports").fetchone()[0]
        if oldest is None:
            return False
        batch = 16 << attempt
        last = conn.execute(
            "SELECT row_id FROM reports ORDER BY row_id LIMIT 1 OFFSET ?", (batch - 1,)
        ).fetchone()
        try:
            with self._txn():
                self._drop_through(conn, last[0] if last else self._last_row_id, "disk_full")
        except sqlite3.Error as again:
            if not db.is_full(again):
                raise
            log.warning("outbox: even dropping reports failed on the full disk (%s)", again)
        return True

    # -- delivery ----------------------------------------------------------------------

    def pending(
        self,
        uplink: str,
        limit: int,
        *,
        newest_first: bool = False,
        exclude: Collection[int] = (),
    ) -> list[OutboxRow]:
        """Up to ``limit`` reports not yet acknowledged by ``uplink`` (see the module doc)."""
        if uplink not in self._filters:
            raise KeyError(f"unknown uplink {uplink!r}")
        if limit <= 0:
            return []
        order = "DESC" if newest_first else "ASC"
        skip = set(exclude)
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT r.row_id, r.body, r.stored_at FROM deliveries d "
                    "JOIN reports r ON r.row_id = d.row_id WHERE d.uplink = ? "
                    f"ORDER BY d.row_id {order} LIMIT ?",
                    (uplink, limit + len(skip)),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                if not db.is_damage(exc):
                    raise StorageError(f"cannot read the outbox {self.path}: {exc}") from None
                self._recover(exc)
                return []
        out = []
        for row_id, body, stored_at in rows:
            if row_id in skip:
                continue
            out.append(OutboxRow(row_id, json.loads(body), stored_at))
            if len(out) == limit:
                break
        return out

    def pending_count(self, uplink: str) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT count(*) FROM deliveries WHERE uplink = ?", (uplink,)
                ).fetchone()[0]
            )

    def ack(self, uplink: str, row_ids: Iterable[int]) -> None:
        """``uplink``'s broker has these rows (PUBACK); delete reports nobody still needs."""
        ids = sorted(set(row_ids))
        if not ids or uplink not in self._filters:
            return
        with self._lock:
            try:
                with self._txn(durable=False) as conn:
                    acked = 0
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        marks = ",".join("?" * len(chunk))
                        acked += conn.execute(
                            f"DELETE FROM deliveries WHERE uplink = ? AND row_id IN ({marks})",
                            (uplink, *chunk),
                        ).rowcount
                        conn.execute(
                            f"DELETE FROM reports WHERE row_id IN ({marks}) AND NOT EXISTS "
                            "(SELECT 1 FROM deliveries d WHERE d.row_id = reports.row_id)",
                            chunk,
                        )
                    conn.execute(
                        "UPDATE uplinks SET delivered = delivered + ?, last_ack_at = ? "
                        "WHERE name = ?",
                        (acked, time.time(), uplink),
                    )
                    self._remember_seq(conn)
            except sqlite3.DatabaseError as exc:
                if db.is_damage(exc):
                    self._recover(exc)
                    return
                # An ack that cannot be written only means a resend (same id) later.
                log.warning("outbox: could not record acks for %s: %s", uplink, exc)

    # -- status ------------------------------------------------------------------------

    def limits(self) -> dict[str, Any]:
        return limits_of(self.config)

    def stats(self) -> dict[str, Any]:
        """Depth, bytes, oldest age, drops, and per uplink pending/cursor/delivered/dropped."""
        with self._lock:
            stats = db.collect_stats(self._db, self.path, self.limits(), set(self._filters))
        stats.update(exists=True, boot=self.boot, seq=self._seq, unrouted=self.unrouted)
        return stats

    @property
    def uplinks(self) -> tuple[str, ...]:
        return tuple(self._filters)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error), self._txn():
                    self._remember_seq(self._db)
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._conn.close()
                self._conn = None
            if self._lockfile >= 0:
                os.close(self._lockfile)
                self._lockfile = -1

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def limits_of(config: OutboxConfig) -> dict[str, Any]:
    return {
        "max_bytes": config.max_bytes,
        "max_age_s": config.max_age,
        "drop": config.drop,
        "min_free_bytes": config.min_free_bytes,
    }
