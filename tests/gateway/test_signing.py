"""Signed reports: the unit signs with its own key, `subscribe --verify-key` accepts only what
that key signed for the topic it came on. Forged, altered, unsigned, moved and replayed
reports are rejected; the real ones still arrive, ids intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway.cli import main
from gateway.detection_report import build_report
from gateway.signing import SignatureError, Signer, Verifier, split
from gateway.uplinks.encoding import decode, encode
from tests.broker import Broker
from tests.gateway.mqtt_collect import wait_until
from tests.gateway.uplink_rig import NODE, SITE, fields, gateway, uplink_config

ROOT = Path(__file__).resolve().parents[2]
TOPIC = f"ugs/v1/{SITE}/{NODE}/detection"


def make_key(tmp_path: Path, name: str = "signing.key") -> tuple[Path, Signer]:
    path = tmp_path / name
    assert main(["key", "generate", str(path)]) == 0
    assert (path.stat().st_mode & 0o777) == 0o640
    return path, Signer.from_file(path)


def key_line(path: Path, node: str = NODE) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "key", "public", "--key", str(path), "--node", node],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return proc.stdout.strip()


def report(seq: int, cls: str = "vehicle") -> dict[str, Any]:
    return build_report(fields(seq, cls=cls), node=NODE, site=SITE, boot=1, seq=seq)


@pytest.mark.parametrize("encoding", ["json", "compact"])
def test_a_signature_verifies_only_for_its_node_topic_and_bytes(
    tmp_path: Path, encoding: str
) -> None:
    _, signer = make_key(tmp_path)
    _, stranger = make_key(tmp_path, "other.key")
    verifier = Verifier({NODE: signer.public_key})
    payload = signer.sign(TOPIC, encode(report(1), encoding))  # type: ignore[arg-type]
    body, signature = split(payload)
    assert signature is not None and len(signature) == 64
    verifier.verify(NODE, TOPIC, body, signature)
    # A JSON reader that does not verify sees the report with one more field.
    assert decode(body, topic=TOPIC)["id"] == f"{NODE}-1-1"
    if encoding == "compact":
        assert payload[0] == 0xC2 and len(payload) == len(body) + 64
    with pytest.raises(SignatureError, match="does not verify"):
        verifier.verify(NODE, f"other/ugs/v1/{SITE}/{NODE}/detection", body, signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verifier.verify(NODE, TOPIC, body[:-2] + bytes([body[-2] ^ 1]) + body[-1:], signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verifier.verify(NODE, TOPIC, body, stranger.signature(TOPIC, body))
    with pytest.raises(SignatureError, match="not signed"):
        verifier.verify(NODE, TOPIC, body, None)
    with pytest.raises(SignatureError, match="no key"):
        verifier.verify("ugs-9999", TOPIC, body, signature)


def test_key_lines_round_trip_and_bad_ones_name_their_line(tmp_path: Path) -> None:
    path, _ = make_key(tmp_path)
    line = key_line(path)
    assert line.startswith(f"ugs-ed25519 {NODE} ")
    verifier = Verifier.from_lines(["# partner keys", "", line])
    assert list(verifier.keys) == [NODE]
    from gateway.errors import ConfigError

    with pytest.raises(ConfigError, match="line 2"):
        Verifier.from_lines([line, "ugs-ed25519 ugs-1 not-base64!"])
    assert main(["key", "generate", str(path)]) == 2  # never replaces a unit's key


class Publisher:
    """Anyone allowed to publish on the partner's broker."""

    def __init__(self, broker: Broker) -> None:
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="attacker")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_until(self.client.is_connected, 10, "the publisher's CONNACK")

    def send(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_subscribe(broker: Broker, keys: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "subscribe", "--broker",
         f"{broker.host}:{broker.port}", "--topic", "ugs/v1/#", "--topic", "other/ugs/v1/#",
         "--verify-key", str(keys), "--client-id", "central-verify"],
        stdout=out.open("w"), stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def reports(path: Path) -> list[dict[str, Any]]:
    return [line for line in lines(path) if "id" in line]


@pytest.mark.parametrize("encoding", ["json", "compact"])
def test_subscribe_rejects_forged_and_replayed_reports(
    tmp_path: Path, make_broker: Any, encoding: str
) -> None:
    broker = make_broker()
    key_file, signer = make_key(tmp_path)
    other_key, _ = make_key(tmp_path, "ugs-other.key")
    keys = tmp_path / "partner-keys"
    keys.write_text(key_line(key_file) + "\n" + key_line(other_key, "ugs-other") + "\n")
    out = tmp_path / "out.jsonl"
    sub = run_subscribe(broker, keys, out)
    attacker = Publisher(broker)
    captured: list[tuple[str, bytes]] = []
    listener = paho.Client(CallbackAPIVersion.VERSION2, client_id="eavesdropper")
    got = threading.Event()

    def on_message(c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic.endswith("/detection"):
            captured.append((msg.topic, bytes(msg.payload)))
            got.set()

    subscribed = threading.Event()
    listener.on_message = on_message
    listener.on_subscribe = lambda *args: subscribed.set()
    listener.connect(broker.host, broker.port)
    listener.subscribe("ugs/v1/#", qos=1)
    listener.loop_start()
    try:
        assert subscribed.wait(10)
        # subscribe is ready when it prints a status published after it started.
        probe = "ugs/v1/probe/probe/status"
        wait_until(
            lambda: (
                attacker.send(probe, b"probe")
                or any(line.get("topic") == probe for line in lines(out))
            ),
            15,
            "subscribe to start",
        )
        config = uplink_config("central", broker.port, encoding=encoding)
        with gateway(tmp_path, [config], signer=signer) as (outbox, _):
            real = [outbox.store(fields(n, cls="vehicle")) for n in range(3)]
            assert got.wait(10)
            wait_until(lambda: len(reports(out)) >= 3, 15, "the signed reports")
            # Forged: the next id, unsigned, and signed with a key that is not the unit's.
            unsigned = encode(report(4, "footstep"), encoding)  # type: ignore[arg-type]
            attacker.send(TOPIC, unsigned)
            _, wrong = make_key(tmp_path, "attacker.key")
            attacker.send(TOPIC, wrong.sign(TOPIC, unsigned))
            # Altered: a real signed report with its class changed.
            topic, genuine = captured[0]
            if encoding == "json":
                attacker.send(topic, genuine.replace(b'"vehicle"', b'"unknown"'))
            else:
                attacker.send(topic, genuine[:-70] + bytes([genuine[-70] ^ 1]) + genuine[-69:])
            # Replayed: the same genuine report again, and moved to another node and prefix.
            attacker.send(topic, genuine)
            attacker.send(topic.replace(NODE, "ugs-other"), genuine)
            attacker.send("other/" + topic, genuine)
            # The unit's next real report is still accepted: no id was taken by a forgery.
            # (The broker had every message above before this one: whatever subscribe would
            # wrongly accept has reached it by the time this report has.)
            real.append(outbox.store(fields(4, cls="footstep")))
            wait_until(lambda: len(reports(out)) >= 4, 15, "the next real report")
    finally:
        listener.disconnect()
        listener.loop_stop()
        attacker.close()
        sub.terminate()
        _, err = sub.communicate(timeout=10)
    got = reports(out)
    assert [line["id"] for line in got] == [r["id"] for r in real]
    assert [line["class"] for line in got] == ["vehicle", "vehicle", "vehicle", "footstep"]
    assert sub.returncode == 0
    assert "rejected a report" in err


def documented_acl() -> str:
    doc = (ROOT / "docs" / "signing.md").read_text()
    section = doc[doc.index("## A mosquitto ACL per unit") :]
    return section.split("```")[1].strip("\n") + "\n"


def publish_as(broker: Broker, user: str, password: str, client_id: str, topic: str) -> None:
    """One publish on a connection of its own: mosquitto 2.0 either acknowledges a denied
    publish and drops it, or closes the connection; either way it goes nowhere."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    done = threading.Event()
    client.on_publish = lambda *args: done.set()
    client.on_disconnect = lambda *args: done.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        wait_until(client.is_connected, 10, f"{user}'s CONNACK")
        if client.publish(topic, b"{}", qos=1).rc == 0:
            assert done.wait(5), f"neither PUBACK nor a closed connection for {topic}"
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_documented_acl_lets_a_unit_publish_under_its_own_topics_only(
    make_broker: Any,
) -> None:
    users = {"ugs-0007": "pw7", "ugs-0008": "pw8", "central": "pwc"}
    broker = make_broker(users=users, acl=documented_acl())
    got: list[str] = []
    ready = threading.Event()
    central = paho.Client(CallbackAPIVersion.VERSION2, client_id="central-acl")
    central.username_pw_set("central", "pwc")
    central.on_subscribe = lambda *args: ready.set()
    central.on_message = lambda c, u, msg: got.append(msg.topic)
    central.connect(broker.host, broker.port)
    central.subscribe("ugs/v1/#", qos=1)
    central.loop_start()
    try:
        assert ready.wait(10)
        for n, topic in enumerate(
            (
                "ugs/v1/sector-12/ugs-0008/detection",  # another unit's: denied
                "ugs/v1/sector-12/ugs-0007/config",  # not a topic a unit uses: denied
                "ugs/v1/sector-12/ugs-0007/status",
                "ugs/v1/sector-12/ugs-0007/detection",  # the last: the others came before it
            )
        ):
            publish_as(broker, "ugs-0007", "pw7", f"unit-acl-{n}", topic)
        wait_until(lambda: "ugs/v1/sector-12/ugs-0007/detection" in got, 10, "the report")
    finally:
        central.disconnect()
        central.loop_stop()
    assert got == ["ugs/v1/sector-12/ugs-0007/status", "ugs/v1/sector-12/ugs-0007/detection"]
