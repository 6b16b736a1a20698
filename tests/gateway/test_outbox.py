"""The outbox: store, per-uplink pending sets, acks, restarts and uplinks coming and going."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from gateway.errors import ProtocolError, StorageError
from gateway.outbox.stats import read_stats
from gateway.outbox.store import OutboxRow
from tests.gateway.outbox_helpers import NODE, SITE, everything, fields, open_outbox, vehicles_only


def test_store_assigns_identity_and_returns_the_full_report(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite", boot=3) as outbox:
        first = outbox.store(fields())
        second = outbox.store(fields("vehicle", 0.5))
    assert first["id"] == f"{NODE}-3-1" and second["id"] == f"{NODE}-3-2"
    assert (first["node"], first["site"], first["boot"], first["seq"]) == (NODE, SITE, 3, 1)
    assert list(first)[:8] == ["v", "id", "node", "site", "boot", "seq", "class", "conf"]
    assert second["class"] == "vehicle"


def test_pending_then_ack_deletes_and_nothing_is_skipped(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite") as outbox:
        stored = [outbox.store(fields()) for _ in range(10)]
        page = outbox.pending("a", 4)
        assert [row.report["seq"] for row in page] == [1, 2, 3, 4]
        # Reading does not advance anything: the same rows come back until acked.
        assert [row.row_id for row in outbox.pending("a", 4)] == [row.row_id for row in page]
        # An uplink's in-flight rows can be excluded; newest first serves live traffic.
        rest = outbox.pending("a", 100, exclude={row.row_id for row in page})
        assert [row.report["seq"] for row in rest] == list(range(5, 11))
        newest = outbox.pending("a", 2, newest_first=True)
        assert [row.report["seq"] for row in newest] == [10, 9]
        # Acks out of order (a live report acked before the backlog) are fine.
        outbox.ack("a", [newest[0].row_id])
        outbox.ack("a", [row.row_id for row in page])
        left = outbox.pending("a", 100)
        assert [row.report["seq"] for row in left] == list(range(5, 10))
        assert left[0].report == stored[4]
        stats = outbox.stats()
    assert stats["depth"] == 5
    assert stats["uplinks"]["a"]["pending"] == 5
    assert stats["uplinks"]["a"]["delivered"] == 5
    assert stats["uplinks"]["a"]["cursor"] == left[0].row_id


def test_pending_after_a_row_id_and_the_stored_text(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite") as outbox:
        stored = [outbox.store(fields()) for _ in range(10)]
        rows = outbox.pending("a", 10)
        # A reader continues after the last row it sent, its own in-flight rows excluded.
        after = outbox.pending("a", 3, after=rows[3].row_id, exclude={rows[5].row_id})
        assert [row.report["seq"] for row in after] == [5, 7, 8]
        assert outbox.pending("a", 10, after=rows[-1].row_id) == []
        newest = outbox.pending("a", 10, newest_first=True, after=rows[7].row_id)
        assert [row.report["seq"] for row in newest] == [10, 9]
        # Rows left behind below it (an ack never recorded) are still there from the start.
        outbox.ack("a", [row.row_id for row in rows[1:]])
        assert [row.report["seq"] for row in outbox.pending("a", 10)] == [1]
        # Each row carries the stored JSON text: the compact JSON of the report, unchanged.
        first = rows[0]
        assert first.body == json.dumps(stored[0], separators=(",", ":"), ensure_ascii=False)
        assert json.loads(first.body) == first.report == stored[0]


def test_a_row_waits_for_every_uplink_that_should_carry_it(tmp_path: Path) -> None:
    uplinks = {"all": everything, "cars": vehicles_only}
    with open_outbox(tmp_path / "o.sqlite", uplinks=uplinks) as outbox:
        outbox.store(fields("footstep"))
        outbox.store(fields("vehicle"))
        assert [r.report["class"] for r in outbox.pending("cars", 10)] == ["vehicle"]
        assert len(outbox.pending("all", 10)) == 2
        outbox.ack("all", [r.row_id for r in outbox.pending("all", 10)])
        # The footstep is gone (its only uplink acked); the vehicle waits for "cars".
        assert outbox.stats()["depth"] == 1
        outbox.ack("cars", [r.row_id for r in outbox.pending("cars", 10)])
        assert outbox.stats()["depth"] == 0


def test_report_nobody_wants_is_not_stored_but_uses_its_seq(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite", uplinks={"cars": vehicles_only}) as outbox:
        walker = outbox.store(fields("footstep"))
        car = outbox.store(fields("vehicle"))
        assert (walker["seq"], car["seq"]) == (1, 2)
        assert outbox.stats()["depth"] == 1 and outbox.unrouted == 1


def test_failing_share_filter_withholds_the_report(tmp_path: Path) -> None:
    def broken(report: dict[str, object]) -> bool:
        raise RuntimeError("bug in a filter")

    with open_outbox(tmp_path / "o.sqlite", uplinks={"a": everything, "b": broken}) as outbox:
        outbox.store(fields())
        assert len(outbox.pending("a", 10)) == 1
        assert outbox.pending("b", 10) == []


def test_invalid_fields_raise_and_do_not_use_a_seq(tmp_path: Path) -> None:
    with open_outbox(tmp_path / "o.sqlite") as outbox:
        with pytest.raises(ProtocolError, match="conf"):
            outbox.store({**fields(), "conf": 1.5})
        with pytest.raises(ProtocolError, match="class"):
            outbox.store(fields("Foot Step"))
        assert outbox.store(fields())["seq"] == 1


def test_restart_keeps_pending_rows_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, boot=1) as outbox:
        for _ in range(5):
            outbox.store(fields())
        outbox.ack("a", [outbox.pending("a", 1)[0].row_id])
    with open_outbox(path, boot=2) as outbox:
        rows = outbox.pending("a", 10)
        assert [r.report["id"] for r in rows] == [f"{NODE}-1-{n}" for n in range(2, 6)]
        assert outbox.store(fields())["id"] == f"{NODE}-2-1"
        assert outbox.stats()["uplinks"]["a"]["delivered"] == 1


def test_same_boot_reopening_continues_seq_even_when_all_acked(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, boot=4) as outbox:
        for _ in range(3):
            outbox.store(fields())
        outbox.ack("a", [r.row_id for r in outbox.pending("a", 10)])
    with open_outbox(path, boot=4) as outbox:
        assert outbox.store(fields())["seq"] == 4


def test_row_ids_are_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path) as outbox:
        outbox.store(fields())
        last = outbox.pending("a", 1)[0].row_id
        outbox.ack("a", [last])
    with open_outbox(path, boot=2) as outbox:
        outbox.store(fields())
        assert outbox.pending("a", 1)[0].row_id > last


def test_new_uplink_gets_new_reports_removed_uplink_releases(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, uplinks={"a": everything, "old": everything}) as outbox:
        outbox.store(fields())
    with open_outbox(path, boot=2, uplinks={"a": everything, "new": everything}) as outbox:
        assert outbox.pending("new", 10) == []
        outbox.store(fields())
        assert [r.report["boot"] for r in outbox.pending("new", 10)] == [2]
        stats = outbox.stats()
        assert stats["uplinks"]["old"]["released"] == 1
        assert stats["uplinks"]["old"]["configured"] is False
        with pytest.raises(KeyError):
            outbox.pending("old", 10)
        # Once "a" has both, nothing is pinned by the removed uplink.
        outbox.ack("a", [r.row_id for r in outbox.pending("a", 10)])
        outbox.ack("new", [r.row_id for r in outbox.pending("new", 10)])
        assert outbox.stats()["depth"] == 0


def test_releasing_a_removed_uplink_does_not_resend_to_the_others(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, uplinks={"a": everything, "old": everything}) as outbox:
        outbox.store(fields())
        outbox.store(fields())
        outbox.ack("a", [outbox.pending("a", 1)[0].row_id])
    with open_outbox(path, boot=2, uplinks={"a": everything}) as outbox:
        # Report 1 waited only for "old": it is gone. Report 2 still waits for "a".
        assert [r.report["seq"] for r in outbox.pending("a", 10)] == [2]
        assert outbox.stats()["depth"] == 1


def test_in_memory_counts_match_a_full_count(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    uplinks = {"all": everything, "cars": vehicles_only}
    with open_outbox(path, uplinks=uplinks, max_bytes=64 * 1024) as outbox:
        for n in range(900):
            outbox.store(fields("vehicle" if n % 4 == 0 else "footstep"))
            if n % 7 == 0:
                outbox.ack("all", [r.row_id for r in outbox.pending("all", 5, newest_first=True)])
            if n % 11 == 0:
                outbox.ack("cars", [r.row_id for r in outbox.pending("cars", 3)])
        live = outbox.stats()
        assert live["drops"]["max_bytes"] > 0
        scanned = read_stats(path, outbox.limits())
    for key in ("depth", "payload_bytes", "unclaimed"):
        assert live[key] == scanned[key], key
    for name in uplinks:
        assert live["uplinks"][name]["pending"] == scanned["uplinks"][name]["pending"]
        assert live["uplinks"][name]["cursor"] == scanned["uplinks"][name]["cursor"]


def test_reports_kept_without_uplinks_go_to_the_first_configured(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path, uplinks={}) as outbox:
        outbox.store(fields("footstep"))
        outbox.store(fields("vehicle"))
        assert outbox.stats()["unclaimed"] == 2
    with open_outbox(path, boot=2, uplinks={"cars": vehicles_only}) as outbox:
        assert [r.report["class"] for r in outbox.pending("cars", 10)] == ["vehicle"]
        assert outbox.stats()["depth"] == 1


def test_second_process_or_instance_cannot_open_the_same_outbox(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with open_outbox(path), pytest.raises(StorageError, match="in use"):
        open_outbox(path)


def test_listener_sees_each_durable_store(tmp_path: Path) -> None:
    seen: list[tuple[OutboxRow, tuple[str, ...]]] = []
    uplinks = {"all": everything, "cars": vehicles_only}
    with open_outbox(tmp_path / "o.sqlite", uplinks=uplinks) as outbox:
        outbox.add_listener(lambda row, names: seen.append((row, names)))
        outbox.store(fields("vehicle"))
        outbox.store(fields("footstep"))
    assert [(row.report["seq"], names) for row, names in seen] == [
        (1, ("all", "cars")),
        (2, ("all",)),
    ]


def test_concurrent_store_pending_ack_delivers_each_report_once(tmp_path: Path) -> None:
    uplinks = {"all": everything, "cars": vehicles_only}
    total = 600
    delivered: dict[str, list[int]] = {"all": [], "cars": []}
    done = threading.Event()
    wake = {name: threading.Event() for name in uplinks}
    errors: list[BaseException] = []
    with open_outbox(tmp_path / "o.sqlite", uplinks=uplinks) as outbox:
        outbox.add_listener(lambda row, names: [wake[n].set() for n in names])

        def uplink(name: str) -> None:
            try:
                while True:
                    wake[name].clear()
                    rows = outbox.pending(name, 7, newest_first=len(delivered[name]) % 2 == 0)
                    if rows:
                        delivered[name].extend(r.report["seq"] for r in rows)
                        outbox.ack(name, [r.row_id for r in rows])
                    elif done.is_set():
                        return
                    else:
                        wake[name].wait(0.5)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=uplink, args=(n,)) for n in uplinks]
        for thread in threads:
            thread.start()
        try:
            for n in range(total):
                outbox.store(fields("vehicle" if n % 3 == 0 else "footstep"))
                if n % 50 == 0:
                    outbox.stats()
        finally:
            done.set()
            for event in wake.values():
                event.set()
            for thread in threads:
                thread.join(timeout=30)
        assert not errors
        assert sorted(delivered["all"]) == list(range(1, total + 1))
        assert sorted(delivered["cars"]) == [n + 1 for n in range(0, total, 3)]
        assert outbox.stats()["depth"] == 0
