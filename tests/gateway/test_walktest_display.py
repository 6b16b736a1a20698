"""The walk test's screen, plain lines, keys and level meters, without sensors."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from dsp.records import Detection
from gateway.walktest.display import PlainLines, Screen, SensorLine, View
from gateway.walktest.keys import KeyMarker
from gateway.walktest.levels import FULL_SCALE_DB, LevelMeter, bar
from gateway.walktest.session import WalkTest
from hil.marks import Mark
from tests.gateway.walktest_rig import config

BAR = re.compile(r"\|#+\.*\|")


def view(**changes: object) -> View:
    det = Detection("footstep", 0.93, 1000.0, 1008.0, ("geo1", "pir1"), {"snr_db": 24.2})
    base: dict[str, object] = {
        "title": "ugs-gateway walk test  sector-12/ugs-0007",
        "directory": "/var/lib/ugs-gateway/walktests/20261127T180011Z",
        "now": 1010.0,
        "sensors": [
            SensorLine("geo1", "seismic", "ok", 18.0),
            SensorLine("pir1", "pir", "ok", 3.0),
            SensorLine("mag1", "magnetometer", "quiet: no data for 12 s", None),
        ],
        "current": Mark(1000.0, "walk", 5.0),
        "typed": "1",
        "next_mark": None,
        "detections": [(det, "walk at 5 m")],
        "events": ["mark: walk at 5 m"],
    }
    base.update(changes)
    return View(**base)  # type: ignore[arg-type]


def test_the_screen_shows_bars_and_detections_within_80_columns() -> None:
    out = io.StringIO()
    screen = Screen(out)
    lines = screen.lines(view())
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    assert BAR.search(next(line for line in lines if line.startswith("geo1")))
    assert "QUIET: NO DATA FOR 12 S" in text
    assert "now: walk at 5 m since" in text and "distance: 1_" in text
    assert re.search(r"footstep 0\.93  SNR +24 dB  geo1,pir1  \[walk at 5 m\]", text)
    screen.enter()
    screen.draw(view())
    screen.leave()
    raw = out.getvalue()
    assert raw.startswith("\x1b[?1049h") and "\x1b[H" in raw and raw.endswith("\x1b[?1049l")


def test_without_a_terminal_it_writes_plain_lines() -> None:
    out = io.StringIO()
    lines = PlainLines(out)
    lines.draw(view())
    lines.draw(view(now=1011.0, events=["detection: footstep"]))
    text = out.getvalue()
    assert "\x1b" not in text
    assert "mark: walk at 5 m" in text and "detection: footstep" in text
    assert text.count("levels: geo1 +18 dB, pir1 +3 dB, mag1 quiet") == 1


def test_keys_mark_passes_and_their_distance(tmp_path: Path) -> None:
    now = [1000.0]
    session = WalkTest(config(), tmp_path / "wt", clock=lambda: now[0])
    marker = KeyMarker(session)
    assert marker.handle("12w") == ["mark: walk at 12 m"]
    now[0] = 1020.0
    marker.handle("n")
    marker.handle("7\r")
    assert "no pass going on" in marker.message
    marker.handle("r")
    marker.handle("55\x7f\r")
    assert [(m.kind, m.range_m) for m in session.marks] == [
        ("walk", 12.0),
        ("nothing", None),
        ("run", 5.0),
    ]
    marker.handle("9999\r")
    assert "not within" in marker.message and session.marks[-1].range_m == 5.0
    assert not marker.quit
    marker.handle("q")
    assert marker.quit
    session.writer.close()


def test_the_level_meter_rises_out_of_the_noise_and_falls_back() -> None:
    rng = np.random.default_rng(0)
    meter = LevelMeter("seismic")
    for _ in range(50):
        meter.feed(rng.normal(0.0, 1e-7, (50, 1)), 500.0)
    assert meter.ready and (meter.above_db or 0.0) < 3.0
    for _ in range(5):
        meter.feed(rng.normal(0.0, 1e-5, (50, 1)), 500.0)
    assert (meter.above_db or 0.0) > 20.0
    assert meter.take_peak() > 20.0
    assert bar(None, 12) == "|          |"
    assert bar(FULL_SCALE_DB, 12) == "|##########|" and bar(0.0, 12) == "|..........|"
