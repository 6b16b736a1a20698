"""Report encodings on the wire, and the detection topic.

- ``json``: the v1 report as compact UTF-8 JSON (``docs/messages.md``).
- ``compact``: the binary encoding of :mod:`gateway.uplinks.compact`; a typical detection is 33-48
  bytes. Node and site are not in it: they come from the topic.

:func:`decode` tells the two apart by the first byte (compact starts with 0xC0-0xC7, which
UTF-8 text never does), and raises :class:`ProtocolError` for anything else; it never raises
another exception, whatever the bytes. :func:`load_json` is the JSON reader every decoder of
received messages uses: a size and a nesting limit, checked before parsing, so that a
hostile payload costs a :class:`ProtocolError` and not a ``RecursionError``.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from gateway.detection_report import validate_report
from gateway.errors import ProtocolError
from gateway.uplinks.compact import RESERVED_MAGIC, decode_compact, encode_compact

Encoding = Literal["json", "compact"]
ENCODINGS: tuple[Encoding, ...] = ("json", "compact")
DETECTION = "detection"
STATUS = "status"
DEFAULT_PREFIX = "ugs/v1"
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32  # a report nests 3 deep, a status 6
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets in strings ignored)."""
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", data))
    return max(itertools.accumulate(_NESTING[b] for b in brackets), default=0)


def load_json(
    payload: bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """The JSON value of a received payload; :class:`ProtocolError` (only) for a payload
    that is too large, nested too deep, not UTF-8 or not JSON."""
    data = bytes(payload)
    if len(data) > max_bytes:
        raise ProtocolError(f"JSON payload of {len(data)} bytes (at most {max_bytes})")
    if json_depth(data) > max_depth:
        raise ProtocolError(f"JSON payload nested deeper than {max_depth} levels")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"payload is not JSON: {exc}") from None


def detection_topic(site: str, node: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``{prefix}/{site}/{node}/detection``."""
    return f"{prefix.rstrip('/')}/{site}/{node}/{DETECTION}"


def status_topic(site: str, node: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``{prefix}/{site}/{node}/status`` (retained; the last will says ``offline`` there)."""
    return f"{prefix.rstrip('/')}/{site}/{node}/{STATUS}"


def topic_origin(topic: str) -> tuple[str, str] | None:
    """(site, node) of a topic ending in ``{site}/{node}/detection``, whatever its prefix."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[-1] != DETECTION or not parts[-2] or not parts[-3]:
        return None
    return parts[-3], parts[-2]


def encode(report: Mapping[str, Any], encoding: Encoding = "json") -> bytes:
    """The payload of a report in ``encoding``; the report is validated first."""
    if encoding == "json":
        body = validate_report(report)
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if encoding == "compact":
        return encode_compact(report)
    raise ValueError(f"unknown encoding {encoding!r} (expected one of {ENCODINGS})")


def detect(payload: bytes) -> Encoding:
    """Which encoding a payload is in (by its first byte)."""
    if not payload:
        raise ProtocolError("empty payload")
    return "compact" if payload[0] in RESERVED_MAGIC else "json"


def decode(payload: bytes, *, topic: str | None = None) -> dict[str, Any]:
    """A validated v1 report from a JSON or compact payload.

    ``topic`` supplies node and site for compact payloads (``.../{site}/{node}/detection``).
    Raises :class:`ProtocolError`, and nothing else, for payloads that are not a report.
    """
    if detect(payload) == "compact":
        origin = topic_origin(topic) if topic else None
        site, node = origin if origin else (None, None)
        return decode_compact(payload, site=site, node=node)
    return validate_report(load_json(payload))
