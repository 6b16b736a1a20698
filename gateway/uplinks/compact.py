"""The compact binary encoding of a v1 detection report (for satellite and radio links).

Byte layout, version 1 (``docs/messages.md`` has the same table and a worked example)::

    magic    1   0xC1 = compact, version 1 (0xC0-0xC7 are kept for later versions; none of
                 them can start JSON, which is UTF-8 text)
    flags    1   bit0 clock unsynced, bit1 loc, bit2 loc.alt_m, bit3 features,
                 bit4 site and node inline, bit5 some features are float32,
                 bit6 features without a code follow; bit7 must be 0
    [site, node] when bit4: each a length byte and ASCII (else they come from the topic
                 ``.../{site}/{node}/detection``)
    boot     varint  (unsigned LEB128, 1..2^63-1)
    seq      varint
    t0       6   milliseconds since 1970-01-01 UTC, unsigned big-endian
    dt       varint  t1 - t0 in milliseconds
    class    1   0 unknown, 1 footstep, 2 vehicle, 3-254 reserved for classes added later
                 (an older decoder names them "class_<n>"), 255 = a length byte and the name
    conf     1   round(conf * 200): 0..200, steps of 0.005
    sensors  1   count, then per sensor one byte: 0x80 | prefix << 4 | n names
                 SENSOR_PREFIXES[prefix] + str(n) ("geo1" = 0x81); 0x01-0x7F is the
                 length of the ASCII name that follows
    [loc]    8   lat, lon: signed 32-bit big-endian, units of 1e-7 degree (~1 cm)
    [alt]    2   alt_m: signed 16-bit big-endian, whole metres (saturating)
    [features]   mask varint: bit (code-1) set = feature FEATURE_NAMES[code-1] present;
                 [bit5: float32 mask varint, same bits]; the values in code order, float16
                 (2 bytes) or float32 (4), big-endian; [bit6: a count byte, then per
                 feature a byte (length of its ASCII name | 0x80 if float32), the name,
                 the value]. float16 is used when it keeps 3 significant digits.

Lossy by design: ``conf`` to 0.005, features to ~3 (float16) or ~7 (float32) significant
digits, ``loc`` to 1e-7 degree, ``alt_m`` to 1 m. Times, ids, class and sensors are exact.
Fields outside v1 are not carried.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from gateway.detection_report import (
    CLOCK_UNSYNCED,
    MAX_TIME_MS,
    VERSION,
    format_time,
    parse_time_ms,
    report_id,
    validate_report,
)
from gateway.errors import ProtocolError
from gateway.uplinks.compact_fields import (
    FEATURE_NAMES,
    SENSOR_PREFIXES,
    Reader,
    encode_features,
    sensor,
    text,
    varint,
)

__all__ = ["FEATURE_NAMES", "MAGIC", "SENSOR_PREFIXES", "decode_compact", "encode_compact"]

MAGIC = 0xC1
RESERVED_MAGIC = range(0xC0, 0xC8)

FLAG_UNSYNCED = 0x01
FLAG_LOC = 0x02
FLAG_ALT = 0x04
FLAG_FEATURES = 0x08
FLAG_ORIGIN = 0x10
FLAG_WIDE = 0x20
FLAG_NAMED = 0x40
_KNOWN_FLAGS = 0x7F

CLASS_CODES = {"unknown": 0, "footstep": 1, "vehicle": 2}
_CLASS_NAMES = {code: name for name, code in CLASS_CODES.items()}
CLASS_INLINE = 0xFF

CONF_STEPS = 200
LOC_SCALE = 10_000_000


def encode_compact(report: Mapping[str, Any], *, inline_origin: bool = False) -> bytes:
    """Encode a valid v1 report. ``inline_origin`` carries site and node in the payload
    (for links whose topic does not name them)."""
    r = validate_report(report)
    flags = FLAG_ORIGIN if inline_origin else 0
    if r.get("clock") == CLOCK_UNSYNCED:
        flags |= FLAG_UNSYNCED
    loc = r.get("loc")
    if loc is not None:
        flags |= FLAG_LOC | (FLAG_ALT if "alt_m" in loc else 0)
    block = b""
    if "features" in r:
        block, wide, named = encode_features(r["features"])
        flags |= FLAG_FEATURES | (FLAG_WIDE if wide else 0) | (FLAG_NAMED if named else 0)
    out = bytearray((MAGIC, flags))
    if inline_origin:
        out += text(r["site"]) + text(r["node"])
    t0 = parse_time_ms(r["t0"])
    t1 = parse_time_ms(r["t1"])
    out += varint(r["boot"]) + varint(r["seq"])
    out += t0.to_bytes(6, "big") + varint(t1 - t0)
    code = CLASS_CODES.get(r["class"])
    if code is None and r["class"].startswith("class_") and r["class"][6:].isdigit():
        number = int(r["class"][6:])
        code = number if 3 <= number <= 254 else None
    out += bytes([code]) if code is not None else bytes([CLASS_INLINE]) + text(r["class"])
    out.append(round(r["conf"] * CONF_STEPS))
    sensors = r["sensors"]
    if len(sensors) > 255:
        raise ProtocolError("compact: more than 255 sensors")
    out.append(len(sensors))
    for name in sensors:
        out += sensor(name)
    if loc is not None:
        out += struct.pack(">ii", round(loc["lat"] * LOC_SCALE), round(loc["lon"] * LOC_SCALE))
        if "alt_m" in loc:
            out += struct.pack(">h", max(-32768, min(32767, round(loc["alt_m"]))))
    return bytes(out + block)


def decode_compact(
    payload: bytes, *, site: str | None = None, node: str | None = None
) -> dict[str, Any]:
    """Decode a compact v1 payload; ``site``/``node`` from the topic unless carried inline.

    Raises :class:`ProtocolError` (only) for anything that is not a valid compact report.
    """
    r = Reader(bytes(payload))
    magic = r.byte("magic")
    if magic != MAGIC:
        if magic in RESERVED_MAGIC:
            raise ProtocolError(f"compact: version byte 0x{magic:02X} is newer than this decoder")
        raise ProtocolError(f"compact: bad magic byte 0x{magic:02X}")
    flags = r.byte("flags")
    if flags & ~_KNOWN_FLAGS:
        raise ProtocolError(f"compact: unknown flags 0x{flags:02X}")
    if flags & FLAG_ALT and not flags & FLAG_LOC:
        raise ProtocolError("compact: altitude without a location")
    if flags & (FLAG_WIDE | FLAG_NAMED) and not flags & FLAG_FEATURES:
        raise ProtocolError("compact: feature flags without features")
    if flags & FLAG_ORIGIN:
        site, node = r.text("site"), r.text("node")
    if site is None or node is None:
        raise ProtocolError(
            "compact: the payload does not name its node; decode it with the topic "
            "(.../{site}/{node}/detection)"
        )
    boot = r.varint("boot")
    seq = r.varint("seq")
    t0 = int.from_bytes(r.take(6, "t0"), "big")
    t1 = t0 + r.varint("duration")
    if t1 > MAX_TIME_MS:
        raise ProtocolError("compact: t0/t1 after the year 9999")
    code = r.byte("class")
    cls = r.text("class name") if code == CLASS_INLINE else _CLASS_NAMES.get(code, f"class_{code}")
    conf_steps = r.byte("conf")
    if conf_steps > CONF_STEPS:
        raise ProtocolError(f"compact: conf byte {conf_steps} > {CONF_STEPS}")
    sensors = [r.sensor() for _ in range(r.byte("sensor count"))]
    report: dict[str, Any] = {
        "v": VERSION,
        "id": report_id(node, boot, seq),
        "node": node,
        "site": site,
        "boot": boot,
        "seq": seq,
        "class": cls,
        "conf": conf_steps / CONF_STEPS,
        "t0": format_time(t0 / 1000),
        "t1": format_time(t1 / 1000),
        "sensors": sensors,
    }
    if flags & FLAG_LOC:
        lat, lon = struct.unpack(">ii", r.take(8, "loc"))
        loc = {"lat": lat / LOC_SCALE, "lon": lon / LOC_SCALE}
        if flags & FLAG_ALT:
            loc["alt_m"] = float(struct.unpack(">h", r.take(2, "alt"))[0])
        report["loc"] = loc
    if flags & FLAG_FEATURES:
        report["features"] = r.features(bool(flags & FLAG_WIDE), bool(flags & FLAG_NAMED))
    if flags & FLAG_UNSYNCED:
        report["clock"] = CLOCK_UNSYNCED
    if r.pos != len(r.data):
        raise ProtocolError(f"compact: {len(r.data) - r.pos} bytes after the report")
    return validate_report(report)
