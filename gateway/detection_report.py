"""The detection report, version 1: its fields, how to build one and how to check one.

A report is a plain ``dict`` of JSON types, in this key order::

    {"v": 1, "id": "ugs-0007-3-1542", "node": "ugs-0007", "site": "sector-12",
     "boot": 3, "seq": 1542, "class": "footstep", "conf": 0.93,
     "t0": "2026-11-27T18:02:11.250Z", "t1": "2026-11-27T18:02:17.750Z",
     "sensors": ["geo1", "pir1"], "features": {"cadence_hz": 1.8, "peak": 0.0021},
     "loc": {"lat": 49.0, "lon": -122.7}}

- ``id`` is ``{node}-{boot}-{seq}``; ``boot`` counts the gateway's starts, ``seq`` counts
  reports from 1 within a boot (the outbox assigns both).
- ``class`` is ``footstep``, ``vehicle`` or ``unknown``; other lower-case names may be added
  later and receivers accept them. ``conf`` is in [0, 1].
- ``t0``/``t1`` (start and end of the event) are ISO-8601 UTC with milliseconds.
- ``features`` (name -> finite number) and ``loc`` (``lat``, ``lon``, optional ``alt_m``) are
  optional: a partner's share filter may redact them, and a node without a configured location
  has no ``loc``.
- ``clock``: present, with the value ``"unsynced"``, only when the node's clock was not
  synchronised when the event happened, by the rule of :mod:`gateway.clock` (a unit without
  a real-time clock boots in 1970 until NTP or GNSS sets it). Its ``t0``/``t1`` are then only
  good relative to each other and to other reports of the same boot. Absent means the clock
  was believed correct.
- ``model``: optional, the classifier that made the detection, ``{id}@{hash}``: the model's
  id and the first 8 hex digits of its file's SHA-256 (a site model made by ``ugs-gateway
  calibrate`` is told from the packaged model by both).

Receivers keep fields they do not know (later versions may add optional ones).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from gateway import clock
from gateway.errors import ProtocolError

VERSION = 1
CLASSES = ("unknown", "footstep", "vehicle")
CLOCK_UNSYNCED = "unsynced"

KEY_ORDER = (
    "v", "id", "node", "site", "boot", "seq", "class", "conf",
    "t0", "t1", "sensors", "features", "loc", "clock", "model",
)  # fmt: skip

# Used with fullmatch: "$" would let a trailing newline through.
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_CLASS = re.compile(r"[a-z][a-z0-9_]{0,31}")
_FEATURE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_MODEL = re.compile(r"[A-Za-z0-9_.:+-]{1,96}(@[0-9a-f]{8})?")
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]{1,9}))?Z")
_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_MAX_COUNTER = 2**63 - 1
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last ISO-8601 4-digit year


def format_time(epoch_s: float) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-27T18:02:11.250Z``."""
    ms = round(epoch_s * 1000)
    if not 0 <= ms <= MAX_TIME_MS:
        raise ValueError(f"time {epoch_s} s is outside 1970..9999 and cannot be reported")
    whole, frac = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:03d}Z"


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO-8601 UTC time as written by :func:`format_time`."""
    return parse_time_ms(text) / 1000.0


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds of an ISO-8601 UTC time (``...Z``, up to 9 fraction digits)."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError(f"time {text!r} is not ISO-8601 UTC like 2026-11-27T18:02:11.250Z")
    try:
        whole = (datetime.fromisoformat(text[:19]) - _EPOCH) // _MS
    except ValueError as exc:
        raise ProtocolError(f"time {text!r}: {exc}") from None
    if whole < 0:
        raise ProtocolError(f"time {text!r} is before 1970")
    frac = match.group(1)
    return int(whole) + (int(frac[:3].ljust(3, "0")) if frac else 0)


def report_id(node: str, boot: int, seq: int) -> str:
    return f"{node}-{boot}-{seq}"


def detection_fields(
    cls: str,
    conf: float,
    t0: float,
    t1: float,
    sensors: Sequence[str],
    *,
    features: Mapping[str, float] | None = None,
    loc: Mapping[str, float] | None = None,
    clock_ok: bool | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The fields of a detection that the pipeline hands to ``Outbox.store``.

    ``t0``/``t1`` are epoch seconds. ``clock_ok`` is the clock's
    state (:class:`gateway.clock.ClockWatch`); None leaves it to the floor at ``t1``.
    ``model`` names the classifier (``model_tag``).
    The outbox adds ``v``, ``id``, ``node``, ``site``, ``boot`` and ``seq``.

    What a detector may hand over that a report cannot carry is mended rather than refused,
    so that one odd number never costs a detection: ``conf`` is clamped to [0, 1] (NaN is
    0), features that are not finite are left out, and feature names are made to fit
    (other characters become ``_``, at most 32).
    """
    fields: dict[str, Any] = {
        "class": cls,
        "conf": round(min(1.0, max(0.0, float(conf))), 4),
        "t0": format_time(t0),
        "t1": format_time(t1),
        "sensors": list(sensors),
    }
    if features is not None:
        fields["features"] = {
            _feature_name(str(k)): float(v) for k, v in features.items() if math.isfinite(v)
        }
    if loc is not None:
        fields["loc"] = {str(k): float(v) for k, v in loc.items()}
    if not clock.trusted(clock_ok, t1):
        fields["clock"] = CLOCK_UNSYNCED
    if model:
        fields["model"] = model
    return fields


