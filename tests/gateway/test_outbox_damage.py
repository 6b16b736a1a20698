"""A damaged outbox file is moved aside with a clear log line, a new one is started, the
gateway keeps running, and every report that can still be read is kept."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.detection_report import validate_report
from gateway.outbox import salvage
from gateway.outbox.store import Outbox
from tests.gateway.outbox_helpers import everything, fields, open_outbox, vehicles_only

UPLINKS = {"all": everything, "cars": vehicles_only}
ROOT = Path(__file__).resolve().parents[2]
STORED = 400


def fill(path: Path) -> None:
    """400 reports; every third one a vehicle; the first 50 delivered to "all"."""
    with open_outbox(path, uplinks=UPLINKS) as outbox:
        for n in range(STORED):
            outbox.store(fields("vehicle" if n % 3 == 0 else "footstep"))
        outbox.ack("all", [row.row_id for row in outbox.pending("all", 50)])


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def garbage_pages(path: Path) -> None:
    rng = random.Random(7)
    with open(path, "r+b") as f:
        f.seek(4096 * 8)
        f.write(rng.randbytes(4096 * 2))


def not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is a text file, not an outbox\n" * 200)


def header_only(path: Path) -> None:
    # A torn first write: the file ends inside its header.
    data = path.read_bytes()
    path.write_bytes(data[:60])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate_half,
    "garbage": garbage_pages,
    "not-sqlite": not_sqlite,
    "torn-header": header_only,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_file_is_moved_aside_and_readable_reports_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    path = tmp_path / "outbox.sqlite"
    fill(path)
    DAMAGE[damage](path)
    caplog.set_level(logging.WARNING)
    with open_outbox(path, boot=2, uplinks=UPLINKS) as outbox:
        # Still a working outbox, at once: the readable reports are copied meanwhile.
        report = outbox.store(fields())
        assert outbox.wait_salvaged(60)
        assert report["id"].endswith("-2-1")
        all_rows = outbox.pending("all", 1000)
        car_rows = outbox.pending("cars", 1000)
        stats = outbox.stats()
    moved = sorted(tmp_path.glob("outbox.sqlite.corrupt-*"))
    assert len(moved) == 1
    assert f"moved it to {moved[0].name}" in caplog.text
    assert "damaged" in caplog.text
    assert stats["recovered_from"] == moved[0].name
    # Whatever survived is intact and queued again; vehicles still wait for "cars". Where
    # the pending state itself was readable, reports acked by "all" before the damage are
    # not sent to it again (else they may be, with the same id).
    old_all = [r.report["seq"] for r in all_rows if r.report["boot"] == 1]
    old_cars = [r.report["seq"] for r in car_rows if r.report["boot"] == 1]
    if damage == "garbage":
        assert all(seq > 50 for seq in old_all)
    assert all((seq - 1) % 3 == 0 for seq in old_cars)
    assert set(old_cars) <= set(old_all) | set(range(1, 51))
    for row in all_rows + car_rows:
        assert validate_report(row.report) == row.report
    if damage in ("truncated", "garbage"):
        assert len(old_all) > 100, "most of a partly damaged file is kept"
    else:
        assert old_all == []


def test_garbage_in_the_log_is_ignored_and_the_file_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    fill(path)
    path.with_name("outbox.sqlite-wal").write_bytes(random.Random(3).randbytes(40_000))
    with open_outbox(path, boot=2, uplinks=UPLINKS) as outbox:
        assert len(outbox.pending("all", 1000)) == STORED - 50
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_empty_file_is_a_new_outbox(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(b"")
    with open_outbox(path) as outbox:
        assert outbox.store(fields())["seq"] == 1


def test_damage_found_while_running_starts_a_new_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"
    caplog.set_level(logging.WARNING)
    with open_outbox(path, uplinks=UPLINKS) as outbox:
        for n in range(300):
            outbox.store(fields("vehicle" if n % 3 == 0 else "footstep"))
        in_flight = outbox.pending("all", 5)
        # Move everything into the main file, then spoil its pages behind SQLite's back; the
        # header write by another connection makes the running one re-read the file.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(random.Random(5).randbytes(path.stat().st_size - 4096))
        other.execute("PRAGMA user_version=1")
        other.close()
        report = outbox.store(fields())
        assert report["seq"] == 301  # no seq lost or reused
        rows = outbox.pending("all", 1000)
        assert rows[-1].report["seq"] == 301
        # Row ids go on past the old file's: a late PUBACK for an old row hits nothing.
        assert rows[-1].row_id > in_flight[-1].row_id
        outbox.ack("all", [row.row_id for row in in_flight])
        assert [row.report["seq"] for row in outbox.pending("all", 1000)] == [301]
    assert "SQLite reports damage" in caplog.text
    assert len(list(tmp_path.glob("outbox.sqlite.corrupt-*"))) == 1


def test_only_the_newest_damaged_copies_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    for boot in range(1, 6):
        not_sqlite(path)
        with open_outbox(path, boot=boot) as outbox:
            outbox.store(fields())
    copies = [p for p in tmp_path.glob("outbox.sqlite.corrupt-*") if not p.name.endswith("-wal")]
    assert len(copies) == 3


def test_a_report_whose_text_was_damaged_is_dropped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite"
    with open_outbox(path, uplinks=UPLINKS) as outbox:
        for n in range(6):
            outbox.store(fields("vehicle" if n % 3 == 0 else "footstep"))
        victim = outbox.pending("all", 6)[3].row_id  # seq 4, a vehicle
        other = sqlite3.connect(path, isolation_level=None)
        other.execute('UPDATE reports SET body = \'{"v": 1, "id\' WHERE row_id = ?', (victim,))
        other.close()
        assert [r.report["seq"] for r in outbox.pending("all", 10)] == [1, 2, 3, 5, 6]
        assert [r.report["seq"] for r in outbox.pending("cars", 10)] == [1]
        stats = outbox.stats()
    assert stats["drops"]["damaged"] == 1
    assert stats["uplinks"]["all"]["dropped"] == stats["uplinks"]["cars"]["dropped"] == 1
    assert "unreadable" in caplog.text


def bulk(path: Path, count: int, *, uplinks: dict[str, Any] | None = None) -> None:
    """An outbox of ``count`` reports, most of them copies made in SQL (fast)."""
    with open_outbox(path, uplinks=UPLINKS if uplinks is None else uplinks) as outbox:
        for n in range(10):
            outbox.store(fields("vehicle" if n % 3 == 0 else "footstep"))
    conn = sqlite3.connect(path, isolation_level=None)
    with conn:
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 11 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO reports(row_id, boot, seq, stored_at, size, body, claimed) "
            "SELECT n.i, t.boot, n.i, t.stored_at, t.size, "
            "json_set(t.body, '$.seq', n.i, '$.id', 'ugs-0007-1-' || n.i), t.claimed "
            "FROM n, (SELECT * FROM reports ORDER BY row_id LIMIT 1) AS t",
            (count,),
        )
        conn.execute(
            "INSERT INTO deliveries(uplink, row_id) SELECT u.name, r.row_id FROM reports r, "
            "uplinks u WHERE r.claimed = 1 AND r.row_id > 10"
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_a_large_damaged_file_is_copied_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    total = 60_000
    bulk(path, total)
    garbage_pages(path)
    with open_outbox(path, boot=2, uplinks=UPLINKS) as outbox:
        # The unit works at once: opening and storing do not wait for the copy, and a store
        # made while it runs waits for the batch under way at most (the watchdog would
        # restart a pipeline stuck for 20 s; a start has 180 s). Counted in reports the
        # copy moved on while each store waited, not in seconds: a shared machine may stall
        # any one write.
        waited = []
        while not outbox.wait_salvaged(0) and len(waited) < 200:
            before = copied(outbox)
            outbox.store(fields())
            after = copied(outbox)
            if before is not None and after is not None:
                waited.append(after - before)
        assert outbox.wait_salvaged(120)
        stats = outbox.stats()
        old = [r for r in outbox.pending("all", total + 1000) if r.report["boot"] == 1]
    assert len(waited) >= 20, "the copy was over before the first stores"
    # A store usually waits for no batch or one (the stats read around it may see a second);
    # none waits for a large part of the copy (the whole copy is 120 batches).
    assert statistics.median(waited) <= salvage.BATCH, waited
    assert max(waited) < total / 10, waited
    # Most of the file was readable and is queued again.
    assert len(old) > total * 0.9
    assert stats["depth"] > total * 0.9
    assert stats["salvaging"] is None


def peak_of_copy(path: str) -> None:
    """Open the damaged outbox at ``path``, store while its copy runs, and print the peak
    of Python memory meanwhile (run by :func:`alone`)."""
    tracemalloc.start()
    with open_outbox(Path(path), boot=2, uplinks=UPLINKS) as outbox:
        while not outbox.wait_salvaged(0.01):
            outbox.store(fields())
        print(tracemalloc.get_traced_memory()[1])


def peak_of_claim(path: str) -> None:
    """Open the outbox at ``path`` with uplinks, and print the peak of Python memory while
    it opened and the reports pending for ``all`` (run by :func:`alone`)."""
    tracemalloc.start()
    with open_outbox(Path(path), boot=2, uplinks=UPLINKS) as outbox:
        print(tracemalloc.get_traced_memory()[1], outbox.pending_count("all"))


def alone(function: str, path: Path) -> list[int]:
    """Run one of the functions above in an interpreter of its own and return the numbers it
    printed. Memory is measured there because tracemalloc counts every thread of the
    process: in the test run's own, whatever other tests left running counts too (one run
    of the whole suite on a loaded machine measured 4.1 MiB for a copy that takes 0.4)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {__name__} as t; t.{function}({str(path)!r})"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return [int(word) for word in done.stdout.split()]


