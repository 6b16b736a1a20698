"""The durable outbox: every detection is on disk before any uplink tries to send it.

Contract (relied on by the uplinks and the pipeline)::

    outbox = Outbox(path, config, node="ugs-0007", site="sector-12", boot=next_boot(state_dir),
                    uplinks={"agency-a": accepts_a, "agency-b": accepts_b})
    report = outbox.store(detection_fields(...))     # pipeline thread
    rows = outbox.pending("agency-a", 100, exclude=in_flight_row_ids, after=last_row_id_sent)
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
- ``pending(uplink, limit, newest_first=False, exclude=(), after=0)`` returns up to ``limit``
  rows not yet acknowledged by that uplink, oldest first (or newest first for live-first
  sending), skipping row ids in ``exclude`` (the uplink's in-flight ones) and those not above
  ``after`` (a reader that has sent everything up to a row id continues from there instead
  of reading its own in-flight rows again). Reading never moves anything: a row stays pending
  until ``ack`` or a drop, so nothing is skipped and nothing is lost to a crash between read
  and send. Row ids only grow and are never reused. Each row carries the report both parsed
  (``report``) and as the JSON text that was stored (``body``, to send unchanged).
- ``ack(uplink, row_ids)`` marks rows as carried by that uplink (call it on PUBACK). Unknown
  or already dropped ids are ignored. A report is deleted when every uplink that should carry
  it has acknowledged it. Acks are committed without an fsync of their own (the next store's
  fsync makes them durable); a power cut can therefore resend a few reports, always with the
  same ``id``.
- ``pending_count(uplink)``: how many reports that uplink still has to carry (from memory).
  ``uplinks``: the names the outbox was opened with. ``stats()``: the figures of
  ``ugs-gateway outbox stats`` (``docs/outbox.md``), cheap whatever the backlog.
- ``add_listener(fn)``: ``fn(row, uplinks)`` is called in the storing thread after each
  durable store, with the names of the uplinks that should carry it (wake-ups for live-first
  sending). Keep it short; exceptions are logged and ignored.
- Bounds (``OutboxConfig``): at ``max_bytes`` (database pages in use) or with less than
  ``min_free_bytes`` free on the disk, the oldest reports are dropped to make room (or, with
  ``drop = "newest"``, new ones refused); reports older than ``max_age`` are dropped, except
  those stored while the clock was unset (their age is unknown; only the byte bound applies).
  Every drop is counted per uplink that still had the report pending, and by reason, in the
  file (so the counts survive restarts).
- A full disk (SQLite refuses a write and ``statvfs`` confirms the disk is full) makes
  ``store`` free its ballast file, drop the oldest reports, checkpoint and retry (see
  :mod:`gateway.outbox.bounds`); only when that fails too it raises :class:`StorageError`,
  and the caller carries on with the next report. Any other refused write (EIO from a
  failing card, a file size limit) is an I/O error: the store is retried twice, then
  :class:`StorageError`; it deletes nothing, and ``io_errors`` / ``last_io_error`` in
  ``stats()`` and the log say so.
- ``clock`` is the wall clock (``time.time``); ages and ``stored_at`` are in outbox time
  (:mod:`gateway.outbox.aging`), so a step of the wall clock neither empties the outbox nor
  stops ``max_age``.
- A damaged file is moved aside (``outbox.sqlite.corrupt-<UTC time>``), a new one is
  started and every report still readable in the old one is copied over and queued again
  (:mod:`gateway.outbox.salvage`), at open and whenever SQLite reports corruption at runtime.
- Thread-safe: ``store``, ``pending``, ``ack`` and ``stats`` may be called from any thread.
  One process owns the file (an flock on ``<path>.lock``); other processes read it with
  :func:`gateway.outbox.stats.read_stats`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.detection_report import build_report, format_time
from gateway.errors import StorageError
from gateway.outbox import db, salvage
from gateway.outbox.aging import OutboxClock
from gateway.outbox.bounds import Bounds, OutboxFullError, row_cost
from gateway.outbox.config import OutboxConfig
from gateway.outbox.recipients import delete_unneeded, parse_body, register_uplinks
from gateway.outbox.stats import FILTERED_KEY, Counts, collect_stats, count_all
from gateway.outbox.turns import OutboxLock

__all__ = ["Outbox", "OutboxFullError", "OutboxRow", "limits_of"]

log = logging.getLogger(__name__)

FULL_RETRIES = 8
STUCK_RETRY_S = 5.0
IO_RETRY_DELAYS_S = (0.05, 0.25)  # waits before each retry of a store that met an I/O error
IO_LOG_EVERY_S = 60.0
ACK_CHUNK = 500  # row ids per statement
SALVAGE_PAUSE_S = 0.005  # between two batches copied out of a damaged file

Filter = Callable[[dict[str, Any]], bool]
Listener = Callable[["OutboxRow", tuple[str, ...]], None]


@dataclass(frozen=True)
class OutboxRow:
    """A stored report; ``row_id`` is what ``ack`` takes (never reused). ``body`` is the
    report's JSON text as stored (compact separators, canonical key order)."""

    row_id: int
    report: dict[str, Any]
    stored_at: float
    body: str


