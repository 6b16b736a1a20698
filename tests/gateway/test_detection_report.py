"""The v1 report model: building, checking, times, and the unsynchronised-clock mark."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.clock import plausible
from gateway.detection_report import (
    build_report,
    detection_fields,
    format_time,
    parse_time,
    parse_time_ms,
    validate_report,
)
from gateway.errors import ProtocolError

T0 = 1_795_802_531.25  # 2026-11-27T18:02:11.250Z


def report(**fields: Any) -> dict[str, Any]:
    base = detection_fields("footstep", 0.93, T0, T0 + 6.5, ["geo1", "pir1"])
    base.update(fields)
    return build_report(base, node="ugs-0007", site="sector-12", boot=3, seq=1542)


def test_times_are_iso_utc_with_milliseconds() -> None:
    assert format_time(T0) == "2026-11-27T18:02:11.250Z"
    assert parse_time("2026-11-27T18:02:11.250Z") == T0
    assert parse_time_ms("2026-11-27T18:02:11Z") == 1_795_802_531_000
    assert parse_time_ms("2026-11-27T18:02:11.2509Z") == 1_795_802_531_250
    assert format_time(0) == "1970-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T18:02:11.250",  # no zone
        "2026-11-27T18:02:11.250+01:00",
        "2026-11-27 18:02:11.250Z",
        "2026-11-27T18:02:11.250Z\n",
        "2026-02-30T18:02:11.250Z",
        "２026-11-27T18:02:11.250Z",  # a digit, but not an ASCII one
        "",
    ],
)
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_time_ms(text)


def test_build_assigns_identity_in_canonical_order() -> None:
    r = report()
    assert list(r) == [
        "v", "id", "node", "site", "boot", "seq", "class", "conf", "t0", "t1", "sensors",
    ]  # fmt: skip
    assert r["id"] == "ugs-0007-3-1542" and r["t1"] == "2026-11-27T18:02:17.750Z"
    # Identity fields in the input are replaced, not trusted.
    assert report(id="forged", seq=99)["id"] == "ugs-0007-3-1542"


def test_clock_not_set_is_marked() -> None:
    assert plausible(T0) and not plausible(120.0)
    fields = detection_fields("vehicle", 0.5, 120.0, 125.0, ["mag1"])
    assert fields["clock"] == "unsynced" and fields["t0"] == "1970-01-01T00:02:00.000Z"
    assert "clock" not in detection_fields("vehicle", 0.5, T0, T0 + 1, ["mag1"])
    assert detection_fields("vehicle", 0.5, T0, T0 + 1, ["mag1"], clock_ok=False)["clock"]


def test_odd_detector_numbers_are_mended_not_refused() -> None:
    fields = detection_fields(
        "footstep",
        float("nan"),
        T0,
        T0 + 1,
        ["geo1"],
        features={"ok": 1.0, "inf": float("inf"), "band-10-100": 2.0, "1st": 3.0},
    )
    r = build_report(fields, node="n1", site="s1", boot=1, seq=1)
    assert r["conf"] == 0.0
    assert r["features"] == {"ok": 1.0, "band_10_100": 2.0, "f_1st": 3.0}
    assert detection_fields("footstep", 1.2, T0, T0 + 1, ["geo1"])["conf"] == 1.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"v": 2}, "version"),
        ({"node": "ugs/0007"}, "node"),
        ({"node": "ugs-0007\n"}, "node"),
        ({"boot": 0}, "boot"),
        ({"seq": True}, "seq"),
        ({"id": "ugs-0007-3-1543"}, "id"),
        ({"class": "Footstep"}, "class"),
        ({"conf": -0.1}, "conf"),
        ({"t1": "2026-11-27T18:02:11.000Z"}, "t1"),
        ({"sensors": "geo1"}, "sensors"),
        ({"sensors": ["geo 1"]}, "sensors"),
        ({"features": {"peak": float("nan")}}, "features"),
        ({"features": {"peak": "high"}}, "features"),
        ({"loc": {"lat": 91.0, "lon": 0.0}}, "loc"),
        ({"loc": {"lat": 1.0, "lon": 2.0, "height": 3.0}}, "loc"),
        ({"clock": "synced"}, "clock"),
    ],
)
def test_validation_names_the_wrong_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ProtocolError, match=field):
        validate_report({**report(), **change})


def test_unknown_fields_pass_through_and_null_loc_is_dropped() -> None:
    r = validate_report({**report(), "flags": ["clipped"], "loc": None})
    assert r["flags"] == ["clipped"] and "loc" not in r
    assert list(r)[-1] == "flags"
