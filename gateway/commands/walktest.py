"""Walk test: watch the sensors while someone walks and drives past, mark what happens,
record it all, and see what the unit made of each pass.

Run it on the field unit from an SSH terminal, with the service stopped (the sensors can
only be read by one program at a time)::

  sudo systemctl stop ugs-gateway
  sudo ugs-gateway walktest -c /etc/ugs-gateway/gateway.toml

The screen shows each sensor's level above its noise floor as a bar, the pass going on, and
every detection as it happens (class, confidence, SNR, sensors). Mark with single keys:
w walk past, r run past, v vehicle passing, n nothing (the pass is over); type the distance
in metres and press Enter (or type it before w/r/v); q ends the walk test. Without a
terminal, --plan FILE gives the marks (docs/technician.md, "Walk test").

Everything is recorded (miniSEED, as [record] writes it) with a truth file of the marks in
the format eval reads, in --out DIR (default {state_dir}/walktests/<UTC time>). At the end it
prints each pass detected or missed, its class and SNR, and the farthest distance at which
people and vehicles were still detected. Then: ugs-gateway calibrate DIR.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.walktest.session import WalkTest

NAME = "walktest"
HELP = "walk test: live sensor bars and detections, marks, a recording for calibrate"
ORDER = 48

REDRAW_S = 0.25
RECENT = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", required=True, metavar="CONFIG", help="the unit's config (TOML)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="where to record (default {state_dir}/walktests/<UTC time>)"
    )
    parser.add_argument(
        "--plan", metavar="FILE", help="read the marks from a plan file instead of the keys"
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="end the walk test after this many seconds"
    )


def _out_dir(args: argparse.Namespace, state_dir: Path) -> Path:
    from gateway.errors import InputError

    if args.out:
        out = Path(args.out)
    else:
        out = state_dir / "walktests" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out}: already exists and is not empty; give another directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create it ({exc.strerror or exc})") from None
    return out


def run(args: argparse.Namespace) -> int:
    from dsp.classifier import ModelError, configured_model
    from gateway import warmup
    from gateway.config import load_config
    from gateway.errors import ConfigError, InputError
    from gateway.walktest.display import PlainLines, Screen
    from gateway.walktest.keys import KeyMarker, Keys
    from gateway.walktest.session import WalkTest
    from gateway.walktest.summary import summary_lines
    from hil.marks import PLAN_TAIL_S, MarkError, PlanLine, read_plan

    config = load_config(args.config)
    plan: list[PlanLine] = []
    if args.plan:
        try:
            plan = read_plan(args.plan)
        except MarkError as exc:
            raise InputError(str(exc)) from None
    interactive = sys.stdin.isatty()
    if not plan and not interactive:
        raise InputError("no terminal to mark the passes from: run it in a terminal, or --plan")
    if args.duration is not None and not 0 < args.duration <= 86400:
        raise InputError("--duration must be between 0 and 86400 s")
    try:
        model = configured_model(config.dsp.classifier)
    except ModelError as exc:
        raise ConfigError(f"dsp.classifier.model: {exc}") from None
    out = _out_dir(args, Path(config.node.state_dir))
    print(
        f"walk test of {config.node.site}/{config.node.id}, model {model.name} "
        f"({model.digest}); recording to {out}. The service must be stopped: a sensor "
        "can only be read by one program.",
        file=sys.stderr,
    )
    warmup.run()

    from drivers.manager import SensorManager

    session = WalkTest(config, out, model=model)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    screen = Screen(sys.stdout) if sys.stdout.isatty() else PlainLines(sys.stdout)
    keys = Keys(sys.stdin.fileno()) if interactive else None
    marker = KeyMarker(session)
    manager = SensorManager(config.sensors, session.submit)
    manager.start()
    screen.enter()
    try:
        _loop(args, session, manager, screen, keys, marker, plan, stop, PLAN_TAIL_S)
    finally:
        manager.stop(timeout=3.0)
        screen.leave()
        if keys is not None:
            keys.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    result = session.finish()
    for line in summary_lines(result.passes, result.stray, result.incidents):
        print(line)
    print(f"Recorded to {out}. To teach the unit this site: ugs-gateway calibrate {out}")
    return 0


def _loop(
    args: argparse.Namespace,
    session: WalkTest,
    manager: Any,
    screen: Any,
    keys: Any,
    marker: Any,
    plan: list[Any],
    stop: threading.Event,
    tail_s: float,
) -> None:
    from gateway.walktest.display import View, detection_line, mark_text
    from gateway.walktest.summary import clock_time

    start = session.started
    pending = list(plan)
    plan_end = None
    if plan and plan[-1].kind != "end":
        plan_end = plan[-1].due(start) + tail_s
    recent: list[tuple[Any, str]] = []
    incidents_seen = 0
    drawn = 0.0
    while not stop.is_set():
        events: list[str] = []
        for det in session.process(0.1):
            where = _pass_of(session, det)
            recent = [*recent, (det, where)][-RECENT:]
            events.append("detection: " + detection_line(det, where))
        now = session.clock()
        while pending and pending[0].due(start) <= now:
            line = pending.pop(0)
            if line.kind == "end":
                stop.set()
                break
            mark = session.mark(line.kind, line.range_m, at=line.due(start))
            events.append(f"mark: {mark.describe()} (plan line {line.line})")
        if plan_end is not None and not pending and now >= plan_end:
            stop.set()
        if keys is not None:
            events += marker.handle(keys.read(0.0))
            if marker.quit:
                stop.set()
        if args.duration is not None and now - start >= args.duration:
            stop.set()
        new = session.incidents[incidents_seen:]
        incidents_seen = len(session.incidents)
        events += [f"sensor {line}" for line in new]
        if events or now - drawn >= REDRAW_S or stop.is_set():
            drawn = now
            nxt = None
            if pending:
                p = pending[0]
                what = "end" if p.kind == "end" else mark_text(_plan_mark(p))
                nxt = f"{what} at {clock_time(p.due(start))} (in {p.due(start) - now:.0f} s)"
            view = View(
                title=f"ugs-gateway walk test  {session.config.node.site}/{session.config.node.id}",
                directory=str(session.directory),
                now=now,
                sensors=_sensor_lines(session, manager, now),
                current=session.current(),
                typed=marker.typed,
                next_mark=nxt,
                detections=recent,
                message=marker.message,
                marks=len(session.marks),
                events=events,
            )
            screen.draw(view)


def _plan_mark(line: Any) -> Any:
    from hil.marks import Mark

    return None if line.kind == "nothing" else Mark(0.0, line.kind, line.range_m)


def _pass_of(session: WalkTest, det: Any) -> str:
    """The mark a detection falls in, for the screen."""
    for mark in reversed(session.marks):
        if mark.t <= det.t1:
            return "" if mark.kind == "nothing" else mark.describe()
    return ""


def _sensor_lines(session: WalkTest, manager: Any, now: float) -> list[Any]:
    from gateway.walktest.display import SensorLine

    status = manager.status()
    out = []
    for name, spec in session.specs.items():
        meter = session.meters[name]
        driver = status.get(name, {})
        state = str(driver.get("state", "waiting"))
        last = session.last_t1.get(name)
        if name in session.quiet:
            since = now - (last if last is not None else session.started)
            why = driver.get("error")
            shown = f"quiet: no data for {since:.0f} s" + (f" ({why})" if why else "")
        elif state not in ("ok", "starting", "degraded") and driver.get("error"):
            shown = f"{state}: {driver['error']}"
        elif last is None:
            shown = "waiting for data"
        else:
            shown = "ok"
        out.append(SensorLine(name, spec.kind, shown, meter.above_db))
    return out
