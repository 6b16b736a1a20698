"""Report encodings: JSON v1 and compact binary round-trip; garbage only ever raises
ProtocolError; the documented example is what the encoder produces."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.detection_report import build_report, detection_fields, format_time, validate_report
from gateway.errors import ProtocolError
from gateway.uplinks.compact import decode_compact, encode_compact
from gateway.uplinks.encoding import decode, detection_topic, encode, topic_origin

DOCS = Path(__file__).resolve().parents[2] / "docs" / "messages.md"
TOPIC = "ugs/v1/sector-12/ugs-0007/detection"

EXAMPLE: dict[str, Any] = {
    "v": 1, "id": "ugs-0007-3-1542", "node": "ugs-0007", "site": "sector-12",
    "boot": 3, "seq": 1542, "class": "footstep", "conf": 0.93,
    "t0": "2026-11-27T18:02:11.250Z", "t1": "2026-11-27T18:02:17.750Z",
    "sensors": ["geo1", "pir1"], "features": {"cadence_hz": 1.8, "peak": 2.1e-3},
    "loc": {"lat": 49.0, "lon": -122.7},
}  # fmt: skip
EXAMPLE_HEX = (
    "c1 0a 03 86 0c 01 a2 1e 2c 05 b2 e4 32 01 ba 02 81 91 1d 34 ce 80 b6 dd 77 40 24 3f 33 18 4d"
)

names = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
sensor_names = st.one_of(
    st.sampled_from(["geo1", "pir1", "mag1", "geo0", "geo15", "geo16", "geo01", "sensor7", "s"]),
    st.from_regex(r"[A-Za-z0-9_.-]{1,32}", fullmatch=True),
)
feature_names = st.one_of(
    st.sampled_from(["cadence_hz", "peak", "snr_db", "rise_s"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,31}", fullmatch=True),
)
classes = st.one_of(
    st.sampled_from(["footstep", "vehicle", "unknown", "class_7"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
)
feature_values = st.one_of(
    st.floats(-1e38, 1e38, allow_nan=False, allow_infinity=False),
    st.floats(-100, 100, allow_nan=False),
    st.integers(-(10**6), 10**6).map(float),
)
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    t0 = draw(st.integers(0, MAX_MS - 10**9))
    dt = draw(st.integers(0, 10**9))
    fields: dict[str, Any] = {
        "class": draw(classes),
        "conf": draw(st.floats(0, 1)),
        "t0": format_time(t0 / 1000),
        "t1": format_time((t0 + dt) / 1000),
        "sensors": draw(st.lists(sensor_names, max_size=6)),
    }
    if draw(st.booleans()):
        fields["features"] = draw(st.dictionaries(feature_names, feature_values, max_size=6))
    if draw(st.booleans()):
        loc = {"lat": draw(st.floats(-90, 90)), "lon": draw(st.floats(-180, 180))}
        if draw(st.booleans()):
            loc["alt_m"] = float(draw(st.integers(-32768, 32767)))
        fields["loc"] = loc
    if draw(st.booleans()):
        fields["clock"] = "unsynced"
    return build_report(
        fields,
        node=draw(names),
        site=draw(names),
        boot=draw(st.integers(1, 2**63 - 1)),
        seq=draw(st.integers(1, 2**63 - 1)),
    )


def assert_close(decoded: dict[str, Any], original: dict[str, Any]) -> None:
    exact = ("v", "id", "node", "site", "boot", "seq", "class", "t0", "t1", "sensors", "clock")
    for key in exact:
        assert decoded.get(key) == original.get(key), key
    assert abs(decoded["conf"] - original["conf"]) <= 0.0025 + 1e-12
    assert ("loc" in decoded) == ("loc" in original)
    if "loc" in original:
        assert abs(decoded["loc"]["lat"] - original["loc"]["lat"]) <= 1e-7
        assert abs(decoded["loc"]["lon"] - original["loc"]["lon"]) <= 1e-7
        assert decoded["loc"].get("alt_m") == original["loc"].get("alt_m")
    assert ("features" in decoded) == ("features" in original)
    if "features" in original:
        assert set(decoded["features"]) == set(original["features"])
        for name, value in original["features"].items():
            assert math.isclose(decoded["features"][name], value, rel_tol=1e-3, abs_tol=1e-37)


@given(reports())
@example(EXAMPLE)
def test_json_round_trip_is_exact(report: dict[str, Any]) -> None:
    assert decode(encode(report, "json")) == validate_report(report)


@given(reports())
@example(EXAMPLE)
@example(dict(EXAMPLE, features={"tiny": 1.192092896e-07, "f16max": 65504.0, "big": 3.4e38}))
def test_compact_round_trip(report: dict[str, Any]) -> None:
    payload = encode(report, "compact")
    assert_close(decode(payload, topic=detection_topic(report["site"], report["node"])), report)
    # With node and site inline it needs no topic.
    assert_close(decode_compact(encode_compact(report, inline_origin=True)), report)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_every_truncation_and_any_trailing_byte_is_rejected(report: dict[str, Any]) -> None:
    topic = detection_topic(report["site"], report["node"])
    for encoding in ("json", "compact"):
        payload = encode(report, encoding)  # type: ignore[arg-type]
        for cut in range(len(payload)):
            with pytest.raises(ProtocolError):
                decode(payload[:cut], topic=topic)
    with pytest.raises(ProtocolError):
        decode(encode(report, "compact") + b"\x00", topic=topic)


@given(st.binary(max_size=80), st.sampled_from([None, TOPIC, "x", ""]))
@example(b"\xc1", TOPIC)
@example(b"\xc1\x00" + b"\xff" * 12, TOPIC)
@example(b"[" * 5000, None)
@example(b"NaN", None)
@example(b'{"v": 1}', None)
@example(b"\xc7\x00", TOPIC)
def test_garbage_only_raises_protocol_error(payload: bytes, topic: str | None) -> None:
    try:
        report = decode(payload, topic=topic)
    except ProtocolError:
        return
    assert validate_report(report) == report


@given(reports(), st.data())
def test_flipped_bytes_never_crash(report: dict[str, Any], data: st.DataObject) -> None:
    payload = bytearray(encode(report, "compact"))
    index = data.draw(st.integers(1, len(payload) - 1))
    payload[index] ^= data.draw(st.integers(1, 255))
    try:
        decoded = decode(bytes(payload), topic=detection_topic(report["site"], report["node"]))
    except ProtocolError:
        return
    assert validate_report(decoded) == decoded


def test_typical_detection_is_at_most_48_bytes_and_matches_the_docs() -> None:
    payload = encode(EXAMPLE, "compact")
    assert len(payload) <= 48
    assert payload.hex(" ") == EXAMPLE_HEX
    assert EXAMPLE_HEX in " ".join(DOCS.read_text().split())
    # A detection as the detector reports it (two sensors, its seven features, the
    # location) late in a long boot: seq takes 3 bytes, a tiny peak needs float32.
    detector = build_report(
        detection_fields(
            "footstep",
            0.973,
            1_795_802_417.363,
            1_795_802_449.843,
            ["geo1", "pir1"],
            features={
                "duration_s": 32.48,
                "snr_db": 32.1,
                "cadence_hz": 1.664,
                "harmonic": 0.391,
                "centroid_hz": 23.678,
                "peak": 4.27e-06,
                "pir_direction": 1.0,
            },
            loc={"lat": 49.0, "lon": -122.7},
        ),
        node="ugs-0007",
        site="sector-12",
        boot=3,
        seq=123_456,
    )
    payload = encode(detector, "compact")
    assert len(payload) <= 48
    assert_close(decode(payload, topic=TOPIC), detector)
    # Sensor names that do not fit the one-byte form cost their length + 1.
    named = dict(EXAMPLE, sensors=["geophone-north", "pir1"])
    assert len(encode(named, "compact")) == len(encode(EXAMPLE, "compact")) + 14
    busy = build_report(
        detection_fields(
            "vehicle",
            0.71,
            1_795_000_000.0,
            1_795_000_012.4,
            ["geo1", "pir1", "mag1"],
            features={"dominant_hz": 14.5, "peak": 0.012, "duration_s": 12.4, "snr_db": 21.0},
            loc={"lat": 49.00012, "lon": -122.70034, "alt_m": 112.0},
            clock_ok=False,
        ),
        node="ugs-0007",
        site="sector-12",
        boot=1234,
        seq=1_000_000,
    )
    assert len(encode(busy, "compact")) == 41


def test_compact_needs_topic_or_inline_origin() -> None:
    payload = encode(EXAMPLE, "compact")
    with pytest.raises(ProtocolError, match="topic"):
        decode(payload)
    with pytest.raises(ProtocolError, match="topic"):
        decode(payload, topic="ugs/v1/sector-12/ugs-0007/status")
    assert decode(payload, topic="agency-a/ugs/sector-12/ugs-0007/detection")["id"] == EXAMPLE["id"]


def test_unknown_class_codes_and_newer_versions() -> None:
    payload = bytearray(encode(EXAMPLE, "compact"))
    payload[13] = 9  # a class code this decoder does not know (offset of the class byte)
    assert decode(bytes(payload), topic=TOPIC)["class"] == "class_9"
    assert encode(decode(bytes(payload), topic=TOPIC), "compact") == bytes(payload)
    payload[0] = 0xC2
    with pytest.raises(ProtocolError, match="newer"):
        decode(bytes(payload), topic=TOPIC)


def test_inconsistent_feature_blocks_are_rejected() -> None:
    payload = encode(EXAMPLE, "compact")
    head, block = payload[:-5], payload[-5:]  # the features block: 24 3f 33 18 4d
    assert block.hex() == "243f33184d"
    wide = bytearray(head)
    wide[1] |= 0x20  # "some features are float32", with a float32 mask outside the mask
    with pytest.raises(ProtocolError, match="float32 mask"):
        decode(bytes(wide) + b"\x24\x01" + block[1:], topic=TOPIC)
    named = bytearray(head)
    named[1] |= 0x40  # a named "peak" on top of the coded one
    twice = block + b"\x01\x04peak\x3c\x00"
    with pytest.raises(ProtocolError, match="twice"):
        decode(bytes(named) + twice, topic=TOPIC)
    no_features = bytearray(head)
    no_features[1] = (no_features[1] & ~0x08) | 0x40
    with pytest.raises(ProtocolError, match="without features"):
        decode(bytes(no_features), topic=TOPIC)


def test_unsynced_clock_survives_both_encodings() -> None:
    report = build_report(
        detection_fields("footstep", 0.5, 12.0, 13.5, ["geo1"]),
        node="n1",
        site="s1",
        boot=1,
        seq=1,
    )
    assert report["clock"] == "unsynced" and report["t0"] == "1970-01-01T00:00:12.000Z"
    for encoding in ("json", "compact"):
        decoded = decode(encode(report, encoding), topic=detection_topic("s1", "n1"))  # type: ignore[arg-type]
        assert decoded["clock"] == "unsynced"


@pytest.mark.parametrize(
    ("topic", "origin"),
    [
        ("ugs/v1/sector-12/ugs-0007/detection", ("sector-12", "ugs-0007")),
        ("a/b/c/sector-12/ugs-0007/detection", ("sector-12", "ugs-0007")),
        ("sector-12/ugs-0007/detection", ("sector-12", "ugs-0007")),
        ("ugs/v1/sector-12/ugs-0007/status", None),
        ("ugs-0007/detection", None),
        ("ugs/v1//ugs-0007/detection", None),
    ],
)
def test_topic_origin(topic: str, origin: tuple[str, str] | None) -> None:
    assert topic_origin(topic) == origin


def test_invalid_reports_are_refused_by_encode() -> None:
    bad = dict(EXAMPLE, id="someone-else-1-1")
    for encoding in ("json", "compact"):
        with pytest.raises(ProtocolError, match="id"):
            encode(bad, encoding)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="t1"):
        encode(dict(EXAMPLE, t1="2026-11-27T18:02:10.000Z"), "json")
    with pytest.raises(ProtocolError, match="features"):
        encode(dict(EXAMPLE, features={"peak": float("nan")}), "compact")
