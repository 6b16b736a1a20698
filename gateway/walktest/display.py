"""The walk test on screen: sensor bars and detections, live, on an 80-column terminal.

:class:`Screen` redraws the whole picture a few times a second on a terminal (the alternate
screen, as ``top`` and ``less`` use it, so the shell's lines come back afterwards);
:class:`PlainLines` writes one line per event when the output is not a terminal (a pipe, a
log file): marks, detections, sensors that go quiet, and every few seconds the levels.
Both draw a :class:`View`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from dsp.records import Detection
from gateway.walktest.levels import bar
from gateway.walktest.summary import clock_time
from hil.marks import Mark

WIDTH = 80
LEVELS_EVERY_S = 10.0
KEY_HELP = "keys: w walk  r run  v vehicle  n nothing  0-9 distance, Enter  q quit"

ENTER_ALT = "\x1b[?1049h\x1b[?25l"
LEAVE_ALT = "\x1b[?25h\x1b[?1049l"
HOME = "\x1b[H"
CLEAR_LINE = "\x1b[K"
CLEAR_BELOW = "\x1b[J"


@dataclass
class SensorLine:
    name: str
    kind: str
    state: str
    """``ok``, ``quiet`` (no data for a while), ``waiting`` (none yet), ``down: why``."""
    above_db: float | None


@dataclass
class View:
    title: str
    directory: str
    now: float
    sensors: list[SensorLine]
    current: Mark | None
    typed: str
    """Digits typed so far (a distance)."""
    next_mark: str | None
    """What the plan marks next, and when."""
    detections: Sequence[tuple[Detection, str]]
    """Recent detections, newest last, each with the pass it fell in (or "")."""
    message: str = ""
    marks: int = 0
    events: list[str] = field(default_factory=list)
    """New things since the last view (for plain lines)."""


def detection_line(d: Detection, where: str) -> str:
    snr = d.features.get("snr_db")
    text = (
        f"{clock_time(d.t0)}  {d.cls:<8} {d.conf:4.2f}  "
        f"SNR {f'{snr:.0f} dB' if snr is not None else '  -  ':>5}  {','.join(d.sensors)}"
    )
    return f"{text}  [{where}]" if where else text


def mark_text(mark: Mark | None) -> str:
    return "nothing" if mark is None else mark.describe()


class Screen:
    """A full-screen picture, redrawn in place."""

    def __init__(self, out: TextIO, width: int = WIDTH) -> None:
        self.out = out
        self.width = max(40, width)

    def enter(self) -> None:
        self.out.write(ENTER_ALT)
        self.out.flush()

    def leave(self) -> None:
        self.out.write(LEAVE_ALT)
        self.out.flush()

    def lines(self, view: View) -> list[str]:
        w = self.width
        rule = "-" * w
        head = f"{view.title}  {time.strftime('%H:%M:%S', time.localtime(view.now))}"
        out = [head, f"recording to {view.directory}", rule]
        name_w = max([4, *(len(s.name) for s in view.sensors)])
        bar_w = max(10, w - name_w - 2 - 13 - 8)
        for s in view.sensors:
            if s.state == "ok":
                db = f"+{s.above_db:.0f} dB" if s.above_db is not None else ""
                out.append(f"{s.name:<{name_w}}  {s.kind[:12]:<13}{bar(s.above_db, bar_w)} {db}")
            else:
                out.append(f"{s.name:<{name_w}}  {s.kind[:12]:<13}{s.state.upper()}")
        out.append(rule)
        since = ""
        if view.current is not None:
            since = f" since {clock_time(view.current.t)} ({view.now - view.current.t:.0f} s)"
        typed = f"   distance: {view.typed}_" if view.typed else ""
        out.append(f"now: {mark_text(view.current)}{since}{typed}")
        if view.next_mark:
            out.append(f"plan: {view.next_mark}")
        out.append(KEY_HELP)
        if view.message:
            out.append(view.message)
        out.append(rule)
        out.append("detections (newest first):")
        for d, where in reversed(view.detections):
            out.append(detection_line(d, where))
        return [line[:w] for line in out]

    def draw(self, view: View, height: int = 24) -> None:
        lines = self.lines(view)[:height]
        self.out.write(HOME + "".join(f"{line}{CLEAR_LINE}\r\n" for line in lines) + CLEAR_BELOW)
        self.out.flush()


class PlainLines:
    """One line per event, for a pipe or a log."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._levels_at = 0.0

    def enter(self) -> None:
        return None

    def leave(self) -> None:
        return None

    def draw(self, view: View, height: int = 0) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(view.now))
        for event in view.events:
            self.out.write(f"{stamp}  {event}\n")
        if view.now - self._levels_at >= LEVELS_EVERY_S:
            self._levels_at = view.now
            parts = []
            for s in view.sensors:
                if s.state == "ok" and s.above_db is not None:
                    parts.append(f"{s.name} +{s.above_db:.0f} dB")
                else:
                    parts.append(f"{s.name} {s.state}")
            self.out.write(f"{stamp}  levels: {', '.join(parts)}\n")
        self.out.flush()
