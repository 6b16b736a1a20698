"""`ugs-gateway subscribe`: decodes both encodings, drops duplicates, resumes its session."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.publish as publish
import pytest

from gateway.cli import main
from gateway.detection_report import build_report
from gateway.local_broker import free_port
from gateway.subscriber import SeenIds, default_client_id
from gateway.uplinks.encoding import encode
from tests.broker import Broker
from tests.gateway.mqtt_collect import wait_until
from tests.gateway.uplink_rig import fields

ROOT = Path(__file__).parents[2]
TOPIC = "ugs/v1/sector-12/ugs-0007/detection"
STATUS = "ugs/v1/sector-12/ugs-0007/status"


def report(seq: int, boot: int = 3) -> dict[str, Any]:
    return build_report(fields(seq), node="ugs-0007", site="sector-12", boot=boot, seq=seq)


class Sub:
    """``ugs-gateway subscribe`` as a process; stdout and stderr read by threads."""

    def __init__(self, *args: str) -> None:
        self.out: list[str] = []
        self.err: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "subscribe", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: Any, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.out)]

    def wait_err(self, text: str, timeout: float = 10) -> None:
        wait_until(lambda: any(text in line for line in list(self.err)), timeout, repr(text))

    def terminate(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        return code


@pytest.mark.parametrize(
    "args",
    [
        ["--broker", "host:port"],
        ["--broker", "host:99999"],
        ["--broker", "mqtt://host:1883"],
        ["--broker", "127.0.0.1:1883", "--ca-file", "/nonexistent/ca.pem"],
        ["--broker", "127.0.0.1:1883", "--cert-file", "/etc/hostname"],
        ["--broker", "127.0.0.1:1883", "--password-file", "/etc/hostname"],
        ["--broker", "127.0.0.1:1883", "--count", "0"],
    ],
)
def test_bad_arguments_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["subscribe", *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip()


def test_decodes_both_encodings_dedupes_and_marks_status(
    make_broker: Callable[..., Broker],
) -> None:
    broker = make_broker()
    port = broker.port
    assert port is not None
    sub = Sub("--broker", broker.address, "--topic", "ugs/v1/+/+/detection",
              "--topic", "ugs/v1/+/+/status", "--client-id", "t-decode")  # fmt: skip
    try:
        sub.wait_err("subscribed to")
        one, two = report(1), report(2)
        publish.single(STATUS, json.dumps({"state": "ok"}), qos=1, retain=True, port=port)
        for payload in (encode(one, "json"), encode(two, "compact"), encode(one, "compact"),
                        b"\xffnot a report", encode(two, "json")):  # fmt: skip
            publish.single(TOPIC, payload, qos=1, port=port)
        publish.single(STATUS, "offline", qos=1, retain=True, port=port)
        wait_until(lambda: len(sub.out) >= 4, 10, "four lines")
        assert sub.terminate() == 0
    finally:
        sub.terminate()
    lines = sub.lines()
    detections = [line for line in lines if "id" in line]
    statuses = [line for line in lines if "status" in line]
    assert [d["id"] for d in detections] == [one["id"], two["id"]]
    assert detections[0] == one
    # Compact is lossy only in the feature values' precision.
    compact = {k: v for k, v in detections[1].items() if k != "features"}
    assert compact == {k: v for k, v in two.items() if k != "features"}
    assert [s["status"] for s in statuses] == [{"state": "ok"}, "offline"]
    assert statuses[0]["node"] == "ugs-0007" and statuses[0]["site"] == "sector-12"
    assert any("not a report" in line for line in sub.err)


def test_persistent_session_gets_what_came_while_away(
    make_broker: Callable[..., Broker],
) -> None:
    broker = make_broker()
    port = broker.port
    assert port is not None
    first = Sub("--broker", broker.address, "--client-id", "t-persist")
    try:
        first.wait_err("subscribed to")
        publish.single(TOPIC, encode(report(1)), qos=1, port=port)
        wait_until(lambda: len(first.out) == 1, 10, "the first report")
    finally:
        assert first.terminate(signal.SIGINT) == 0
    for seq in (2, 3, 4):  # nobody listening now: the broker keeps them for the session
        publish.single(TOPIC, encode(report(seq), "compact"), qos=1, port=port)
    second = Sub("--broker", broker.address, "--client-id", "t-persist", "--count", "3")
    try:
        assert second.proc.wait(15) == 0  # --count: exits by itself after three reports
    finally:
        second.terminate()
    assert [line["seq"] for line in second.lines()] == [2, 3, 4]


def test_unreachable_broker_is_retried_with_a_log_line() -> None:
    sub = Sub("--broker", f"127.0.0.1:{free_port()}")
    try:
        sub.wait_err("unreachable")
        assert sub.proc.poll() is None  # still trying
    finally:
        assert sub.terminate() == 0
    assert sum("unreachable" in line for line in sub.err) == 1


def test_seen_ids_is_bounded_lru() -> None:
    seen = SeenIds(3)
    assert all(seen.first_time(i) for i in "abc")
    assert not seen.first_time("a")  # refreshed: now the newest
    assert seen.first_time("d")  # evicts "b", the least recently seen
    assert len(seen) == 3
    assert not seen.first_time("a") and seen.first_time("b")


def test_default_client_id_is_stable_and_topic_specific() -> None:
    a = default_client_id(["ugs/v1/#"], host="field pc")
    assert a == default_client_id(["ugs/v1/#"], host="field pc")
    assert a != default_client_id(["partner/#"], host="field pc")
    assert " " not in a and a.startswith("ugs-sub-field-pc-")
