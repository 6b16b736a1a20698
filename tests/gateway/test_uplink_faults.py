"""Uplinks against a real mosquitto that is killed, frozen and restarted mid-stream."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.outbox.config import OutboxConfig
from gateway.uplinks.encoding import decode
from tests.broker import Broker
from tests.gateway.mqtt_collect import Collector, wait_until
from tests.gateway.uplink_rig import Producer, fields, gateway, uplink_config


def check_no_holes(reports: list[dict[str, Any]]) -> None:
    by_boot: dict[int, list[int]] = defaultdict(list)
    for report in reports:
        by_boot[report["boot"]].append(report["seq"])
    for boot, seqs in by_boot.items():
        assert sorted(seqs) == list(range(1, max(seqs) + 1)), f"hole in boot {boot}"


def check_duplicates_identical(collector: Collector) -> None:
    """A report may arrive twice, but only as the very same report (same id, same body)."""
    seen: dict[str, dict[str, Any]] = {}
    with collector.lock:
        raw = list(collector.raw)
    for topic, payload in raw:
        report = decode(payload, topic=topic)
        assert seen.setdefault(report["id"], report) == report


def persist_subscription(broker: Broker, collector: Collector) -> None:
    """A clean restart saves the subscriber's session to the persistence file, so a later
    SIGKILL (which saves nothing) cannot make the broker forget the subscription."""
    wait_until(lambda: collector.connected, 10, "the collector to subscribe")
    broker.restart()
    wait_until(lambda: collector.connected, 10, "the collector to come back")


def test_broker_killed_and_frozen_mid_stream(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker()
    assert broker.port is not None
    collector = Collector(broker.host, broker.port, "central-1").start()
    try:
        persist_subscription(broker, collector)
        with gateway(tmp_path, [uplink_config("a", broker.port)]) as (outbox, uplinks):
            uplink = uplinks["a"]
            producer = Producer(outbox, rate=150).start()
            try:
                wait_until(lambda: len(collector.ids()) >= 100, 15, "first reports")
                # 1. SIGKILL: no goodbye, no final save. Reports pile up in the outbox.
                broker.kill()
                wait_until(lambda: uplink.state == "unreachable", 10, "the uplink to notice")
                start = producer.count()
                wait_until(lambda: producer.count() >= start + 100, 10, "a backlog")
                assert outbox.pending_count("a") >= 100
                broker.start()
                collector.wait_ids(producer.ids(), 20)
                # 2. SIGSTOP: the socket stays open but nothing answers (half-open link);
                # keep-alive (1 s) must notice it and the uplink redial.
                broker.pause()
                wait_until(lambda: uplink.state == "stalled", 10, "keep-alive to notice")
                start = producer.count()
                wait_until(lambda: producer.count() >= start + 100, 10, "a backlog")
                broker.resume()
                wait_until(lambda: uplink.state == "connected", 15, "the uplink to redial")
            finally:
                producer.stop()
            collector.wait_ids(producer.ids(), 30)
            assert uplink.status()["reconnects"] >= 2
            wait_until(lambda: outbox.pending_count("a") == 0, 10, "the outbox to empty")
        with collector.lock:
            reports = list(collector.reports)
        assert len(reports) == len(producer.stored)
        check_no_holes(reports)
        check_duplicates_identical(collector)
    finally:
        collector.close()


def test_status_is_retained_and_last_will_says_offline(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker()
    assert broker.port is not None
    status = ["ugs/v1/+/+/status"]
    with gateway(tmp_path, [uplink_config("a", broker.port)]) as (_, uplinks):
        uplink = uplinks["a"]
        wait_until(lambda: uplink.state == "connected", 10, "connect")
        uplink.publish_status({"state": "ok", "sensors": {"geo1": "ok"}})
        # The status goes out from the uplink's own thread: once a first subscriber has it
        # (live or retained), the broker holds it, and whoever subscribes later gets it first.
        first = Collector(broker.host, broker.port, "first-1", status, clean_session=True).start()
        try:
            first.wait_for(lambda: any(s["status"].get("state") == "ok" for s in first.statuses),
                           10, "the status at the broker")  # fmt: skip
        finally:
            first.close()
        late = Collector(broker.host, broker.port, "late-1", status, clean_session=True).start()
        try:
            late.wait_for(lambda: bool(late.statuses), 10, "retained status")
            given = late.statuses[0]
            assert given["retained"] and given["node"] == "ugs-t0"
            assert given["status"].get("state") == "ok"
        finally:
            late.close()
        watcher = Collector(broker.host, broker.port, "watch-1", status, clean_session=True)
        watcher.start()
        try:
            watcher.wait_for(lambda: bool(watcher.statuses), 10, "status")
            uplink.stop()  # clean stop: final retained status, no will
            watcher.wait_for(
                lambda: watcher.statuses[-1]["status"].get("state") == "stopped", 10, "stopped"
            )
        finally:
            watcher.close()


def test_killed_gateway_leaves_offline(tmp_path: Path, make_broker: Callable[..., Broker]) -> None:
    import subprocess
    import sys

    broker = make_broker()
    assert broker.port is not None
    watcher = Collector(broker.host, broker.port, "watch-2", ["ugs/v1/+/+/status"]).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.gateway.producer", "--state-dir", str(tmp_path / "st"),
         "--uplink", f"a=127.0.0.1:{broker.port}", "--rate", "20"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("boot ")
        watcher.wait_for(lambda: any(isinstance(s["status"], dict) for s in watcher.statuses),
                         15, "online status")  # fmt: skip
        proc.kill()
        proc.wait()
        watcher.wait_for(lambda: watcher.statuses[-1]["status"] == "offline", 10, "the will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watcher.close()


def test_live_reports_overtake_a_rate_limited_backlog(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker()
    assert broker.port is not None
    collector = Collector(broker.host, broker.port, "central-3").start()
    try:
        cfg = uplink_config("a", broker.port, drain_rate=100)
        with gateway(tmp_path, [cfg], start=False) as (outbox, uplinks):
            backlog = [outbox.store(fields(n))["id"] for n in range(300)]
            uplink = uplinks["a"]
            uplink.start()
            wait_until(lambda: len(collector.ids()) >= 20, 10, "the drain to start")
            live = outbox.store(fields(0, cls="vehicle"))["id"]
            collector.wait_ids({live}, 5)
            got = collector.ids()
            assert len(got & set(backlog)) < 250, "the live report waited for the backlog"
            collector.wait_ids(set(backlog), 15)
            first, last = collector.arrived[backlog[0]], collector.arrived[backlog[-1]]
            # 300 reports at 100/s: about 3 s (the first window goes at once).
            assert last - first >= 2.0
            with collector.lock:
                order = [r["seq"] for r in collector.reports if r["id"] != live]
            assert order == sorted(order), "backlog not sent oldest first"
    finally:
        collector.close()


def test_share_filter_redaction_and_compact_encoding(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker()
    assert broker.port is not None
    full = Collector(broker.host, broker.port, "central-full", ["ugs/v1/+/+/detection"]).start()
    partner = Collector(broker.host, broker.port, "central-partner",
                        ["partner/ugs/+/+/detection"]).start()  # fmt: skip
    try:
        configs = [
            uplink_config("full", broker.port),
            uplink_config(
                "partner",
                broker.port,
                topic_prefix="partner/ugs",
                encoding="compact",
                share={"classes": ["vehicle"], "min_conf": 0.5, "redact": ["loc", "features"]},
            ),
        ]
        with gateway(tmp_path, configs) as (outbox, _):
            wait_until(lambda: full.connected and partner.connected, 10, "subscribers")
            stored = [outbox.store(fields(n, conf=0.3 + 0.1 * (n % 6))) for n in range(30)]
            shared = {r["id"] for r in stored if r["class"] == "vehicle" and r["conf"] >= 0.5}
            full.wait_ids({r["id"] for r in stored}, 10)
            partner.wait_ids(shared, 10)
            # Nothing else arrives at the partner (the full link is done, so the partner's
            # link, which ran alongside, is done too once the outbox is empty).
            wait_until(lambda: outbox.stats()["depth"] == 0, 10, "both links to finish")
        assert partner.ids() == shared
        with partner.lock:
            payloads = [p for _, p in partner.raw]
        assert all(len(p) <= 48 for p in payloads), [len(p) for p in payloads]
        for report in partner.reports:
            assert "loc" not in report and "features" not in report
            assert report["node"] == "ugs-t0" and report["site"] == "rig"
        assert all("loc" in r for r in full.reports)
        assert json.loads(full.raw[0][1])["v"] == 1
    finally:
        full.close()
        partner.close()


def test_two_uplinks_one_broker_down(
    tmp_path: Path, make_broker: Callable[..., Broker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.uplinks.mqtt")
    broker_a, broker_b = make_broker(), make_broker()
    assert broker_a.port is not None and broker_b.port is not None
    col_a = Collector(broker_a.host, broker_a.port, "central-a").start()
    col_b = Collector(broker_b.host, broker_b.port, "central-b").start()
    try:
        persist_subscription(broker_b, col_b)
        configs = [uplink_config("a", broker_a.port), uplink_config("b", broker_b.port)]
        with gateway(tmp_path, configs) as (outbox, uplinks):
            producer = Producer(outbox, rate=25).start()
            try:
                wait_until(lambda: producer.count() >= 10, 10, "first reports")
                col_b.wait_ids(producer.ids(), 10)
                # A compressed "minutes": 15 s at 25 reports/s while partner B is away,
                # first hung (SIGSTOP: B's uplink blocks in keep-alive and connect timeouts),
                # then gone (stopped).
                broker_b.pause()
                outage_start = producer.count()
                wait_until(lambda: uplinks["b"].state == "stalled", 10, "B to stall")
                wait_until(lambda: producer.count() >= outage_start + 175, 30, "the outage")
                broker_b.resume()
                broker_b.stop()
                wait_until(lambda: producer.count() >= outage_start + 375, 30, "the outage")
                outage_end = producer.count()
                broker_b.start()
                wait_until(lambda: uplinks["b"].state == "connected", 10, "B to redial")
            finally:
                producer.stop()
            col_a.wait_ids(producer.ids(), 10)
            col_b.wait_ids(producer.ids(), 30)
            with producer.lock:
                stored = list(producer.stored)
            during = stored[outage_start:outage_end]
            # A got every report of the outage live (well within a second of its store).
            latencies = [col_a.arrived[r["id"]] - producer.stored_at[r["id"]] for r in during]
            assert max(latencies) < 1.0, max(latencies)
            assert uplinks["a"].status()["reconnects"] == 0
            # B caught up completely, the backlog in seq order.
            with col_b.lock:
                arrival = [r["seq"] for r in col_b.reports]
            backlog = [r["seq"] for r in during]
            positions = [arrival.index(seq) for seq in backlog]
            assert positions == sorted(positions), "B's backlog arrived out of order"
            check_no_holes(col_b.reports)
            wait_until(lambda: outbox.stats()["depth"] == 0, 10, "the outbox to empty")
        # The journal tells the technician B's outage, once down and once back, and
        # nothing about A.
        lines = [r.getMessage() for r in caplog.records]
        down = [m for m in lines if m.startswith("uplink b: ") and "kept in the outbox" in m]
        back = [m for m in lines if m.startswith("uplink b: connected to") and "s down;" in m]
        assert down and len(back) == 1 and "reports to catch up" in back[0], lines
        assert not [m for m in lines if m.startswith("uplink a: ") and "down" in m], lines
    finally:
        col_a.close()
        col_b.close()


def test_outbox_cap_during_an_outage(tmp_path: Path, make_broker: Callable[..., Broker]) -> None:
    broker = make_broker()
    assert broker.port is not None
    collector = Collector(broker.host, broker.port, "central-cap").start()
    try:
        persist_subscription(broker, collector)
        broker.stop()  # the outage starts before the first report
        cap = OutboxConfig(max_bytes=64 * 1024, min_free_bytes=0)
        configs = [uplink_config("a", broker.port)]
        with gateway(tmp_path, configs, outbox=cap) as (outbox, uplinks):
            stored = [outbox.store(fields(n))["id"] for n in range(400)]
            stats = outbox.stats()
            status = uplinks["a"].status()
            assert status["state"] == "unreachable"
            dropped, kept = status["dropped"], status["pending"]
            assert dropped > 0 and dropped == stats["uplinks"]["a"]["dropped"]
            assert dropped + kept == len(stored)
            assert stats["bytes"] <= 64 * 1024
            broker.start()
            # The oldest went: exactly the newest `kept` reports arrive.
            collector.wait_ids(set(stored[-kept:]), 20)
            wait_until(lambda: outbox.pending_count("a") == 0, 10, "the outbox to empty")
        assert collector.ids() == set(stored[-kept:])
    finally:
        collector.close()
