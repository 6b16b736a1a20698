"""Outbox bounds: bytes, age, refusing the newest, the free-disk reserve; drops are counted
per uplink and survive restarts."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.outbox.config import OutboxConfig
from gateway.outbox.db import free_disk
from gateway.outbox.store import OutboxFullError
from tests.gateway.outbox_helpers import everything, fields, open_outbox, vehicles_only

SMALL = 64 * 1024


def test_at_max_bytes_the_oldest_go_and_each_drop_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    uplinks = {"all": everything, "cars": vehicles_only}
    total = 1500
    with open_outbox(path, uplinks=uplinks, max_bytes=SMALL) as outbox:
        for n in range(total):
            outbox.store(fields("vehicle" if n % 2 else "footstep"))
            if n % 250 == 0:
                assert outbox.stats()["bytes"] <= SMALL
        stats = outbox.stats()
        kept = [row.report["seq"] for row in outbox.pending("all", total)]
        cars = [row.report["seq"] for row in outbox.pending("cars", total)]
    assert stats["bytes"] <= SMALL
    assert 0 < stats["depth"] < total
    # The newest survive, without holes: the oldest went first.
    assert kept == list(range(total - len(kept) + 1, total + 1))
    assert cars == [seq for seq in kept if seq % 2 == 0]
    dropped = total - stats["depth"]
    assert stats["drops"]["max_bytes"] == dropped == stats["drops"]["total"]
    assert stats["uplinks"]["all"]["dropped"] == dropped
    assert stats["uplinks"]["cars"]["dropped"] == total // 2 - len(cars)
    # The counts are in the file: a restart (and another process) sees them.
    with open_outbox(path, boot=2, uplinks=uplinks, max_bytes=SMALL) as outbox:
        again = outbox.stats()
    assert again["drops"] == stats["drops"]
    assert again["uplinks"]["all"]["dropped"] == dropped


def test_acked_reports_are_not_counted_as_drops(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite", max_bytes=SMALL) as outbox:
        for _ in range(1000):
            outbox.store(fields())
            outbox.ack("a", [row.row_id for row in outbox.pending("a", 10)])
        stats = outbox.stats()
    assert stats["drops"]["total"] == 0
    assert stats["uplinks"]["a"]["delivered"] == 1000
    assert stats["depth"] == 0


def test_drop_newest_keeps_the_backlog_and_refuses_new_reports(tmp_path: Path) -> None:
    uplinks = {"all": everything, "cars": vehicles_only}
    with open_outbox(tmp_path / "o.sqlite", uplinks=uplinks, max_bytes=SMALL, drop="newest") as o:
        refused: list[OutboxFullError] = []
        stored = []
        for n in range(600):
            try:
                stored.append(o.store(fields("vehicle" if n % 2 else "footstep"))["seq"])
            except OutboxFullError as exc:
                refused.append(exc)
        assert refused, "the bound was never reached"
        stats = o.stats()
        # The oldest are all there; every refused report used its seq (a visible hole).
        assert [row.report["seq"] for row in o.pending("all", 1000)] == stored
        assert stored == list(range(1, len(stored) + 1))
        assert [exc.report["seq"] for exc in refused] == list(range(len(stored) + 1, 601))
        assert stats["drops"]["refused"] == len(refused) == stats["uplinks"]["all"]["dropped"]
        assert stats["uplinks"]["cars"]["dropped"] == sum(
            1 for exc in refused if exc.report["class"] == "vehicle"
        )
        # Delivering makes room again.
        o.ack("all", [row.row_id for row in o.pending("all", 1000)])
        o.ack("cars", [row.row_id for row in o.pending("cars", 1000)])
        assert o.store(fields())["seq"] == 601


def _backdate(path: Path, seconds: float, *, upto_row: int) -> None:
    # Another connection plays "the unit was off for a while".
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "UPDATE reports SET stored_at = stored_at - ? WHERE row_id <= ?", (seconds, upto_row)
    )
    conn.close()


def test_reports_older_than_max_age_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, max_age="1d") as outbox:
        for _ in range(10):
            outbox.store(fields())
        rows = outbox.pending("a", 10)
    _backdate(path, 2 * 86400, upto_row=rows[3].row_id)
    with open_outbox(path, boot=2, max_age="1d") as outbox:
        before = outbox.stats()
        assert before["oldest_age_s"] > 86400
        outbox.store(fields())
        stats = outbox.stats()
        left = [row.report["seq"] for row in outbox.pending("a", 100)]
    assert stats["drops"]["max_age"] == 4
    assert stats["uplinks"]["a"]["dropped"] == 4
    assert left == [5, 6, 7, 8, 9, 10, 1]
    assert stats["oldest_age_s"] < 60


def test_reports_stored_with_an_unset_clock_are_not_aged_out(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, max_age="1h") as outbox:
        for _ in range(3):
            outbox.store(fields())
        first = outbox.pending("a", 1)[0].row_id
    # Stored "in 1970": the unit had no RTC. Their age is unknown, so they stay.
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE reports SET stored_at = 120.0 WHERE row_id = ?", (first,))
    conn.close()
    with open_outbox(path, boot=2, max_age="1h") as outbox:
        outbox.store(fields())
        stats = outbox.stats()
    assert stats["drops"]["total"] == 0 and stats["depth"] == 4
    assert stats["oldest_age_s"] is None


def test_free_disk_reserve_stops_growth_and_drops_the_oldest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path) as outbox:
        for _ in range(300):
            outbox.store(fields())
    size = path.stat().st_size
    # A reserve larger than the disk's free space: the outbox may not grow at all.
    reserve = free_disk(tmp_path) + 64 * 1024**2
    caplog.set_level(logging.INFO, logger="gateway.outbox.bounds")
    with open_outbox(path, boot=2, min_free_bytes=reserve) as outbox:
        for _ in range(600):
            outbox.store(fields())
        stats = outbox.stats()
        assert stats["bytes"] <= size
        assert stats["drops"]["min_free"] > 0
        assert stats["drops"]["min_free"] == stats["uplinks"]["a"]["dropped"]
        assert stats["depth"] + stats["drops"]["total"] == 900
        newest = outbox.pending("a", 1, newest_first=True)[0].report
        assert (newest["boot"], newest["seq"]) == (2, 600)
    assert "less than max_bytes" in caplog.text
    # The file itself did not grow (pages of dropped reports were reused).
    assert path.stat().st_size <= size


def test_ballast_is_kept_beside_the_outbox_and_removed_when_off(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ballast = path.with_name("o.sqlite.ballast")
    size = 2 * 1024 * 1024
    with open_outbox(path, ballast_bytes=size) as outbox:
        outbox.store(fields())
        assert ballast.stat().st_size == size
        assert os.stat(ballast).st_blocks * 512 >= size  # really allocated
    with open_outbox(path, boot=2, ballast_bytes=0) as outbox:
        outbox.store(fields())
    assert not ballast.exists()


@pytest.mark.parametrize(
    ("given", "max_bytes", "max_age"),
    [
        ({"max_bytes": "64MiB", "max_age": "7d"}, 64 * 1024**2, 7 * 86400.0),
        ({"max_bytes": "500kB", "max_age": "90s"}, 500_000, 90.0),
        ({"max_bytes": 1048576, "max_age": 3600}, 1048576, 3600.0),
        ({"max_bytes": "1GB", "max_age": "2w"}, 10**9, 14 * 86400.0),
        ({"max_bytes": "1.5 MiB", "max_age": "0"}, 1572864, 0.0),
    ],
)
def test_config_sizes_and_durations(
    given: dict[str, object], max_bytes: int, max_age: float
) -> None:
    config = OutboxConfig.model_validate(given)
    assert (config.max_bytes, config.max_age) == (max_bytes, max_age)


@pytest.mark.parametrize(
    "given",
    [
        {"max_bytes": "lots"},
        {"max_bytes": "10 parsecs"},
        {"max_bytes": 1000},  # below the 64 KiB minimum
        {"max_age": "-5s"},
        {"max_age": "soon"},
        {"drop": "random"},
        {"max_byte": "1MB"},
        {"max_bytes": True},
    ],
)
def test_bad_outbox_config_is_refused(given: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        OutboxConfig.model_validate(given)


def test_outbox_path_defaults_to_the_state_dir(tmp_path: Path) -> None:
    assert OutboxConfig().resolve_path(tmp_path) == tmp_path / "outbox.sqlite"
    assert OutboxConfig(path=tmp_path / "x.db").resolve_path(Path("/nowhere")) == tmp_path / "x.db"
