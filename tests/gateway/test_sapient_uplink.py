"""The SAPIENT uplink against the stand-in fusion node, over real TCP, in one process.

Every message the unit sends is checked by the stand-in's validation (mandatory fields,
unknown fields and enum values, ULID/UUID formats, the timestamp window); each test ends by
asserting that nothing failed it.
"""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import pytest

from gateway.sapient_node import FusionNode
from tests.gateway.sapient_rig import (
    Events,
    linked,
    report_ids,
    sapient_config,
    unit_control,
)
from tests.gateway.uplink_rig import fields


@pytest.fixture
def node() -> FusionNodeRig:
    rig = FusionNodeRig()
    yield rig
    rig.node.stop()


class FusionNodeRig:
    def __init__(self) -> None:
        self.events = Events()
        self.node = FusionNode("127.0.0.1", 0, self.events).start()
        self.port = self.node.port

    def registered(self, count: int = 1, timeout: float = 5.0) -> None:
        self.events.wait(
            lambda e: len(e.of("registration_ack", "sent")) >= count, timeout, "registration"
        )

    def task_ack(self, task_id: str, timeout: float = 5.0) -> dict[str, object]:
        def found(events: Events) -> dict[str, object] | None:
            for record in events.of("task_ack"):
                ack = record["message"]["task_ack"]
                if ack["task_id"] == task_id:
                    return ack  # type: ignore[no-any-return]
            return None

        return self.events.wait(found, timeout, f"the ack of task {task_id}")  # type: ignore[no-any-return]

    def statuses_after(self, mono: float) -> list[dict[str, object]]:
        return [r for r in self.events.of("status_report") if r["mono"] > mono]


def test_registers_then_reports_status_at_the_declared_interval(
    tmp_path: Path, node: FusionNodeRig
) -> None:
    started = time.monotonic()
    with linked(tmp_path, sapient_config(node.port, status_interval_s=0.5)) as (_box, uplink):
        node.registered()
        registration = node.events.of("registration")[0]
        assert registration["mono"] - started < 2.0
        reg = registration["message"]["registration"]
        assert reg["icd_version"] == "BSI Flex 335 v2.0"
        assert reg["status_definition"]["status_interval"] == {
            "units": "TIME_UNITS_SECONDS", "value": 0.5,
        }  # fmt: skip
        assert [m["mode_name"] for m in reg["mode_definition"]] == ["normal", "sensitive"]
        node.events.wait(lambda e: len(e.of("status_report")) >= 7, 10, "7 status reports")
        stamps = [r["mono"] for r in node.events.of("status_report")][1:7]
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert all(0.45 <= gap <= 0.55 for gap in gaps), gaps
        assert uplink.state == "connected"
    assert node.events.invalid() == []


def test_one_valid_detection_report_per_report_with_the_same_ids_on_resend(
    tmp_path: Path, node: FusionNodeRig
) -> None:
    with linked(tmp_path, sapient_config(node.port)) as (box, _uplink):
        node.registered()
        stored = [box.store(fields(n)) for n in range(5)]
        node.events.wait(lambda e: len(e.of("detection_report")) >= 5, 5, "5 reports")
        reports = node.events.of("detection_report")
        assert report_ids(reports) == [r["id"] for r in stored]
        first = reports[0]["message"]["detection_report"]
        assert first["classification"] == [{"type": "Human", "confidence": 0.9}]
        assert first["location"]["coordinate_system"] == "LOCATION_COORDINATE_SYSTEM_LAT_LNG_DEG_M"
        # 50 m (a footstep's range) of latitude, as the position's error
        assert first["location"]["y_error"] == pytest.approx(50 / 111_320)
        info = {i["type"]: i["value"] for i in first["object_info"]}
        assert info["mode"] == "normal" and info["event_start"] == stored[0]["t0"]
        node.events.wait(lambda _e: box.pending_count("fusion") == 0, 5, "deliveries counted")
    assert node.events.invalid() == []