class Outbox:
    """Durable store-and-forward queue of reports, one pending set per uplink.

    ``path`` is the database file, ``boot`` this start's number from
    :func:`gateway.boot.next_boot`, ``uplinks`` each uplink's share filter. Raises
    :class:`StorageError` when the file cannot be used or another process holds it.
    """

    def __init__(
        self,
        path: Path,
        config: OutboxConfig,
        *,
        node: str,
        site: str,
        boot: int,
        uplinks: Mapping[str, Filter],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.config = config
        self.node, self.site, self.boot = node, site, boot
        self._filters = dict(uplinks)
        self._lock = OutboxLock()
        self._listeners: list[Listener] = []
        self._conn: sqlite3.Connection | None = None
        self._sync_full = True
        self._last_row_id = 0
        self._seq = 0
        self._stuck_until = 0.0
        self.unrouted = 0  # reports no uplink accepted (not stored)
        self.io_errors = 0  # writes that failed with an I/O error (retried, nothing dropped)
        self.last_io_error: dict[str, str] | None = None
        self._io_logged_at = -IO_LOG_EVERY_S
        self._filtered_logged_at = -IO_LOG_EVERY_S
        self._filtered_unlogged = 0
        self._clock = OutboxClock(wall=clock)
        # What waits, kept in memory so that stats cost nothing; ``_delta`` collects the
        # changes of the open transaction and is added on commit.
        self._counts = Counts()
        self._delta = Counts()
        self._bounds = Bounds(self.path, config, lambda: self._filters, self._dropped, self._clock)
        self._salvager: threading.Thread | None = None
        self._salvaging: dict[str, Any] | None = None
        self._closing = threading.Event()
        self._lockfile = db.lock_outbox(self.path)
        try:
            self._open()
            self._seq = self._initial_seq()
        except BaseException:
            self.close()
            raise
        self._start_salvage()

    # -- opening -----------------------------------------------------------------------

    def _open(self, first_row_id: int = 0, damaged: Path | None = None) -> None:
        self._conn, moved = db.open_outbox_db(self.path, first_row_id=first_row_id)
        self._sync_full = True
        self._bounds.reset()
        damaged = damaged or moved
        if damaged is not None:
            # Only the counters now: the reports are copied in the background, a batch at a
            # time (see _salvage_all), so a large file neither stalls the unit nor its start.
            with self._txn() as conn:
                salvage.prepare(damaged, conn)
                db.meta_add(conn, "recoveries", 1)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES('recovered_from', ?)",
                    (damaged.name,),
                )
        with self._txn() as conn:
            if register_uplinks(conn, list(self._filters), self._targets):
                self._remember(conn)
        self._last_row_id = max(self._last_row_id, db.last_row_id(self._db))
        self._counts = count_all(self._db)
        newest = self._db.execute(
            "SELECT stored_at FROM reports ORDER BY row_id DESC LIMIT 1"
        ).fetchone()
        self._clock.start(newest[0] if newest else 0.0)

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
        candidates = [tuple(c) for c in (newest, remembered) if c is not None and c[0] is not None]
        if not candidates:
            return 0
        boot, seq = max(candidates)
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

    def _remember(self, conn: sqlite3.Connection) -> None:
        # Written whenever reports leave the file, so that ids handed out stay taken even
        # when every report that carried them has gone.
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES "
            "('last_row_id', ?), ('last_boot', ?), ('last_seq', ?)",
            (self._last_row_id, self.boot, self._seq),
        )

    def _dropped(self, conn: sqlite3.Connection, gone: Counts) -> None:
        self._remember(conn)
        self._delta.add(gone)

    # -- transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def _txn(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        conn = self._db
        if durable != self._sync_full:
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._sync_full = durable
        conn.execute("BEGIN IMMEDIATE")
        self._delta = Counts()
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        self._counts.add(self._delta)

    def _recover(self, exc: BaseException) -> None:
        """The file went bad under us: move it aside and continue in a new one."""
        log.error("outbox: SQLite reports damage in %s (%s)", self.path, exc)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        moved = db.move_aside(self.path, str(exc)) if self.path.exists() else None
        self._open(first_row_id=self._last_row_id, damaged=moved)
        self._start_salvage()

    # -- salvage -----------------------------------------------------------------------

    def _start_salvage(self) -> None:
        """Copy the reports of damaged files noted in this one, in a thread of its own."""
        with self._lock:
            if self._salvager is not None:
                return  # running: it picks up newly noted files itself
            if not self._salvage_jobs():
                return
            self._salvager = threading.Thread(
                target=self._salvage_all, name="outbox-salvage", daemon=True
            )
            self._salvager.start()

    def _salvage_jobs(self) -> list[tuple[str, int]]:
        rows = self._db.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ? ORDER BY key",
            (salvage.PROGRESS, salvage.PROGRESS[:-1] + chr(ord(salvage.PROGRESS[-1]) + 1)),
        ).fetchall()
        return [(key[len(salvage.PROGRESS) :], int(value or 0)) for key, value in rows]

    def _salvage_all(self) -> None:
        # Ends only with no file left to copy (or at close), clearing _salvager in the same
        # hold of the lock in which it saw none: a file noted meanwhile starts a new thread.
        while not self._closing.is_set():
            try:
                with self._lock:
                    jobs = self._salvage_jobs() if self._conn is not None else []
                    if not jobs:
                        self._salvager = None
                        return
                self._salvage_one(*jobs[0])
            except Exception:
                # The new file or the disk failed: the progress is in the file; try again.
                log.exception("outbox: copying reports out of a damaged file failed; retrying")
                self._closing.wait(STUCK_RETRY_S)

    def _salvage_one(self, name: str, after: int) -> None:
        key = salvage.PROGRESS + name
        damaged = self.path.with_name(name)
        job = salvage.Salvage(damaged, after) if damaged.exists() else None
        try:
            while job is not None and not job.done:
                if self._closing.is_set():
                    return
                with self._lock.background():  # one batch, after any waiting store
                    with self._txn() as conn:
                        self._delta.add(job.step(conn, list(self._filters), self._targets))
                        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (job.after, key))
                    self._salvaging = {
                        "from": name,
                        "row_id": job.after,
                        "copied": job.copied,
                        "unreadable": job.bad,
                    }
                self._closing.wait(SALVAGE_PAUSE_S)  # leaves the disk to the unit a moment
            with self._lock, self._txn() as conn:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))
                self._salvaging = None
        finally:
            if job is not None:
                job.close()
        if job is None:
            log.error("outbox: the damaged file %s is gone; its reports cannot be copied", name)
        else:
            log.warning(
                "outbox: copied %d reports out of the damaged file %s (%d unreadable)",
                job.copied,
                name,
                job.bad,
            )

    def wait_salvaged(self, timeout: float | None = None) -> bool:
        """Wait until every readable report of a damaged file has been copied; True if so."""
        thread = self._salvager
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

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
            try:
                row = self._store_retrying(report, body, targets)
            except OutboxFullError:
                self._seq = seq  # a refused report is a lost report: its seq stays used
                raise
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
        full_attempt = io_attempt = 0
        while True:
            try:
                return self._insert(report, body, targets)
            except OutboxFullError:
                with contextlib.suppress(sqlite3.Error), self._txn(durable=False) as conn:
                    self._bounds.count_refused(conn, targets)
                raise
            except sqlite3.Error as exc:
                if db.is_damage(exc) and not recovered:
                    recovered = True
                    self._recover(exc)
                    continue
                if not (db.is_full(exc) or db.is_io_error(exc)):
                    raise StorageError(f"cannot store a report in {self.path}: {exc}") from None
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                stuck = time.monotonic() < self._stuck_until
                if self._bounds.disk_full():
                    # Only a disk that statvfs confirms full may cost old reports.
                    if (
                        not stuck
                        and full_attempt < FULL_RETRIES
                        and self._bounds.after_full(self._db, self._txn, exc, full_attempt)
                    ):
                        full_attempt += 1
                        continue
                    # Until the disk has room, fail the next stores fast instead of
                    # retrying the whole dance for each of them.
                    self._stuck_until = time.monotonic() + STUCK_RETRY_S
                    raise StorageError(
                        f"the disk holding {self.path} is full even after dropping old "
                        f"reports: report {report['id']} not stored ({exc}); free some space"
                    ) from None
                # Not a full disk: a failing card, a cable, a file size limit. Retried and
                # reported; nothing is deleted for it.
                self._note_io_error(exc)
                if not stuck and io_attempt < len(IO_RETRY_DELAYS_S):
                    time.sleep(IO_RETRY_DELAYS_S[io_attempt])
                    io_attempt += 1
                    continue
                self._stuck_until = time.monotonic() + STUCK_RETRY_S
                raise StorageError(
                    f"cannot write report {report['id']} to {self.path}: {exc} (an I/O error, "
                    "not a full disk: nothing was dropped for it); check the disk "
                    "(`dmesg`, `ugs-gateway outbox stats`)"
                ) from None

    def _note_io_error(self, exc: BaseException) -> None:
        """Count an I/O error for the status, and say so in the log (once a minute)."""
        self.io_errors += 1
        self.last_io_error = {"time": format_time(self._clock.wall()), "error": str(exc)}
        now = time.monotonic()
        if now - self._io_logged_at >= IO_LOG_EVERY_S:
            log.error(
                "outbox: I/O error writing %s: %s (%d so far); the store is retried and no "
                "report is dropped for it; check the disk (dmesg)",
                self.path,
                exc,
                self.io_errors,
            )
            self._io_logged_at = now

    def _insert(self, report: dict[str, Any], body: str, targets: tuple[str, ...]) -> OutboxRow:
        data = body.encode()
        row_id = self._last_row_id + 1
        now = self._clock.now()
        claimed = bool(self._filters)
        with self._txn() as conn:
            self._bounds.make_room(conn, row_cost(len(data), targets), report, targets)
            conn.execute(
                "INSERT INTO reports(row_id, boot, seq, stored_at, size, body, claimed) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)",
                (row_id, report["boot"], report["seq"], now, len(data), body, int(claimed)),
            )
            for name in targets:
                conn.execute("INSERT INTO deliveries(uplink, row_id) VALUES(?, ?)", (name, row_id))
            self._delta.add(Counts(1, len(data), 0 if claimed else 1, dict.fromkeys(targets, 1)))
        self._last_row_id = row_id
        return OutboxRow(row_id, report, now, body)

    # -- delivery ----------------------------------------------------------------------

    def pending(
        self,
        uplink: str,
        limit: int,
        *,
        newest_first: bool = False,
        exclude: Collection[int] = (),
        after: int = 0,
    ) -> list[OutboxRow]:
        """Up to ``limit`` reports not yet acknowledged by ``uplink`` (see the module doc)."""
        if uplink not in self._filters:
            raise KeyError(f"unknown uplink {uplink!r}")
        if limit <= 0:
            return []
        order = "DESC" if newest_first else "ASC"
        skip = {row_id for row_id in exclude if row_id > after}
        accepts = self._filters[uplink]
        out: list[OutboxRow] = []
        unreadable: list[int] = []
        withheld: list[int] = []
        low, high = after, 1 << 62
        # Reports its share filter no longer accepts are let go, not returned: read on
        # until ``limit`` are found or nothing is left.
        while len(out) < limit:
            want = limit - len(out) + len(skip)
            with self._lock:
                try:
                    rows = self._db.execute(
                        "SELECT r.row_id, r.body, r.stored_at FROM deliveries d JOIN reports r "
                        "ON r.row_id = d.row_id WHERE d.uplink = ? AND d.row_id > ? "
                        f"AND d.row_id < ? ORDER BY d.row_id {order} LIMIT ?",
                        (uplink, low, high, want),
                    ).fetchall()
                except sqlite3.DatabaseError as exc:
                    if not db.is_damage(exc):
                        raise StorageError(f"cannot read the outbox {self.path}: {exc}") from None
                    self._recover(exc)
                    return []
            for row_id, body, stored_at in rows:
                if row_id in skip:
                    continue
                report = parse_body(body)
                if report is None:
                    unreadable.append(row_id)
                elif not self._accepted(accepts, report):
                    withheld.append(row_id)
                else:
                    out.append(OutboxRow(row_id, report, stored_at, body))
                    if len(out) == limit:
                        break
            if len(rows) < want or not rows:
                break
            if newest_first:
                high = rows[-1][0]
            else:
                low = rows[-1][0]
        if unreadable:
            self._discard(unreadable)
        if withheld:
            self._withhold(uplink, withheld)
        return out

    @staticmethod
    def _accepted(accepts: Filter, report: dict[str, Any]) -> bool:
        try:
            return bool(accepts(report))
        except Exception:
            return False  # as at store time: a partner must never get what it should not

    def _withhold(self, uplink: str, row_ids: list[int]) -> None:
        """Reports stored for ``uplink`` that its share filter no longer accepts (narrowed
        since): let go for that uplink without sending, and counted (``filtered``)."""
        with self._lock:
            try:
                with self._txn(durable=False) as conn:
                    gone = self._release(conn, uplink, row_ids)
                    db.meta_add(conn, FILTERED_KEY + uplink, len(gone))
                    self._remember(conn)
            except sqlite3.DatabaseError as exc:
                if db.is_damage(exc):
                    self._recover(exc)
                    return
                log.warning("outbox: could not let go of filtered reports for %s: %s", uplink, exc)
                return
        self._filtered_unlogged += len(gone)
        now = time.monotonic()
        if now - self._filtered_logged_at >= IO_LOG_EVERY_S:
            log.warning(
                "outbox: %d waiting reports no longer pass the share filter of uplink %s "
                "(narrowed since they were stored): let go without sending",
                self._filtered_unlogged,
                uplink,
            )
            self._filtered_logged_at, self._filtered_unlogged = now, 0

    def _release(self, conn: sqlite3.Connection, uplink: str, ids: list[int]) -> list[int]:
        """Inside a transaction: ``uplink`` no longer has to carry these rows; reports that
        nobody else needs are deleted. Returns the row ids that were pending for it."""
        released: list[int] = []
        for start in range(0, len(ids), ACK_CHUNK):
            chunk = ids[start : start + ACK_CHUNK]
            marks = ",".join("?" * len(chunk))
            released += [
                row_id
                for (row_id,) in conn.execute(
                    f"DELETE FROM deliveries WHERE uplink = ? AND row_id IN ({marks})"
                    " RETURNING row_id",
                    (uplink, *chunk),
                ).fetchall()
            ]
        sizes = delete_unneeded(conn, released, list(self._filters))
        self._delta.add(Counts(-len(sizes), -sum(sizes), 0, {uplink: -len(released)}))
        return released

    def _discard(self, row_ids: list[int]) -> None:
        """Drop reports whose stored text no longer parses (a flipped bit on the card)."""
        log.error(
            "outbox: %d stored reports are unreadable (damaged on disk) and are dropped",
            len(row_ids),
        )
        with self._lock, contextlib.suppress(sqlite3.Error), self._txn() as conn:
            for row_id in row_ids:
                self._bounds.drop_rows(conn, row_id, row_id, "damaged")

    def pending_count(self, uplink: str) -> int:
        """How many reports ``uplink`` still has to carry (from memory: costs nothing)."""
        with self._lock:
            return self._counts.pending.get(uplink, 0)

    def ack(self, uplink: str, row_ids: Iterable[int]) -> None:
        """``uplink``'s broker has these rows (PUBACK); delete reports nobody still needs."""
        ids = sorted(set(row_ids))
        if not ids or uplink not in self._filters:
            return
        with self._lock:
            try:
                with self._txn(durable=False) as conn:
                    acked = self._release(conn, uplink, ids)
                    conn.execute(
                        "UPDATE uplinks SET delivered = delivered + ?, last_ack_at = ? "
                        "WHERE name = ?",
                        (len(acked), time.time(), uplink),
                    )
                    self._remember(conn)
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
            stats = collect_stats(
                self._db,
                self.path,
                self.limits(),
                set(self._filters),
                self._counts,
                now=self._clock.now(),
            )
            stats.update(
                exists=True,
                boot=self.boot,
                seq=self._seq,
                unrouted=self.unrouted,
                io_errors=self.io_errors,
                last_io_error=self.last_io_error,
                salvaging=self._salvaging,
            )
        return stats

    @property
    def uplinks(self) -> tuple[str, ...]:
        return tuple(self._filters)

    def close(self) -> None:
        self._closing.set()
        salvager = self._salvager
        if salvager is not None and salvager is not threading.current_thread():
            salvager.join(30.0)  # ends after its current batch
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error), self._txn():
                    self._remember(self._db)
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
    """The configured bounds, as shown in stats."""
    return {
        "max_bytes": config.max_bytes,
        "max_age_s": config.max_age,
        "drop": config.drop,
        "min_free_bytes": config.min_free_bytes,
        "ballast_bytes": config.ballast_bytes,
    }
