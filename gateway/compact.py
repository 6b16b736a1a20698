"""The compact binary encoding of a v1 detection report (for satellite and radio links).

Byte layout, version 1 (``docs/messages.md`` has the same table and a worked example)::

    magic    1   0xC1 = compact, version 1 (0xC0-0xC7 are kept for later versions; none of
                 them can start JSON, which is UTF-8 text)
    flags    1   bit0 clock unsynced, bit1 loc, bit2 loc.alt_m, bit3 features,
                 bit4 site and node inline; bits 5-7 must be 0
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
    [features] 1 count, then per feature: a key byte and the value. Key bit7 set: value is a
                 float32 (4 bytes) else float16 (2 bytes), big-endian. Key bits 0-6: a name
                 from FEATURE_NAMES (1-126), or 0 = a length byte and the name follow;
                 127 is reserved. Values are float16 when that keeps 3 significant digits.

Lossy by design: ``conf`` to 0.005, features to ~3 (float16) or ~7 (float32) significant
digits, ``loc`` to 1e-7 degree, ``alt_m`` to 1 m. Times, ids, class and sensors are exact.
Fields outside v1 are not carried.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Mapping
from typing import Any

from gateway.errors import ProtocolError
from gateway.report import (
    CLOCK_UNSYNCED,
    MAX_TIME_MS,
    VERSION,
    format_time,
    parse_time_ms,
    report_id,
    validate_report,
)

MAGIC = 0xC1
RESERVED_MAGIC = range(0xC0, 0xC8)

FLAG_UNSYNCED = 0x01
FLAG_LOC = 0x02
FLAG_ALT = 0x04
FLAG_FEATURES = 0x08
FLAG_ORIGIN = 0x10
_KNOWN_FLAGS = 0x1F

CLASS_CODES = {"unknown": 0, "footstep": 1, "vehicle": 2}
_CLASS_NAMES = {code: name for name, code in CLASS_CODES.items()}
CLASS_INLINE = 0xFF

# Feature names with a one-byte code. Append only: a code, once published, keeps its name.
FEATURE_NAMES = (
    "cadence_hz", "peak", "rms", "snr_db", "kurtosis", "dominant_hz", "band_ratio",
    "duration_s", "energy", "harmonic_ratio", "cadence_strength", "delta_b_ut", "direction",
    "range_m", "speed_mps", "rise_s", "lines_hz", "stride_hz", "footfalls_per_s",
    "harmonic", "centroid_hz", "pir_direction", "mag_peak_nt",
)  # fmt: skip
_FEATURE_CODES = {name: i + 1 for i, name in enumerate(FEATURE_NAMES)}
FEATURE_FLOAT32 = 0x80

# Sensor names of the form <prefix><0-15> take one byte. Fixed: a code keeps its meaning.
SENSOR_PREFIXES = ("geo", "pir", "mag", "seis", "acc", "mic", "cam", "sensor")
SENSOR_SHORT = 0x80
_SHORT_NUMBERS = frozenset(str(n) for n in range(16))

CONF_STEPS = 200
LOC_SCALE = 10_000_000
_MAX_VARINT = 2**63 - 1
_F32_MAX = 3.4028234663852886e38
_F16_MAX = 65504.0
_F16_MIN_NORMAL = 2.0**-14


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 255:
        raise ProtocolError(f"compact: {value[:20]!r}... is longer than 255 bytes")
    return bytes([len(data)]) + data


def _sensor(name: str) -> bytes:
    for index, prefix in enumerate(SENSOR_PREFIXES):
        number = name[len(prefix) :]
        if name.startswith(prefix) and number in _SHORT_NUMBERS:
            return bytes([SENSOR_SHORT | index << 4 | int(number)])
    data = name.encode("ascii")
    if not 1 <= len(data) < SENSOR_SHORT:
        raise ProtocolError(f"compact: sensor name {name!r} cannot be encoded")
    return bytes([len(data)]) + data


def _feature_value(value: float) -> tuple[int, bytes]:
    """(float32 flag, packed bytes): float16 when it keeps 3 significant digits.

    Subnormal float16 values (below 6.1e-5) have too few bits for that: float32.
    """
    if value == 0 or _F16_MIN_NORMAL <= abs(value) <= _F16_MAX:
        half = struct.pack(">e", value)
        back = struct.unpack(">e", half)[0]
        if value == back or abs(back - value) <= 5e-4 * abs(value):
            return 0, half
    clamped = max(-_F32_MAX, min(_F32_MAX, value))
    return FEATURE_FLOAT32, struct.pack(">f", clamped)


def encode_compact(report: Mapping[str, Any], *, inline_origin: bool = False) -> bytes:
    """Encode a valid v1 report. ``inline_origin`` carries site and node in the payload
    (for links whose topic does not name them)."""
    r = validate_report(report)
    flags = 0
    if r.get("clock") == CLOCK_UNSYNCED:
        flags |= FLAG_UNSYNCED
    loc = r.get("loc")
    if loc is not None:
        flags |= FLAG_LOC
        if "alt_m" in loc:
            flags |= FLAG_ALT
    features = r.get("features")
    if features is not None:
        flags |= FLAG_FEATURES
    if inline_origin:
        flags |= FLAG_ORIGIN
    out = bytearray((MAGIC, flags))
    if inline_origin:
        out += _text(r["site"]) + _text(r["node"])
    t0 = parse_time_ms(r["t0"])
    t1 = parse_time_ms(r["t1"])
    out += _varint(r["boot"]) + _varint(r["seq"])
    out += t0.to_bytes(6, "big") + _varint(t1 - t0)
    code = CLASS_CODES.get(r["class"])
    if code is None and r["class"].startswith("class_") and r["class"][6:].isdigit():
        number = int(r["class"][6:])
        code = number if 3 <= number <= 254 else None
    out += bytes([code]) if code is not None else bytes([CLASS_INLINE]) + _text(r["class"])
    out.append(round(r["conf"] * CONF_STEPS))
    sensors = r["sensors"]
    if len(sensors) > 255:
        raise ProtocolError("compact: more than 255 sensors")
    out.append(len(sensors))
    for name in sensors:
        out += _sensor(name)
    if loc is not None:
        out += struct.pack(">ii", round(loc["lat"] * LOC_SCALE), round(loc["lon"] * LOC_SCALE))
        if "alt_m" in loc:
            out += struct.pack(">h", max(-32768, min(32767, round(loc["alt_m"]))))
    if features is not None:
        if len(features) > 255:
            raise ProtocolError("compact: more than 255 features")
        out.append(len(features))
        for name, value in features.items():
            wide, packed = _feature_value(float(value))
            known = _FEATURE_CODES.get(name)
            if known is not None:
                out.append(known | wide)
            else:
                out.append(wide)
                out += _text(name)
            out += packed
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolError(f"compact: payload ends inside {what} (offset {self.pos})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def varint(self, what: str) -> int:
        value = shift = 0
        while True:
            byte = self.byte(what)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise ProtocolError(f"compact: {what} is too long a varint")
        if value > _MAX_VARINT:
            raise ProtocolError(f"compact: {what} out of range")
        return value

    def sensor(self) -> str:
        first = self.byte("sensor")
        if first & SENSOR_SHORT:
            return f"{SENSOR_PREFIXES[(first >> 4) & 0x07]}{first & 0x0F}"
        self.pos -= 1
        return self.text("sensor name")

    def text(self, what: str) -> str:
        data = self.take(self.byte(what), what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"compact: {what} is not UTF-8") from None


def _shortest(packed: bytes, fmt: str, most: int) -> float:
    """The shortest decimal that packs to the same bits (float16 1.7998 -> 1.8)."""
    value = float(struct.unpack(fmt, packed)[0])
    if not math.isfinite(value):
        return value
    for digits in range(1, most + 1):
        candidate = float(f"{value:.{digits}g}")
        with contextlib.suppress(OverflowError):  # rounded up past the format's largest
            if struct.pack(fmt, candidate) == packed:
                return candidate
    return value


def decode_compact(
    payload: bytes, *, site: str | None = None, node: str | None = None
) -> dict[str, Any]:
    """Decode a compact v1 payload; ``site``/``node`` from the topic unless carried inline.

    Raises :class:`ProtocolError` (only) for anything that is not a valid compact report.
    """
    r = _Reader(bytes(payload))
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
        features: dict[str, float] = {}
        for _ in range(r.byte("feature count")):
            key = r.byte("feature key")
            index = key & 0x7F
            if index == 0:
                name = r.text("feature name")
            elif index <= len(FEATURE_NAMES):
                name = FEATURE_NAMES[index - 1]
            else:
                name = f"f{index}"
            if key & FEATURE_FLOAT32:
                value = _shortest(r.take(4, "feature value"), ">f", 9)
            else:
                value = _shortest(r.take(2, "feature value"), ">e", 5)
            features[name] = value
        report["features"] = features
    if flags & FLAG_UNSYNCED:
        report["clock"] = CLOCK_UNSYNCED
    if r.pos != len(r.data):
        raise ProtocolError(f"compact: {len(r.data) - r.pos} bytes after the report")
    return validate_report(report)