def model_tag(name: str, digest: str) -> str:
    """``{id}@{hash}`` as a report's ``model`` (only the id when the hash is unknown), with
    characters a tag cannot hold made ``_``."""
    mended = re.sub(r"[^A-Za-z0-9_.:+-]", "_", name)[:96] or "unnamed"
    return f"{mended}@{digest}" if re.fullmatch(r"[0-9a-f]{8}", digest) else mended


def _feature_name(name: str) -> str:
    mended = re.sub(r"[^A-Za-z0-9_]", "_", name)[:32]
    return mended if mended[:1].isalpha() and mended.isascii() else f"f_{mended}"[:32]


def build_report(
    fields: Mapping[str, Any], *, node: str, site: str, boot: int, seq: int
) -> dict[str, Any]:
    """A complete, validated v1 report from detection fields plus its identity."""
    body = dict(fields)
    for key in ("v", "id", "node", "site", "boot", "seq"):
        body.pop(key, None)
    body.update(v=VERSION, id=report_id(node, boot, seq), node=node, site=site, boot=boot, seq=seq)
    return validate_report(body)


def _fail(message: str) -> ProtocolError:
    return ProtocolError(f"report: {message}")


def _counter(report: Mapping[str, Any], key: str) -> int:
    value = report.get(key)
    if type(value) is not int or not 1 <= value <= _MAX_COUNTER:
        raise _fail(f"{key} must be a positive integer, got {value!r}")
    return value


_MAX_EXACT_INT = 2**53  # beyond this an integer is not a number a float can carry


def _number(value: Any) -> TypeGuard[int | float]:
    if type(value) is int:
        # math.isfinite would raise OverflowError for an integer of a few hundred digits.
        return -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT
    return type(value) is float and math.isfinite(value)


def validate_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Check a v1 report; return it as a new dict in the canonical key order.

    Raises :class:`ProtocolError` naming the first field that is wrong. Unknown keys are kept
    (after the known ones) so that a newer sender's optional fields pass through.
    """
    if not isinstance(report, Mapping):
        raise _fail(f"expected an object, got {type(report).__name__}")
    if report.get("v") != VERSION or type(report.get("v")) is not int:
        raise _fail(f"unsupported version v={report.get('v')!r} (this gateway reads v=1)")
    for key in ("node", "site"):
        value = report.get(key)
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise _fail(f"{key} must be a name of letters, digits, '_', '.', '-', got {value!r}")
    boot = _counter(report, "boot")
    seq = _counter(report, "seq")
    if report.get("id") != report_id(report["node"], boot, seq):
        raise _fail(f"id {report.get('id')!r} is not node-boot-seq")
    cls = report.get("class")
    if not isinstance(cls, str) or not _CLASS.fullmatch(cls):
        raise _fail(f"class must be a lower-case name like 'footstep', got {cls!r}")
    conf = report.get("conf")
    if not _number(conf) or not 0.0 <= conf <= 1.0:
        raise _fail(f"conf must be a number in [0, 1], got {conf!r}")
    t0 = parse_time_ms(report.get("t0"))  # type: ignore[arg-type]
    t1 = parse_time_ms(report.get("t1"))  # type: ignore[arg-type]
    if t1 < t0:
        raise _fail("t1 is before t0")
    sensors = report.get("sensors")
    if not isinstance(sensors, list) or not all(
        isinstance(s, str) and _NAME.fullmatch(s) for s in sensors
    ):
        raise _fail(f"sensors must be a list of sensor names, got {sensors!r}")
    if "features" in report:
        features = report["features"]
        if not isinstance(features, Mapping) or not all(
            isinstance(k, str) and _FEATURE.fullmatch(k) and _number(v) for k, v in features.items()
        ):
            raise _fail("features must map names to finite numbers")
    if "loc" in report and report["loc"] is not None:
        loc = report["loc"]
        if not isinstance(loc, Mapping) or set(loc) - {"lat", "lon", "alt_m"}:
            raise _fail("loc must be {lat, lon[, alt_m]}")
        lat, lon = loc.get("lat"), loc.get("lon")
        if not (_number(lat) and -90 <= lat <= 90 and _number(lon) and -180 <= lon <= 180):
            raise _fail(f"loc has no valid lat/lon: {dict(loc)!r}")
        if "alt_m" in loc and not _number(loc["alt_m"]):
            raise _fail("loc.alt_m must be a number")
    if "clock" in report and report["clock"] != CLOCK_UNSYNCED:
        raise _fail(f"clock may only be {CLOCK_UNSYNCED!r}, got {report['clock']!r}")
    if "model" in report and not (
        isinstance(report["model"], str) and _MODEL.fullmatch(report["model"])
    ):
        raise _fail(f"model must be 'id@hash' like 'site-x@0a1b2c3d', got {report['model']!r}")
    out = {key: report[key] for key in KEY_ORDER if key in report}
    if out.get("loc", 0) is None:
        del out["loc"]
    out.update((key, value) for key, value in report.items() if key not in out and key != "loc")
    return out
