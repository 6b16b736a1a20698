"""SAPIENT frames, identifiers and validation: byte vectors and fuzzing."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway.errors import ProtocolError
from gateway.uplinks.sapient_codec import (
    FrameDecoder,
    FrameTooLargeError,
    derived_ulid,
    encode_frame,
    is_node_id,
    is_ulid,
    new_node_id,
    new_ulid,
    parse_message,
    timestamp,
)
from gateway.uplinks.sapient_validate import problems


def _status(now: float) -> SapientMessage:
    message = SapientMessage()
    message.timestamp.CopyFrom(timestamp(now))
    message.node_id = new_node_id()
    report = message.status_report
    report.report_id = new_ulid(now)
    report.system = report.SYSTEM_OK
    report.info = report.INFO_NEW
    report.mode = "normal"
    return message


def test_a_frame_is_a_little_endian_length_then_the_message() -> None:
    assert encode_frame(b"\x08\x01") == b"\x02\x00\x00\x00\x08\x01"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert encode_frame(b"x" * 258)[:4] == b"\x02\x01\x00\x00"


def test_frames_come_out_whole_whatever_the_split() -> None:
    payloads = [b"a", b"", b"b" * 300, b"c" * 5]
    stream = b"".join(encode_frame(p) for p in payloads)
    for size in (1, 2, 3, 5, 7, len(stream)):
        decoder = FrameDecoder()
        got = [p for i in range(0, len(stream), size) for p in decoder.feed(stream[i : i + size])]
        assert got == payloads
        assert decoder.pending == 0


def test_a_length_of_2_to_the_31_is_refused_before_reading_it() -> None:
    decoder = FrameDecoder()
    with pytest.raises(FrameTooLargeError, match="2147483648 bytes"):
        list(decoder.feed((2**31).to_bytes(4, "little") + b"xx"))


def test_a_truncated_frame_waits_and_counts_its_bytes() -> None:
    decoder = FrameDecoder()
    assert list(decoder.feed(encode_frame(b"abcdef")[:7])) == []
    assert decoder.pending == 7


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64),
    st.lists(st.binary(max_size=40), max_size=5),
    st.binary(max_size=64),
    st.integers(1, 17),
)
def test_garbage_around_frames_raises_only_protocol_errors(
    before: bytes, payloads: list[bytes], after: bytes, size: int
) -> None:
    stream = before + b"".join(encode_frame(p) for p in payloads) + after
    decoder = FrameDecoder(max_bytes=4096)
    try:
        for i in range(0, len(stream), size):
            for payload in decoder.feed(stream[i : i + size]):
                with contextlib.suppress(ProtocolError):
                    parse_message(payload)
    except FrameTooLargeError:
        pass
    if not before:  # in step: the frames come out as sent
        decoder = FrameDecoder(max_bytes=4096)
        got = [p for p in decoder.feed(b"".join(encode_frame(p) for p in payloads))]
        assert got == payloads


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_protocol_error(payload: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        parse_message(payload)


def test_ulids_are_upper_case_and_derived_ones_are_stable() -> None:
    now = time.time()
    first = derived_ulid("ugs-0007-3-1542/object", now)
    assert first == derived_ulid("ugs-0007-3-1542/object", now)
    assert first != derived_ulid("ugs-0007-3-1543/object", now)
    assert is_ulid(first) and first == first.upper() and len(first) == 26
    assert is_ulid(new_ulid(now)) and not is_ulid(new_ulid(now).lower())
    assert derived_ulid("x", 0.0).startswith("0000000000")  # an unset clock: time part 0


def test_node_ids_are_lower_case_uuid4() -> None:
    node = new_node_id()
    assert is_node_id(node) and not is_node_id(node.upper())
    assert not is_node_id("550e8400-e29b-11d4-a716-446655440000")  # a version 1 UUID


def test_validation_names_each_rule_broken() -> None:
    now = time.time()
    assert problems(_status(now), now) == []
    message = _status(now - 2.0)
    message.status_report.ClearField("mode")
    message.status_report.system = 42
    message.node_id = message.node_id.upper()
    found = problems(message, now)
    assert any(p.startswith("status_report.mode: mandatory") for p in found)
    assert any("42 is not a value of System" in p for p in found)
    assert any(p.startswith("node_id:") and "UUID" in p for p in found)
    assert any(p.startswith("timestamp: -2.0") for p in found)
    late = _status(now + 0.5)
    assert any("timestamp: +0.5" in p for p in problems(late, now))


def test_unknown_fields_are_found() -> None:
    now = time.time()
    payload = _status(now).SerializeToString() + b"\xf8\x07\x01"  # field 127, varint 1
    found = problems(parse_message(payload), now)
    assert found == ["SapientMessage: unknown field number(s) [127]"]


def test_a_message_without_content_is_invalid() -> None:
    message = SapientMessage()
    message.timestamp.CopyFrom(timestamp(time.time()))
    message.node_id = new_node_id()
    assert "content: mandatory, none of its fields is set" in problems(message)
