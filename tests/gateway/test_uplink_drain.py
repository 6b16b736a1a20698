"""How an uplink drains the outbox: what it sends, and that nothing is left behind."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Broker
from tests.gateway.mqtt_collect import Collector, wait_until
from tests.gateway.test_uplink_faults import check_duplicates_identical
from tests.gateway.uplink_rig import fields, gateway, uplink_config


def compact(report: dict[str, Any]) -> bytes:
    return json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()


def test_json_goes_out_as_stored_and_redaction_still_applies(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    broker = make_broker()
    assert broker.port is not None
    plain = Collector(broker.host, broker.port, "central-plain", ["ugs/v1/+/+/detection"]).start()
    partner = Collector(broker.host, broker.port, "central-partner",
                        ["partner/+/+/detection"]).start()  # fmt: skip
    try:
        configs = [
            uplink_config("plain", broker.port),
            uplink_config(
                "partner", broker.port, topic_prefix="partner", share={"redact": ["loc"]}
            ),
        ]
        wait_until(lambda: plain.connected and partner.connected, 10, "subscribers")
        with gateway(tmp_path, configs, start=False) as (outbox, uplinks):
            stored = [outbox.store(fields(n)) for n in range(20)]  # a backlog
            for uplink in uplinks.values():
                uplink.start()
            wait_until(lambda: all(u.state == "connected" for u in uplinks.values()), 10, "links")
            stored += [outbox.store(fields(n)) for n in range(20, 40)]  # live
            ids = {r["id"] for r in stored}
            plain.wait_ids(ids, 10)
            partner.wait_ids(ids, 10)
        by_id = {r["id"]: r for r in stored}
        with plain.lock, partner.lock:
            sent_plain, sent_partner = list(plain.raw), list(partner.raw)
        for _, payload in sent_plain:
            # Byte for byte the compact JSON of the report that store() returned.
            assert payload == compact(by_id[json.loads(payload)["id"]])
        for _, payload in sent_partner:
            report = by_id[json.loads(payload)["id"]]
            assert payload == compact({k: v for k, v in report.items() if k != "loc"})
    finally:
        plain.close()
        partner.close()


def test_a_report_whose_ack_was_not_recorded_is_sent_again_on_the_same_link(
    tmp_path: Path, make_broker: Callable[..., Broker], caplog: pytest.LogCaptureFixture
) -> None:
    """An uplink reads on from the last report it sent; a report left behind below that
    point (its PUBACK came, but the outbox could not record it) must not wait for a
    reconnect to be sent again."""
    broker = make_broker()
    assert broker.port is not None
    collector = Collector(broker.host, broker.port, "central-acks").start()
    # A long keep-alive: the uplink thread waits out SQLite's busy timeout below, and the
    # broker must not take that for a dead link (a reconnect would resend everything anyway).
    cfg = uplink_config("a", broker.port, keepalive=30)
    try:
        wait_until(lambda: collector.connected, 10, "the collector")
        with gateway(tmp_path, [cfg], start=False) as (outbox, uplinks):
            stored = [outbox.store(fields(n))["id"] for n in range(300)]
            blocker = sqlite3.connect(tmp_path / "outbox.sqlite", isolation_level=None)
            try:
                blocker.execute("BEGIN IMMEDIATE")  # readers go on; the first acks fail
                with caplog.at_level(logging.WARNING, logger="gateway.outbox.store"):
                    uplinks["a"].start()
                    wait_until(lambda: "could not record acks" in caplog.text, 15, "an ack")
                blocker.execute("ROLLBACK")
            finally:
                blocker.close()
            collector.wait_ids(set(stored), 15)
            wait_until(lambda: outbox.pending_count("a") == 0, 15, "every ack recorded")
            status = uplinks["a"].status()
        assert status["reconnects"] == 0
        assert status["published"] > len(stored)  # the unrecorded ones went twice
        check_duplicates_identical(collector)
    finally:
        collector.close()
