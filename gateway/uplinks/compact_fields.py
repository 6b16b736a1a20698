"""Building blocks of the compact encoding: varints, strings, sensor names, feature blocks.

See :mod:`gateway.uplinks.compact` for the layout they make up.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Mapping

from gateway.errors import ProtocolError

# Feature names with a code; a feature block says which are present with one bit each (bit
# code-1 of a varint mask), so the detector's own features come first. Append only: a
# published code keeps its name.
FEATURE_NAMES = (
    "duration_s", "snr_db", "cadence_hz", "harmonic", "centroid_hz", "peak", "pir_direction",
    "mag_peak_nt", "rms", "kurtosis", "dominant_hz", "band_ratio", "energy", "harmonic_ratio",
    "cadence_strength", "delta_b_ut", "direction", "range_m", "speed_mps", "rise_s",
    "lines_hz", "stride_hz", "footfalls_per_s",
)  # fmt: skip
FEATURE_CODES = {name: i + 1 for i, name in enumerate(FEATURE_NAMES)}
MAX_FEATURE_CODE = 63  # the mask is a varint of at most 63 bits
NAME_FLOAT32 = 0x80  # in a named feature's length byte

# Sensor names of the form <prefix><0-15> take one byte. Fixed: a code keeps its meaning.
SENSOR_PREFIXES = ("geo", "pir", "mag", "seis", "acc", "mic", "cam", "sensor")
SENSOR_SHORT = 0x80
_SHORT_NUMBERS = frozenset(str(n) for n in range(16))

MAX_VARINT = 2**63 - 1
_F32_MAX = 3.4028234663852886e38
_F16_MAX = 65504.0
_F16_MIN_NORMAL = 2.0**-14


def varint(value: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def text(value: str) -> bytes:
    """A length byte and UTF-8."""
    data = value.encode("utf-8")
    if len(data) > 255:
        raise ProtocolError(f"compact: {value[:20]!r}... is longer than 255 bytes")
    return bytes([len(data)]) + data


def sensor(name: str) -> bytes:
    for index, prefix in enumerate(SENSOR_PREFIXES):
        number = name[len(prefix) :]
        if name.startswith(prefix) and number in _SHORT_NUMBERS:
            return bytes([SENSOR_SHORT | index << 4 | int(number)])
    data = name.encode("ascii")
    if not 1 <= len(data) < SENSOR_SHORT:
        raise ProtocolError(f"compact: sensor name {name!r} cannot be encoded")
    return bytes([len(data)]) + data


def feature_value(value: float) -> tuple[bool, bytes]:
    """(is float32, packed bytes): float16 when it keeps 3 significant digits.

    Subnormal float16 values (below 6.1e-5) have too few bits for that: float32.
    """
    if value == 0 or _F16_MIN_NORMAL <= abs(value) <= _F16_MAX:
        half = struct.pack(">e", value)
        back = struct.unpack(">e", half)[0]
        if value == back or abs(back - value) <= 5e-4 * abs(value):
            return False, half
    return True, struct.pack(">f", max(-_F32_MAX, min(_F32_MAX, value)))


def encode_features(features: Mapping[str, float]) -> tuple[bytes, bool, bool]:
    """(block, has a float32 mask, has named features) for a report's features."""
    mask = wide = 0
    values = bytearray()
    named = bytearray()
    count = 0
    for code, name in enumerate(FEATURE_NAMES, start=1):
        if name in features:
            is_wide, packed = feature_value(float(features[name]))
            mask |= 1 << (code - 1)
            wide |= int(is_wide) << (code - 1)
            values += packed
    for name, value in features.items():
        if name in FEATURE_CODES:
            continue
        is_wide, packed = feature_value(float(value))
        data = name.encode("ascii")
        named += bytes([len(data) | (NAME_FLOAT32 if is_wide else 0)]) + data + packed
        count += 1
    if count > 255:
        raise ProtocolError("compact: more than 255 features without a code")
    block = varint(mask) + (varint(wide) if wide else b"") + values
    if count:
        block += bytes([count]) + named
    return block, bool(wide), bool(count)


class Reader:
    """Reads the fields of a compact payload; every shortfall is a ProtocolError."""

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
        if value > MAX_VARINT:
            raise ProtocolError(f"compact: {what} out of range")
        return value

    def text(self, what: str) -> str:
        data = self.take(self.byte(what), what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"compact: {what} is not UTF-8") from None

    def sensor(self) -> str:
        first = self.byte("sensor")
        if first & SENSOR_SHORT:
            return f"{SENSOR_PREFIXES[(first >> 4) & 0x07]}{first & 0x0F}"
        self.pos -= 1
        return self.text("sensor name")

    def value(self, wide: bool) -> float:
        if wide:
            return _shortest(self.take(4, "feature value"), ">f", 9)
        return _shortest(self.take(2, "feature value"), ">e", 5)

    def features(self, has_wide: bool, has_named: bool) -> dict[str, float]:
        mask = self.varint("feature mask")
        wide = self.varint("float32 mask") if has_wide else 0
        if wide & ~mask or (has_wide and not wide):
            raise ProtocolError("compact: float32 mask does not match the feature mask")
        features: dict[str, float] = {}
        for bit in range(MAX_FEATURE_CODE):
            if mask >> bit & 1:
                name = FEATURE_NAMES[bit] if bit < len(FEATURE_NAMES) else f"f{bit + 1}"
                features[name] = self.value(bool(wide >> bit & 1))
        if has_named:
            count = self.byte("feature count")
            if not count:
                raise ProtocolError("compact: empty list of named features")
            for _ in range(count):
                head = self.byte("feature name")
                name = self.take(head & 0x7F, "feature name").decode("ascii", "replace")
                if name in features:
                    raise ProtocolError(f"compact: feature {name!r} given twice")
                features[name] = self.value(bool(head & NAME_FLOAT32))
        return features


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
