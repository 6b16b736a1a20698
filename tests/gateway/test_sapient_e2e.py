"""End to end: the demo's emulated unit (`ugs-gateway run`) with a SAPIENT uplink to the
stand-in fusion node (`ugs-gateway sapient-node`), both real processes on real TCP.

One run holds the unit to the issue's bars: registration within 2 s and the ack; status at
the declared interval (+-10 %); one detection report per detection, every message passing
the stand-in's validation; the stand-in killed for 30 s mid-stream and restarted: the unit
registers again within 10 s and every detection arrives (duplicates allowed, by id); a mode
task is acked and shows in the next status and in the reports; an unsupported task is
rejected with a reason; SIGTERM sends GOODBYE.
"""

from __future__ import annotations

import itertools
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.sapient_rig import Events, StandIn, free_port, report_ids
from tests.gateway.service_rig import Bench

INTERVAL_S = 2.0
OUTAGE_S = 30.0
OUTAGE_FROM_S = 45.0
"""Scenario time at which the stand-in is killed (at the earliest)."""


def _sapient_toml(port: int) -> str:
    return f"""
[[uplinks]]
name = "fusion"
protocol = "sapient"
host = "127.0.0.1"
port = {port}
tls = false
status_interval_s = {INTERVAL_S}
confirm_s = 1.0
reconnect_min = 0.5
reconnect_max = 2.0

[modes.profiles.sensitive]
description = "quiet nights: more detections"
dsp.seismic = {{ trigger_on = 2.6 }}
"""


def _detections(log: str) -> list[str]:
    return re.findall(r"detection (\S+): \w+ conf", log)


def _status_gaps(records: list[dict[str, Any]]) -> list[float]:
    """Gaps before each periodic (INFO_UNCHANGED) status, within one connection."""
    gaps = []
    for before, after in itertools.pairwise(records):
        if after["message"]["status_report"]["info"] == "INFO_UNCHANGED":
            gaps.append(after["mono"] - before["mono"])
    return gaps


@pytest.mark.slow
def test_the_unit_as_a_sapient_asm_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    stand_in = StandIn(port, tmp_path / "sapient-node.log").start()
    bench = Bench(tmp_path, node="ugs-sap1", broker=None, duration_s=90, extra=_sapient_toml(port))
    try:
        events: Events = stand_in.events
        spawned = time.monotonic()
        proc = bench.run_gateway()
        events.wait(lambda e: e.of("registration_ack", "sent"), 20, "the registration ack")
        registered = events.of("registration")[0]
        connected = events.of("connected")[-1]
        print(f"registration {registered['mono'] - spawned:.2f} s after the process started, "
              f"{registered['mono'] - connected['mono']:.3f} s after connecting")  # fmt: skip
        assert registered["mono"] - connected["mono"] < 2.0
        assert registered["mono"] - spawned < 5.0  # Python, the config, the outbox: then TCP
        node_id = registered["node_id"]

        # status at the declared interval, +-10 %
        events.wait(lambda e: len(e.of("status_report")) >= 5, 15, "5 status reports")
        gaps = _status_gaps(events.of("status_report")[:5])
        assert gaps and all(abs(g - INTERVAL_S) <= 0.1 * INTERVAL_S for g in gaps), gaps

        # a mode task: acked, in the next status, in what the unit reports
        stand_in.command("mode sensitive")
        ack = events.wait(lambda e: e.of("task_ack"), 5, "the mode task's ack")[0]
        assert ack["message"]["task_ack"]["task_status"] == "TASK_STATUS_ACCEPTED"
        after = [r for r in events.of("status_report") if r["mono"] > ack["mono"]]
        nxt = after[0] if after else events.wait(
            lambda e: [r for r in e.of("status_report") if r["mono"] > ack["mono"]], 5, "status"
        )[0]  # fmt: skip
        assert nxt["message"]["status_report"]["mode"] == "sensitive"
        stand_in.command("request Self-destruct")
        rejected = events.wait(lambda e: e.of("task_ack")[1:], 5, "the rejection")[0]
        assert rejected["message"]["task_ack"]["task_status"] == "TASK_STATUS_REJECTED"
        assert "not supported" in rejected["message"]["task_ack"]["reason"][0]

        # the first detection (the runner) arrives live; then the stand-in is away for 30 s
        # over the vehicle's passage (38-66 s of the scenario), whose detection is made then
        events.wait(lambda e: e.of("detection_report"), 60, "a first detection report")
        time.sleep(max(0.0, bench.started + OUTAGE_FROM_S - time.time()))
        stand_in.kill()
        time.sleep(OUTAGE_S)  # the outage itself is what is under test
        stand_in.start()
        back = time.monotonic()
        events.wait(lambda e: len(e.of("registration_ack", "sent")) >= 2, 10, "re-registration")
        again = events.of("registration")[-1]
        print(f"re-registered {again['mono'] - back:.2f} s after the stand-in came back")
        assert again["mono"] - back < 10.0 and again["node_id"] == node_id

        # every detection the unit made arrives (by its report id), then a clean stop
        deadline = time.monotonic() + 30
        while len(_detections(bench.log_path.read_text())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        made = _detections(bench.log_path.read_text())
        assert len(made) >= 2, bench.log_path.read_text()[-3000:]
        events.wait(
            lambda e: set(made) <= set(report_ids(e.of("detection_report"))),
            15,
            f"the detections {made}",
        )
        mode_seen = {
            i["value"]
            for r in events.of("detection_report")
            for i in r["message"]["detection_report"]["object_info"]
            if i["type"] == "mode"
        }
        assert mode_seen <= {"normal", "sensitive"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        goodbye = events.of("status_report")[-1]["message"]["status_report"]
        assert goodbye["system"] == "SYSTEM_GOODBYE"
        final = set(_detections(bench.log_path.read_text()))
        assert final == set(report_ids(events.of("detection_report")))  # one per detection
        assert events.invalid() == [], events.invalid()[:3]
    finally:
        bench.close()
        stand_in.close()