def test_reports_stored_while_the_fusion_node_is_away_arrive_later(
    tmp_path: Path, node: FusionNodeRig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.uplinks.sapient")
    port = node.port
    with linked(tmp_path, sapient_config(port)) as (box, uplink):
        node.registered()
        first = [box.store(fields(n))["id"] for n in range(3)]
        node.events.wait(lambda e: len(e.of("detection_report")) >= 3, 5, "3 reports")
        node.node.stop()  # away: connections reset
        away = [box.store(fields(n))["id"] for n in range(4)]
        node.events.wait(lambda _e: uplink.state != "connected", 5, "the link to notice")
        again = FusionNode("127.0.0.1", port, node.events).start()
        try:
            node.registered(2, timeout=10)
            node.events.wait(
                lambda e: set(first + away) <= set(report_ids(e.of("detection_report"))),
                10,
                "every report",
            )
        finally:
            again.stop()
        ids = report_ids(node.events.of("detection_report"))
        assert set(ids) == set(first + away)  # duplicates allowed, nothing missing
        assert uplink.status()["reconnects"] >= 1
    # The journal: registered, then down with the reports kept, then back with the queue.
    lines = [r.getMessage() for r in caplog.records if r.name == "gateway.uplinks.sapient"]
    first_up = [m for m in lines if "registered with fusion node" in m and "(ack in" in m]
    back = [m for m in lines if "registered with" in m and "s down;" in m]
    assert len(first_up) == 1 and back and "reports to catch up" in back[0], lines
    assert any("kept in the outbox" in m for m in lines), lines
    assert node.events.invalid() == []


def test_a_clean_stop_says_goodbye(tmp_path: Path, node: FusionNodeRig) -> None:
    with linked(tmp_path, sapient_config(node.port)):
        node.registered()
    node.events.wait(lambda e: e.of("disconnected"), 5, "the disconnection")
    last = node.events.of("status_report")[-1]["message"]["status_report"]
    assert last["system"] == "SYSTEM_GOODBYE"


def test_a_mode_task_is_acked_and_shown_in_status_and_reports(
    tmp_path: Path, node: FusionNodeRig
) -> None:
    applied: list[object] = []
    unit = unit_control(tmp_path / "state", applied)
    with linked(tmp_path, sapient_config(node.port, status_interval_s=5), unit) as (box, _up):
        node.registered()
        (task_id,) = node.node.send_task(mode_change="sensitive")
        assert node.task_ack(task_id) == {"task_id": task_id, "task_status": "TASK_STATUS_ACCEPTED"}
        acked = node.events.of("task_ack")[-1]["mono"]
        status = node.events.wait(lambda _e: node.statuses_after(acked), 2, "a status")[0]
        assert status["message"]["status_report"]["mode"] == "sensitive"
        assert status["message"]["status_report"]["info"] == "INFO_NEW"
        assert [d.seismic.trigger_on for d in applied] == [2.4]  # type: ignore[attr-defined]
        box.store(fields(0))
        report = node.events.wait(lambda e: e.of("detection_report"), 5, "a report")[0]
        info = {i["type"]: i["value"] for i in report["message"]["detection_report"]["object_info"]}
        assert info["mode"] == "sensitive"
        assert (tmp_path / "state" / "mode").read_text().strip() == "sensitive"
    assert node.events.invalid() == []


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ({"command": {"detection_threshold": "DISCRETE_THRESHOLD_LOW"}}, "not supported"),
        ({"command": {"request": "Self-destruct"}}, "not supported"),
        ({"command": {"mode_change": "turbo"}}, "no mode 'turbo'"),
        ({"control": "CONTROL_PAUSE", "command": {"request": "Status"}}, "CONTROL_PAUSE"),
        ({}, "no command"),
    ],
)
def test_unsupported_tasks_are_rejected_with_a_reason(
    tmp_path: Path, node: FusionNodeRig, task: dict[str, object], reason: str
) -> None:
    with linked(tmp_path, sapient_config(node.port)):
        node.registered()
        (task_id,) = node.node.send_task(task={"control": "CONTROL_START", **task})
        ack = node.task_ack(task_id)
        assert ack["task_status"] == "TASK_STATUS_REJECTED"
        assert reason in " ".join(ack["reason"])  # type: ignore[arg-type]
    assert node.events.invalid() == []


