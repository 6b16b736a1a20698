"""docs/sapient.md lists every field the unit sends, message by message."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from google.protobuf.message import Message

from gateway.detection_report import build_report
from gateway.uplinks import sapient_messages as sm
from gateway.uplinks.sapient_validate import problems
from tests.gateway.sapient_rig import NODE, SITE, sapient_config, unit_control
from tests.gateway.uplink_rig import fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "sapient.md"


def _paths(message: Message, prefix: str = "") -> set[str]:
    found: set[str] = set()
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.message_type is not None and field.message_type.name != "Timestamp":
            for item in value if field.is_repeated else [value]:
                found |= _paths(item, path)
        else:
            found.add(path)
    return found


def _messages(tmp_path: Path) -> list[Message]:
    unit = unit_control(tmp_path / "state")
    now = time.time()
    report = build_report(fields(0), node=NODE, site=SITE, boot=1, seq=1)
    report["loc"] = {"lat": 49.0, "lon": -122.7, "alt_m": 30.0}
    located = sapient_config(1)
    hidden = sapient_config(1, share={"redact": ["loc"]})
    # This partner's share of the status (gateway.health.status.partner_status).
    health = {"problems": {"sensor geo1": "stale", "thread pipeline": "stuck"},
              "outbox": {"uplink": {"pending": 3}},
              "sensors": {"geo1": {"state": "ok"}}}  # fmt: skip
    return [
        sm.registration(unit, located, now),
        sm.registration(unit, hidden, now),
        sm.status_report(
            unit, located, health, now=now, new=True, clock_synced=False, reporting=False
        ),
        sm.detection_report(report, unit, located, now=now, mode="normal"),
        sm.detection_report(report, unit, hidden, now=now, mode="normal"),
        sm.alert(unit, now=now, sensor="geo1", failed=True, why="stale", location=True),
        sm.task_ack(unit, now=now, task_id=sm.new_ulid(now), accepted=False, reasons=["no"]),
        sm.error(unit, now=now, packet=b"\x00", problems=["bad"]),
    ]


def test_every_message_the_unit_makes_is_valid(tmp_path: Path) -> None:
    for message in _messages(tmp_path):
        assert problems(message, time.time()) == [], message


@pytest.mark.parametrize("kind", ["registration", "status_report", "detection_report", "alert",
                                  "task_ack", "error"])  # fmt: skip
def test_every_field_sent_is_documented(tmp_path: Path, kind: str) -> None:
    text = DOC.read_text()
    title = "### `task_ack` and `error`" if kind in ("task_ack", "error") else f"### `{kind}`"
    section = text.split(title, 1)[1].split("\n## ", 1)[0].split("\n### `", 1)[0]
    sent = set()
    for message in _messages(tmp_path):
        if message.WhichOneof("content") == kind:
            sent |= {p for p in _paths(message) if p.startswith(kind + ".")}
    assert sent
    missing = [p for p in sorted(sent) if not re.search(rf"\b{p.split('.')[-1]}\b", section)]
    assert missing == [], f"docs/sapient.md, {kind}: not documented: {missing}"
