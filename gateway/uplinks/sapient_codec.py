"""SAPIENT on the wire: frames, identifiers and times (pure functions, no I/O).

A SAPIENT stream (BSI Flex 335 v2.0) is a sequence of frames, each a 4-byte unsigned
little-endian length followed by that many bytes of one protobuf ``SapientMessage``.
:class:`FrameDecoder` takes bytes as they arrive (any split) and returns whole payloads; a
length beyond its limit is a :class:`FrameTooLargeError` (the stream cannot be trusted after it:
the caller drops the connection). :func:`parse_message` turns a payload into a message or a
:class:`ProtocolError`, and never raises anything else, whatever the bytes.

Identifiers: a node is a lower-case UUID v4 (:func:`new_node_id`); reports, objects, tasks and
alerts are upper-case ULIDs (Crockford base 32, 26 characters: 48 bits of milliseconds, then 80
bits). :func:`derived_ulid` makes the same ULID from the same key every time, so a report sent
again after an outage carries the same ``report_id`` and ``object_id``.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import uuid
from collections.abc import Iterator

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway.errors import ProtocolError

HEADER = struct.Struct("<I")
MAX_FRAME_BYTES = 1024 * 1024
"""Largest message accepted from a peer; a unit's own messages are a few hundred bytes."""

ICD_VERSION = "BSI Flex 335 v2.0"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_MAX_MS = (1 << 48) - 1


class FrameTooLargeError(ProtocolError):
    """A length prefix beyond the limit: garbage, or a peer that must not be trusted."""


def encode_frame(message: SapientMessage | bytes) -> bytes:
    """The frame of one message (or of an already serialised payload)."""
    payload = message if isinstance(message, bytes) else message.SerializeToString()
    return HEADER.pack(len(payload)) + payload


class FrameDecoder:
    """Reassembles frames from a byte stream, holding at most one frame's bytes.

    ``feed(data)`` yields every payload completed by ``data``. It raises
    :class:`FrameTooLargeError` for a length over ``max_bytes`` (before reading any of it), after
    which the decoder must be discarded with the connection. ``pending`` counts the bytes of an
    unfinished frame (a peer that stops mid-frame is found with it).
    """

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[bytes]:
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            (length,) = HEADER.unpack_from(self._buffer)
            if length > self.max_bytes:
                raise FrameTooLargeError(
                    f"frame of {length} bytes announced (limit {self.max_bytes}): "
                    "not a SAPIENT peer, or the stream is out of step"
                )
            end = HEADER.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            yield payload


def parse_message(payload: bytes) -> SapientMessage:
    """A ``SapientMessage`` from its protobuf bytes; :class:`ProtocolError` if it is not one."""
    message = SapientMessage()
    try:
        message.ParseFromString(payload)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ProtocolError(f"not a SapientMessage ({len(payload)} bytes): {exc}") from None
    return message


# -- identifiers ---------------------------------------------------------------------------


def _ulid_text(ms: int, tail: bytes) -> str:
    value = (min(max(ms, 0), _MAX_MS) << 80) | int.from_bytes(tail[:10], "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_ulid(epoch_s: float) -> str:
    """A fresh ULID for a message sent at ``epoch_s``."""
    return _ulid_text(round(epoch_s * 1000), os.urandom(10))


def derived_ulid(key: str, epoch_s: float) -> str:
    """The ULID of ``key`` (same key and time, same ULID): time part from ``epoch_s``, the
    other 80 bits from a hash of ``key``."""
    return _ulid_text(round(epoch_s * 1000), hashlib.sha256(key.encode()).digest())


def is_ulid(text: str) -> bool:
    """An upper-case ULID: 26 Crockford base-32 characters, first one 0-7 (48-bit time)."""
    return isinstance(text, str) and _ULID.fullmatch(text) is not None


def new_node_id() -> str:
    return str(uuid.uuid4())


def is_node_id(text: str) -> bool:
    """A lower-case UUID version 4 (RFC 4122 variant), as SAPIENT wants a ``node_id``."""
    return isinstance(text, str) and _UUID4.fullmatch(text) is not None


# -- times ---------------------------------------------------------------------------------


def timestamp(epoch_s: float) -> Timestamp:
    stamp = Timestamp()
    nanos = round(epoch_s * 1e9)
    stamp.seconds, stamp.nanos = divmod(nanos, 1_000_000_000)
    return stamp


def epoch_of(stamp: Timestamp) -> float:
    return stamp.seconds + stamp.nanos / 1e9