def test_stop_start_status_and_registration_requests(tmp_path: Path, node: FusionNodeRig) -> None:
    with linked(tmp_path, sapient_config(node.port, status_interval_s=5)) as (box, uplink):
        node.registered()
        (stop,) = node.node.send_task(request="Stop")
        assert node.task_ack(stop)["task_status"] == "TASK_STATUS_ACCEPTED"
        node.events.wait(
            lambda e: any(
                s.get("status_type") == "STATUS_TYPE_NOT_DETECTING"
                for r in e.of("status_report")
                for s in r["message"]["status_report"].get("status", [])
            ),
            2,
            "a status saying the unit does not report",
        )
        box.store(fields(0))
        node.events.wait(lambda _e: uplink.status()["withheld"] == 1, 5, "the report withheld")
        (start,) = node.node.send_task(request="start")
        assert node.task_ack(start)["task_status"] == "TASK_STATUS_ACCEPTED"
        kept = box.store(fields(1))["id"]
        node.events.wait(lambda e: report_ids(e.of("detection_report")) == [kept], 5, "report")
        (again,) = node.node.send_task(request="Registration")
        assert node.task_ack(again)["task_status"] == "TASK_STATUS_ACCEPTED"
        node.registered(2)
    assert node.events.invalid() == []


def test_a_refused_registration_is_logged_and_retried_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = Events()
    refusing = FusionNode("127.0.0.1", 0, events)
    refusing._record = _breaking(refusing._record)  # type: ignore[method-assign]
    refusing.start()
    try:
        with (
            caplog.at_level(logging.ERROR),
            linked(tmp_path, sapient_config(refusing.port)) as (
                _box,
                uplink,
            ),
        ):
            events.wait(lambda _e: uplink.state == "refused", 5, "the refusal")
            assert "rejected the registration" in caplog.text
    finally:
        refusing.stop()


def _breaking(record):  # type: ignore[no-untyped-def]
    def wrapped(peer, message, **kw):  # type: ignore[no-untyped-def]
        out = record(peer, message, **kw)
        if out["type"] == "registration":
            out["valid"], out["problems"] = False, ["this fusion node knows no such unit"]
        return out

    return wrapped


def test_sensor_faults_raise_alerts_and_an_unsynchronised_clock_a_warning(
    tmp_path: Path, node: FusionNodeRig
) -> None:
    with linked(tmp_path, sapient_config(node.port, status_interval_s=5)) as (_box, uplink):
        node.registered()
        uplink._clock_ok = lambda: False  # type: ignore[assignment,method-assign]
        sensors = {"geo1": {"state": "ok"}, "pir1": {"state": "ok"}}
        uplink.publish_status({"problems": {}, "sensors": sensors})
        uplink.publish_status(
            {"problems": {"sensor geo1": "stale: no samples for 12 s"}, "sensors": sensors}
        )
        failed = node.events.wait(lambda e: e.of("alert"), 5, "an alert")[0]["message"]["alert"]
        assert failed["alert_type"] == "ALERT_TYPE_WARNING"
        assert failed["status"] == "ALERT_STATUS_ACTIVE"
        assert "sensor geo1 failed" in failed["description"]
        status = node.events.wait(
            lambda e: [
                r for r in e.of("status_report")
                if r["message"]["status_report"]["system"] == "SYSTEM_WARNING"
                and len(r["message"]["status_report"].get("status", [])) == 2
            ],
            5,
            "a warning status",
        )[0]["message"]["status_report"]  # fmt: skip
        values = [s["status_value"] for s in status["status"]]
        assert any(v.startswith("sensor geo1: stale") for v in values)
        assert any(v.startswith("clock not synchronised") for v in values)
        uplink.publish_status({"problems": {}, "sensors": sensors})
        cleared = node.events.wait(lambda e: e.of("alert")[1:], 5, "the recovery")[0]
        assert cleared["message"]["alert"]["status"] == "ALERT_STATUS_CLEAR"
    assert node.events.invalid() == []