def test_a_large_damaged_file_is_copied_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    total = 60_000
    bulk(path, total)
    garbage_pages(path)
    [peak] = alone("peak_of_copy", path)
    # Memory held one batch at a time (every pending id of 60 000 reports for two uplinks,
    # as sets, would take ~8 MB).
    assert peak < 3 * 1024 * 1024, peak
    with open_outbox(path, boot=3, uplinks=UPLINKS) as outbox:
        assert outbox.stats()["salvaging"] is None
        assert outbox.pending_count("all") > total * 0.9


def copied(outbox: Outbox) -> int | None:
    """How many reports the copy out of the damaged file has made so far (None: not running)."""
    salvaging = outbox.stats()["salvaging"]
    return None if salvaging is None else int(salvaging["copied"])


def test_reports_kept_without_uplinks_are_claimed_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    total = 30_000
    bulk(path, total, uplinks={})  # stored while no uplink was configured
    peak, pending = alone("peak_of_claim", path)
    assert pending == total
    # All their bodies at once would be ~10 MB.
    assert peak < 3 * 1024 * 1024, peak


def test_a_salvage_cut_short_by_a_restart_resumes(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    total = 20_000
    bulk(path, total)
    not_sqlite_after = path.read_bytes()
    path.write_bytes(not_sqlite_after[: 4096 * 6] + b"\0" * 4096 + not_sqlite_after[4096 * 7 :])
    with open_outbox(path, boot=2, uplinks=UPLINKS) as outbox:
        outbox.close()  # at once: the copy has barely begun
    with open_outbox(path, boot=3, uplinks=UPLINKS) as outbox:
        assert outbox.wait_salvaged(120)
        old = {r.report["seq"] for r in outbox.pending("all", total + 10) if r.report["boot"] == 1}
    assert len(old) > total * 0.9
