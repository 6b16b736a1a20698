"""The outbox's SQLite file: schema, opening with damage recovery, the lock, and the
small queries (sizes, meta counters) shared by the outbox and its statistics.

Tables:

- ``reports(row_id, boot, seq, stored_at, size, body, claimed)``: one row per stored
  report, ``body`` its JSON v1 text, ``claimed`` 0 while it waits for an uplink to be
  configured (stored when there was none). Row ids are assigned by the outbox and never
  reused (the highest one handed out is kept in ``meta`` whenever rows leave), so an
  acknowledgement that arrives late can never hit a newer report. No AUTOINCREMENT and no
  secondary index: each store touches as few pages as possible, which keeps the log small
  and the commit fast.
- ``deliveries(uplink, row_id)``: the pending set, one row per (uplink, report) still to be
  acknowledged by that uplink's broker. A report goes when its last delivery row goes.
- ``uplinks(name, ...)``: per-uplink counters (delivered, dropped, released), persisted so
  that they survive restarts.
- ``meta(key, value)``: drop counters by reason, the last boot/seq/row id handed out,
  recovery notes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from gateway.errors import StorageError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE reports (
    row_id INTEGER PRIMARY KEY,
    boot INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE deliveries (
    uplink TEXT NOT NULL,
    row_id INTEGER NOT NULL,
    PRIMARY KEY (uplink, row_id)
) WITHOUT ROWID;
CREATE TABLE uplinks (
    name TEXT PRIMARY KEY,
    added_at REAL NOT NULL,
    removed_at REAL,
    delivered INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    released INTEGER NOT NULL DEFAULT 0,
    last_ack_at REAL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"""

DROP_REASONS = ("max_bytes", "max_age", "min_free", "disk_full", "refused", "damaged")
WAL_AUTOCHECKPOINT = 256  # pages: keeps the log near 1 MiB, so a nearly full disk can hold it
JOURNAL_SIZE_LIMIT = 2 * 1024 * 1024
KEEP_CORRUPT = 3  # damaged files kept for inspection; older ones are deleted
BUSY_TIMEOUT_MS = 5000

# SQLite primary result codes (extended codes carry them in the low byte).
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26


def error_code(exc: BaseException) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_damage(exc: BaseException) -> bool:
    """The file is not a database or its pages are inconsistent."""
    return error_code(exc) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def is_full(exc: BaseException) -> bool:
    """SQLite says the disk (or a file size limit) refused a write. Whether the disk really
    is full is for ``statvfs`` to say (:meth:`gateway.outbox.bounds.Bounds.disk_full`)."""
    return error_code(exc) == SQLITE_FULL


def is_io_error(exc: BaseException) -> bool:
    """A read, write or sync failed (EIO from a failing card, and some full-disk writes)."""
    return error_code(exc) == SQLITE_IOERR


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _check(conn: sqlite3.Connection) -> str | None:
    """None if the file is a usable outbox, else what is wrong with it."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:3])
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 and not tables:
        return None  # a new, empty file
    if version != SCHEMA_VERSION:
        return f"schema version {version}, this gateway uses {SCHEMA_VERSION}"
    if not {"reports", "deliveries", "uplinks", "meta"} <= tables:
        return "not an outbox database (tables missing)"
    return None


def lock_outbox(path: Path) -> int:
    """Take ``<path>.lock`` (flock): one gateway process per outbox. Returns the fd."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot use the outbox directory {path.parent}: {exc.strerror or exc} "
            "(check outbox.path / node.state_dir and their permissions)"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StorageError(
            f"the outbox {path} is in use by another gateway process "
            "(is the service already running?)"
        ) from None
    return fd


def move_aside(path: Path, reason: str) -> Path:
    """Rename a damaged database (and its WAL) out of the way; return the new name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}.{n}")
    try:
        os.replace(path, target)
        wal = path.with_name(path.name + "-wal")
        if wal.exists():
            # "<moved>-wal" lets the moved file be opened with its log for inspection.
            os.replace(wal, target.with_name(target.name + "-wal"))
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + "-shm").unlink()
    except OSError as exc:
        raise StorageError(
            f"outbox {path} is damaged ({reason}) and cannot be moved aside: "
            f"{exc.strerror or exc}; check the permissions of {path.parent}"
        ) from None
    log.error(
        "outbox %s is damaged (%s): moved it to %s and started a new one; copying the "
        "reports that can still be read",
        path,
        reason,
        target.name,
    )
    _prune_corrupt(path)
    return target


def _prune_corrupt(path: Path) -> None:
    # Repeated damage must not fill the disk with copies.
    old = sorted(
        (p for p in path.parent.glob(f"{path.name}.corrupt-*") if not p.name.endswith("-wal")),
        key=lambda p: p.stat().st_mtime,
    )
    for stale in old[:-KEEP_CORRUPT]:
        for victim in (stale, stale.with_name(stale.name + "-wal")):
            with contextlib.suppress(OSError):
                victim.unlink()


def open_outbox_db(path: Path, *, first_row_id: int = 0) -> tuple[sqlite3.Connection, Path | None]:
    """Open (creating if needed) the outbox at ``path`` in WAL mode with synchronous=FULL.

    A file that is not a usable outbox is moved aside and a new one created; the second
    value is then where the damaged file went (else None). ``first_row_id`` makes a new file
    continue the row ids of one that was lost, so late acknowledgements for the old rows
    cannot match new ones.
    """
    moved: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"cannot create the outbox directory {path.parent}: {exc.strerror or exc}"
        ) from None
    if path.exists() and not path.is_file():
        raise StorageError(f"outbox path {path} is not a file (check outbox.path)")
    for attempt in range(2):
        try:
            conn = _connect(path)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the outbox {path}: {exc}") from None
        try:
            problem = _check(conn)
            if problem is None:
                _prepare(conn, first_row_id)
                return conn, moved
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                conn.close()
                raise StorageError(
                    f"cannot use the outbox {path}: {exc} (check the disk and permissions)"
                ) from None
            problem = str(exc)
        except StorageError:
            conn.close()
            raise
        conn.close()
        if attempt == 0:
            moved = move_aside(path, problem)
    raise StorageError(f"outbox {path} is still unusable after starting a new file")


def _prepare(conn: sqlite3.Connection, first_row_id: int) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        raise StorageError(f"the outbox filesystem does not support WAL (journal mode {mode})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
    conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
        conn.executescript(f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")
    if first_row_id > last_row_id(conn):
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES('last_row_id', ?)", (first_row_id,)
        )


def last_row_id(conn: sqlite3.Connection) -> int:
    """The highest row id ever handed out in this file."""
    newest = conn.execute("SELECT max(row_id) FROM reports").fetchone()[0] or 0
    return max(int(newest), int(meta_get(conn, "last_row_id", 0) or 0))


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of the database's pages that hold data (free pages are reused before growing)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def allocated_bytes(conn: sqlite3.Connection) -> int:
    """Bytes of all the database's pages, free ones included (the file's size)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    return int(conn.execute("PRAGMA page_count").fetchone()[0] * page_size)


def file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += path.with_name(path.name + suffix).stat().st_size
    return total


def free_disk(directory: Path) -> int:
    st = os.statvfs(directory)
    return int(st.f_bavail * st.f_frsize)


def meta_get(conn: sqlite3.Connection, key: str, default: Any = None) -> Any:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return default if row is None else row[0]


def meta_add(conn: sqlite3.Connection, key: str, n: int) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES(?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
        (key, n),
    )
