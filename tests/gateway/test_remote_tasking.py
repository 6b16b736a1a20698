"""Remote tasking over MQTT with real mosquitto brokers: two partners, each on its own
broker, one granted snippets and modes, the other only status."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.cli import main
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from gateway.task_client import send_task
from gateway.uplinks.mqtt import MqttUplink
from gateway.uplinks.tasking import chunk_bytes
from tests.broker import Broker
from tests.gateway.mqtt_collect import wait_until
from tests.gateway.sapient_rig import NODE, SITE, unit_control
from tests.gateway.uplink_rig import uplink_config

REPORT = f"{NODE}-1-1"


class Spy:
    """Everything published on a broker (subscribed to '#')."""

    def __init__(self, broker: Broker) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.ready = threading.Event()
        self._arrived = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"spy-{broker.port}")
        self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self._note(m.topic, m.payload)
        assert broker.port is not None
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(5)

    def _note(self, topic: str, payload: bytes) -> None:
        with self._arrived:
            self.messages.append((topic, payload))
            self._arrived.notify_all()

    def replies(self) -> list[str]:
        return [t for t, _ in self.messages if "/task" in t]

    def wait_for_payloads(self, part: str, count: int, timeout: float = 10.0) -> list[bytes]:
        """The payloads on topics holding ``part``, once ``count`` of them have arrived (the
        requester may have had its replies before this other subscriber)."""

        def found() -> list[bytes]:
            return [p for t, p in self.messages if part in t]

        with self._arrived:
            self._arrived.wait_for(lambda: len(found()) >= count, timeout)
            return found()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def unit_on_two_brokers(
    tmp_path: Path, make_broker: Any
) -> Iterator[tuple[Broker, Broker, bytes, Any]]:
    broker_a, broker_b = make_broker(), make_broker()
    snippets = tmp_path / "recordings"
    snippets.mkdir()
    waveform = os.urandom(150_000)  # four chunks in replies of at most 64 KiB
    (snippets / f"{REPORT}.mseed").write_bytes(waveform)
    unit = unit_control(tmp_path / "state")
    unit._snippets = snippets
    unit._seq = lambda: 3
    configs = [
        uplink_config("agency-a", broker_a.port, tasking=["status", "mode", "snippet"]),
        uplink_config("agency-b", broker_b.port, tasking=["status"]),
    ]
    box = Outbox(
        tmp_path / "outbox.sqlite", OutboxConfig(min_free_bytes=0), node=NODE, site=SITE,
        boot=1, uplinks={c.name: c.share.accepts for c in configs},
    )  # fmt: skip
    uplinks = [MqttUplink(c, box, node=NODE, site=SITE, unit=unit) for c in configs]
    for uplink in uplinks:
        uplink.start()
    deadline = time.monotonic() + 10
    while not all(u.status()["tasking"]["connected"] for u in uplinks):
        assert time.monotonic() < deadline, "tasking did not connect"
        time.sleep(0.02)
    try:
        yield broker_a, broker_b, waveform, unit
    finally:
        for uplink in uplinks:
            uplink.stop()
        box.close()


def _ask(broker: Broker, request: dict[str, Any]) -> Any:
    assert broker.port is not None
    return send_task(broker.host, broker.port, site=SITE, node=NODE, request=request, timeout=10)


def test_an_authorised_partner_fetches_a_snippet_byte_identical(
    unit_on_two_brokers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broker_a, broker_b, waveform, _unit = unit_on_two_brokers
    spy_a, spy_b = Spy(broker_a), Spy(broker_b)
    try:
        with caplog.at_level(logging.INFO):
            result = _ask(broker_a, {"command": "snippet", "id": REPORT})
            # The unit logs the task done after its last reply is out: the requester may
            # have it all before that line is written.
            done = f"uplink agency-a: task snippet {REPORT}: done"
            wait_until(lambda: done in caplog.text, 5.0, "the task's log line")
        assert result.ok and result.data == waveform
        assert result.replies[-1]["chunks"] == -(-len(waveform) // chunk_bytes(65536)) == 4
        replies = spy_a.wait_for_payloads("/task/reply/", 4)
        assert len(replies) == 4 and max(map(len, replies)) <= 65536  # max_reply_bytes
        time.sleep(0.3)  # let anything misrouted arrive
        assert spy_b.replies() == []  # the other partner's broker saw nothing of it
    finally:
        spy_a.close()
        spy_b.close()


def test_an_unauthorised_partner_is_refused(
    unit_on_two_brokers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _broker_a, broker_b, _waveform, unit = unit_on_two_brokers
    with caplog.at_level(logging.WARNING):
        refused = _ask(broker_b, {"command": "snippet", "id": REPORT})
        mode = _ask(broker_b, {"command": "mode", "mode": "sensitive"})
    assert not refused.ok and "not granted" in refused.replies[0]["error"]
    assert not mode.ok and unit.mode == "normal"
    assert "uplink agency-b: task snippet" in caplog.text and "refused" in caplog.text
    status = _ask(broker_b, {"command": "status"})
    assert status.ok and status.replies[0]["status"] == {"state": "ok"}


@pytest.mark.parametrize(
    ("request_body", "error"),
    [
        ({"command": "snippet", "id": f"{NODE}-1-99"}, "no detection"),
        ({"command": "snippet", "id": f"{NODE}-1-2"}, "no snippet of"),
        ({"command": "mode", "mode": "turbo"}, "no mode 'turbo'"),
        ({"command": "launch"}, "unknown command"),
        ({"command": "status", "pad": "x" * 5000}, "request too large"),
    ],
)
def test_bad_requests_get_a_clear_refusal(
    unit_on_two_brokers: Any, request_body: dict[str, Any], error: str
) -> None:
    broker_a, _broker_b, _waveform, _unit = unit_on_two_brokers
    result = _ask(broker_a, request_body)
    assert not result.ok and error in result.replies[0]["error"]


def test_the_task_command_sets_a_mode_and_writes_a_snippet(
    unit_on_two_brokers: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker_a, _broker_b, waveform, unit = unit_on_two_brokers
    out = tmp_path / "fetched.mseed"
    broker = ["--broker", broker_a.address]
    assert main(["task", *broker, f"{SITE}/{NODE}", "snippet", REPORT, "--out", str(out)]) == 0
    assert out.read_bytes() == waveform
    assert json.loads(capsys.readouterr().out)["written"] == str(out)
    assert main(["task", *broker, "--site", SITE, NODE, "mode", "sensitive"]) == 0
    assert unit.mode == "sensitive"
    assert main(["task", *broker, f"{SITE}/{NODE}", "mode", "turbo"]) == 1
    assert main(["task", *broker, NODE, "status"]) == 2  # no site
