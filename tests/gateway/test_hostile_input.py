"""Hostile input never ends the subscriber, and every decoder raises its documented error only.

- `ugs-gateway subscribe`, a real process on a real mosquitto with a persistent session,
  meets poison messages: a retained status nested 100 000 deep, reports with integers of
  hundreds of digits, garbage. It logs, acknowledges and skips each one, prints the good
  reports around them, and a restart (the session resumed, the retained poison delivered
  again) changes nothing.
- Property-based fuzzing of each decoder with structured JSON (report-shaped objects whose
  fields take any JSON value, deep nesting, huge numbers), not only random bytes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from gateway.detection_report import validate_report
from gateway.errors import ProtocolError
from gateway.signing import Signer, Verifier, generate_key, split
from gateway.subscriber import status_line, verified_report
from gateway.uplinks.encoding import decode, encode, load_json
from tests.broker import Broker
from tests.gateway.mqtt_collect import wait_until

ROOT = Path(__file__).resolve().parents[2]
NODE, SITE = "ugs-0007", "sector-12"
TOPIC = f"ugs/v1/{SITE}/{NODE}/detection"
STATUS = f"ugs/v1/{SITE}/{NODE}/status"
PROBE = "ugs/v1/probe/probe/status"
GOOD = {
    "v": 1, "id": f"{NODE}-3-1", "node": NODE, "site": SITE, "boot": 3, "seq": 1,
    "class": "footstep", "conf": 0.93, "t0": "2026-11-27T18:02:11.250Z",
    "t1": "2026-11-27T18:02:17.750Z", "sensors": ["geo1", "pir1"],
    "features": {"cadence_hz": 1.8, "peak": 0.0021}, "loc": {"lat": 49.0, "lon": -122.7},
}  # fmt: skip
HUGE = 10**400


def good(seq: int) -> bytes:
    return json.dumps({**GOOD, "id": f"{NODE}-3-{seq}", "seq": seq}).encode()


def variant(seq: int, **changes: Any) -> bytes:
    return json.dumps({**GOOD, "id": f"{NODE}-3-{seq}", "seq": seq, **changes}).encode()


POISON: list[tuple[str, bytes]] = [
    (TOPIC, b"[" * 100_000),
    (TOPIC, variant(2, conf=HUGE)),
    (TOPIC, variant(3, features={"peak": HUGE})),
    (TOPIC, variant(4, loc={"lat": HUGE, "lon": 0})),
    (TOPIC, b'{"v": 1, "seq": ' + b"9" * 5000 + b"}"),
    (TOPIC, b"\xc1" + b"\xff" * 40),
    (STATUS, b'{"a": ' * 50_000 + b"1" + b"}" * 50_000),
]


class Subscribe:
    """`ugs-gateway subscribe` as a central system runs it: persistent session, one id."""

    def __init__(self, broker: Broker, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "subscribe", "--broker",
             f"{broker.host}:{broker.port}", "--topic", "ugs/v1/#", "--client-id", "poisoned"],
            stdout=out.open("a"), stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip

    def lines(self) -> list[dict[str, Any]]:
        text = self.out.read_text() if self.out.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        assert self.proc.returncode == 0, err[-3000:]
        return err


def publish(broker: Broker, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="hostile")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        wait_until(client.is_connected, 10, "the publisher's CONNACK")
        for topic, payload in messages:
            client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_poison_messages_are_logged_acknowledged_and_skipped(
    tmp_path: Path, make_broker: Any
) -> None:
    broker = make_broker()
    out = tmp_path / "out.jsonl"
    # A retained poison status is there before the subscriber ever connects (and a retained
    # good status of another node, which says when the subscriber has had the retained ones).
    publish(broker, [POISON[-1], (PROBE, b'{"state": "ok"}')], retain=True)
    sub = Subscribe(broker, out)
    wait_until(lambda: any(line.get("status") == {"state": "ok"} for line in sub.lines())
               or sub.proc.poll() is not None, 15, "subscribe to start")  # fmt: skip
    assert sub.proc.poll() is None, "subscribe died on the retained status"
    publish(broker, [(TOPIC, good(1)), *POISON[:-1], (TOPIC, good(5))])
    wait_until(lambda: any(line.get("seq") == 5 for line in sub.lines())
               or sub.proc.poll() is not None, 15, "the report after the poison")  # fmt: skip
    assert sub.proc.poll() is None, "subscribe died on a poison report"
    err = sub.stop()
    assert "ignoring" in err and "Traceback" not in err
    # Again with the session resumed: nothing was left unacknowledged, the retained poison
    # comes again, and a report sent while it was away arrives.
    publish(broker, [(TOPIC, good(6))])
    again = Subscribe(broker, out)
    wait_until(lambda: any(line.get("seq") == 6 for line in again.lines())
               or again.proc.poll() is not None, 15, "the report sent while away")  # fmt: skip
    err = again.stop()
    assert "Traceback" not in err
    seqs = [line["seq"] for line in again.lines() if "seq" in line]
    assert seqs == [1, 5, 6]


# -- decoders under fuzzing -------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**600), max_value=10**600)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def report_like(draw: st.DrawFn) -> dict[str, Any]:
    """A valid report with some fields replaced or added, each by any JSON value."""
    report: dict[str, Any] = dict(GOOD)
    keys = draw(st.lists(st.sampled_from([*GOOD, "clock", "flags", "sig", "x"]), max_size=4))
    for key in keys:
        if draw(st.booleans()):
            report[key] = draw(JSON_VALUES)
        else:
            report.pop(key, None)
    return report


def nested(depth: int, opener: bytes, closer: bytes) -> bytes:
    return opener * depth + b"1" + closer * depth


def _dump(value: Any) -> bytes:
    with_limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # let hypothesis's huge integers be written out
    try:
        return json.dumps(value).encode()
    finally:
        sys.set_int_max_str_digits(with_limit)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VERIFIER = Verifier({NODE: Signer.from_pem(generate_key()).public_key})


@FUZZ
@given(report_like())
@example({**GOOD, "conf": HUGE})
@example({**GOOD, "features": {"peak": -HUGE}})
@example({**GOOD, "loc": {"lat": HUGE, "lon": 1}})
@example({**GOOD, "boot": 2**64})
def test_report_decoders_raise_only_protocol_error(report: dict[str, Any]) -> None:
    payload = _dump(report)
    for decoder in (
        lambda: validate_report(report),
        lambda: decode(payload, topic=TOPIC),
        lambda: verified_report(payload, TOPIC, VERIFIER),
        lambda: status_line(STATUS, payload, False),
    ):
        with contextlib.suppress(ProtocolError):
            decoder()
    # What validates can be encoded and decoded again (no number that breaks the compact
    # encoder, nothing that is not JSON).
    try:
        valid = validate_report(report)
    except ProtocolError:
        return
    for encoding in ("json", "compact"):
        back = decode(encode(valid, encoding), topic=TOPIC)  # type: ignore[arg-type]
        assert back["id"] == valid["id"]
        assert math.isfinite(back["conf"])


@FUZZ
@given(JSON_VALUES, st.sampled_from([TOPIC, STATUS, "x", ""]))
def test_any_json_value_raises_only_protocol_error(value: Any, topic: str) -> None:
    payload = _dump(value)
    for decoder in (
        lambda: decode(payload, topic=topic),
        lambda: status_line(topic, payload, True),
        lambda: verified_report(payload, topic, VERIFIER),
        lambda: load_json(payload),
    ):
        with contextlib.suppress(ProtocolError):
            decoder()
    split(payload)  # never raises


@FUZZ
@given(
    st.integers(min_value=1, max_value=200_000),
    st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"a":', b"}]")]),
    st.booleans(),
)
@example(100_000, (b"[", b"]"), False)
def test_deep_nesting_raises_only_protocol_error(
    depth: int, brackets: tuple[bytes, bytes], closed: bool
) -> None:
    opener, closer = brackets
    payload = nested(depth, opener, closer) if closed else opener * depth
    for decoder in (
        lambda: decode(payload, topic=TOPIC),
        lambda: status_line(STATUS, payload, True),
        lambda: verified_report(payload, TOPIC, VERIFIER),
    ):
        with contextlib.suppress(ProtocolError):
            decoder()


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([TOPIC, STATUS]))
def test_random_bytes_raise_only_protocol_error(payload: bytes, topic: str) -> None:
    for candidate in (payload, b"\xc2" + payload, payload + b',"sig":"' + b"A" * 86 + b'"}'):
        for decoder in (
            lambda c=candidate: decode(c, topic=topic),
            lambda c=candidate: status_line(topic, c, False),
            lambda c=candidate: verified_report(c, topic, VERIFIER),
        ):
            with contextlib.suppress(ProtocolError):
                decoder()


@pytest.mark.parametrize(("topic", "payload"), POISON)
def test_each_poison_message_is_a_protocol_error(topic: str, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        if topic == STATUS:
            status_line(topic, payload, True)
        else:
            decode(payload, topic=topic)
