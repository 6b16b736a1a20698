"""The demo: emulated sensors playing a scenario, the real gateway, and a command post.

Everything is real except the sensors: the three device emulators speak their protocols on
ptys and Modbus TCP, the gateway service reads them with its drivers, detects, stores each
report in its outbox and publishes it over MQTT to a local mosquitto, and a subscriber (the
"command post") prints every detection as it arrives, next to the scenario's ground truth.
The run ends with a score: detected, missed, false alarms.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from drivers.recordings.waveforms import TruthEvent
from gateway import warmup
from gateway.config import GatewayConfig, parse_config
from gateway.detection_report import parse_time
from gateway.health.status import Health
from gateway.local_broker import LocalBroker, find_mosquitto
from gateway.service import Service
from gateway.subscriber import Subscriber
from gateway.uplinks import mqtt_client as mq
from hil.playback import apply_calibration, scenario_playback
from hil.scoring import score
from hil.station import EmulatedStation

log = logging.getLogger(__name__)

NODE, SITE = "demo-0001", "demo"
LOCATION = {"lat": 49.0021, "lon": -122.7563}
ENDLESS_S = 3600.0
"""With --duration 0 the scenario is this long and repeats."""
MISSED_AFTER_S = 8.0
"""A truth event with no detection this long after it ended is printed as missed."""
SETTLE_S = 6.0
"""After the scenario: time for the last events' detections to come out of the detector."""


@dataclass
class DemoOptions:
    duration_s: float = 75.0
    speed: float = 1.0
    seed: int = 2
    scenario: str = "demo"
    broker: tuple[str, int] | None = None
    state_dir: Path | None = None


@dataclass
class _Seen:
    """A detection as the command post saw it, in seconds from the scenario's start."""

    cls: str
    conf: float
    t0: float
    t1: float
    report_id: str
    at: float
    """When it reached the command post (or the outbox, without a broker)."""


@dataclass
class Board:
    """What happened (truth) against what was reported; prints as events unfold."""

    truth: list[TruthEvent]
    out: TextIO
    period_s: float | None = None
    """Length of one pass of a repeating scenario (None: plays once)."""
    detections: list[_Seen] = field(default_factory=list)
    _announced: set[int] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_status: tuple[Any, ...] | None = None

    def events(self, until: float) -> Iterator[tuple[int, TruthEvent, float]]:
        """(key, event, offset) of every truth event starting before ``until``."""
        passes = 1 if self.period_s is None else int(until // self.period_s) + 1
        for k in range(passes):
            offset = 0.0 if self.period_s is None else k * self.period_s
            for i, event in enumerate(self.truth):
                if event.t0 + offset < until:
                    yield k * len(self.truth) + i, event, offset

    def line(self, at: float, text: str) -> None:
        with self._lock:
            self.out.write(f"{at:7.1f}s  {text}\n")
            self.out.flush()

    def detection(self, seen: _Seen) -> None:
        self.detections.append(seen)
        match = self._match(seen)
        if match is None:
            verdict = "no event there: false alarm"
        else:
            event, ok = match
            verdict = f"truth: {describe(event)} {'✓' if ok else '✗ wrong class'}"
        self.line(
            seen.at,
            f"DETECTION {seen.cls:<8} conf {seen.conf:.2f}  [{seen.t0:.1f}-{seen.t1:.1f} s]  "
            f"{seen.report_id}   {verdict}",
        )

    def _match(self, seen: _Seen) -> tuple[TruthEvent, bool] | None:
        best: tuple[float, TruthEvent] | None = None
        for _key, event, offset in self.events(seen.t1 + 1.0):
            overlap = min(seen.t1 + 2.0, event.t1 + offset) - max(seen.t0 - 2.0, event.t0 + offset)
            if overlap > 0 and (best is None or overlap > best[0]):
                best = (overlap, event)
        if best is None:
            return None
        return best[1], best[1].label == seen.cls

    def status(self, at: float, payload: dict[str, Any]) -> None:
        try:
            text = Health.summary(payload)
        except (KeyError, TypeError, AttributeError):
            text = str(payload.get("state", payload))
        # A new line when the unit's state or any sensor's state changes: the sensors start
        # a second after the service, and a line that stays at "0/3 ok" misleads.
        sensors = payload.get("sensors")
        key = (
            text.split(":", 1)[0],
            tuple(
                sorted((str(name), str(s.get("state"))) for name, s in sensors.items())
                if isinstance(sensors, dict) and all(isinstance(s, dict) for s in sensors.values())
                else ()
            ),
        )
        if key != self._last_status:
            self._last_status = key
            self.line(at, f"status    {text}")

    def tick(self, now: float) -> None:
        """Announce truth events that ended without a detection of theirs."""
        for key, event, offset in self.events(now):
            if key in self._announced or now < event.t1 + offset + MISSED_AFTER_S:
                continue
            self._announced.add(key)
            t0, t1 = event.t0 + offset, event.t1 + offset
            hit = any(
                d.cls == event.label and d.t1 + 2 > t0 and d.t0 - 2 < t1 for d in self.detections
            )
            if hit:
                continue
            if event.label == "unknown":
                self.line(t1, f"          {describe(event)} passed unreported (fine: not a target)")
            else:
                self.line(t1, f"MISSED    {describe(event)} [{t0:.1f}-{t1:.1f} s]")


def describe(event: TruthEvent) -> str:
    what = {"wheeled": "car", "quadruped": "animal"}.get(event.source, event.source)
    return f"{what} at {event.range_m:.0f} m ({event.label})"


def run_demo(
    options: DemoOptions, out: TextIO = sys.stdout, stop: threading.Event | None = None
) -> int:
    """Run the demo; returns the exit code. ``stop`` ends it early (Ctrl-C)."""
    stop = stop or threading.Event()
    endless = options.duration_s == 0
    _load_kernels(out)
    length = ENDLESS_S if endless else options.duration_s
    playback = scenario_playback(options.scenario, length, options.seed, loop=endless)
    with contextlib.ExitStack() as stack:
        own_state = options.state_dir is None
        state_dir = options.state_dir or Path(tempfile.mkdtemp(prefix="ugs-demo-"))
        if own_state:
            stack.callback(shutil.rmtree, state_dir, ignore_errors=True)
        broker = options.broker
        where = "given broker"
        if broker is None and find_mosquitto() is not None:
            local = stack.enter_context(LocalBroker())
            broker = (local.host, local.port)
            where = "local mosquitto"
        station = EmulatedStation(sources=playback.sources, speed=options.speed, seed=options.seed)
        stack.callback(station.stop)
        station.start()
        start = time.time()
        speed = options.speed

        def clock() -> float:
            # The emulators play `speed` times faster than real time; so does the gateway's
            # idea of sample time, so timestamps stay consistent with the samples.
            return start + (time.time() - start) * speed

        def scenario_now() -> float:
            return clock() - start

        sensors = station.sensors()
        apply_calibration(sensors, playback)
        config = _unit_config(sensors, state_dir, broker)
        board = Board(playback.truth, out, period_s=ENDLESS_S if endless else None)

        _header(out, options, playback.description, station, broker, where)

        def seen_from(report: dict[str, Any]) -> _Seen:
            return _Seen(
                report["class"],
                report["conf"],
                parse_time(report["t0"]) - start,
                parse_time(report["t1"]) - start,
                report["id"],
                scenario_now(),
            )

        subscriber: Subscriber | None = None
        if broker is not None:

            def emit(message: dict[str, Any]) -> None:
                if "status" in message:
                    payload = message["status"]
                    if isinstance(payload, dict):
                        board.status(scenario_now(), payload)
                    return
                board.detection(seen_from(message))

            subscriber = _command_post(broker, emit)
            worker = threading.Thread(target=subscriber.run, name="command-post", daemon=True)
            worker.start()
            stack.callback(worker.join, 5.0)
            stack.callback(subscriber.stop)
            on_report: Callable[[dict[str, Any], Any], None] | None = None
        else:

            def on_report(report: dict[str, Any], _detection: Any) -> None:
                board.detection(seen_from(report))

        service = Service(config, clock=clock, on_report=on_report)
        service.start()
        try:
            end = None if endless else length
            while not stop.is_set() and (end is None or scenario_now() < end + SETTLE_S * speed):
                board.tick(scenario_now())
                if subscriber is None:
                    # No command post to hear the unit's status from: show the unit's own, so
                    # that the sensors coming up (or not) are seen without a broker too.
                    board.status(scenario_now(), service.health.snapshot())
                stop.wait(0.5)
        finally:
            final = service.stop()
        stored = final["pipeline"].get("stored", 0)
        if subscriber is not None:
            deadline = time.monotonic() + 5.0
            while subscriber.received < stored and time.monotonic() < deadline:
                time.sleep(0.05)
        played = min(scenario_now(), length) if not endless else scenario_now()
        board.tick(played + MISSED_AFTER_S)
        _summary(out, board, played, final, subscriber)
        return 0 if all(s.get("samples", 0) > 0 for s in final["sensors"].values()) else 1


def _load_kernels(out: TextIO) -> None:
    """Compile (first run) or load the kernels before the emulators start playing, so the
    gateway joins the scenario at its beginning."""
    out.write("loading the signal kernels (compiled on a first run: up to a minute) ... ")
    out.flush()
    done = warmup.run()
    out.write(
        f"{done['seconds']:.1f} s"
        + (f", {done['compiled_now']} compiled and cached\n" if done["compiled_now"] else "\n")
    )


def _unit_config(
    sensors: list[dict[str, Any]], state_dir: Path, broker: tuple[str, int] | None
) -> GatewayConfig:
    """The demo unit's config: the emulated sensors, a state directory of its own and, when
    there is a broker, one uplink to the command post."""
    data: dict[str, Any] = {
        "node": {"id": NODE, "site": SITE, "location": LOCATION, "state_dir": str(state_dir)},
        "sensors": sensors,
        "health": {"interval_s": 10},
        "uplinks": [],
    }
    if broker is not None:
        data["uplinks"] = [
            {"name": "command-post", "host": broker[0], "port": broker[1], "tls": False}
        ]
    return parse_config(data)


def _command_post(broker: tuple[str, int], emit: Callable[[dict[str, Any]], None]) -> Subscriber:
    settings = mq.LinkSettings(
        label="command-post",
        host=broker[0],
        port=broker[1],
        client_id=f"demo-command-post-{int(time.time())}",
        clean_session=True,
        keepalive=30,
    )
    return Subscriber(settings, [f"ugs/v1/{SITE}/{NODE}/#"], emit)


def _header(
    out: TextIO,
    options: DemoOptions,
    description: str,
    station: EmulatedStation,
    broker: tuple[str, int] | None,
    where: str,
) -> None:
    out.write(f"ugs-gateway demo: {description}, played at {options.speed:g}x\n")
    for endpoint in station.endpoints:
        out.write(f"  sensor  {endpoint.name:<5} {endpoint.kind:<13} {endpoint.detail}\n")
    if broker is not None:
        out.write(f"  broker  {broker[0]}:{broker[1]} ({where}); command post subscribed\n")
    else:
        out.write("  broker  none (mosquitto not installed): reports are only stored\n")
    out.write("   time   what\n")
    out.flush()


def _summary(
    out: TextIO,
    board: Board,
    played_s: float,
    final: dict[str, Any],
    subscriber: Subscriber | None,
) -> None:
    truth = [e for _k, e, _o in board.events(played_s)]
    counts = score(truth, board.detections, played_s).summary()
    out.write(f"\nsummary over {played_s:.0f} s of scenario\n")
    for cls in ("footstep", "vehicle"):
        c = counts["per_class"][cls]
        if c["n_truth"] or c["n_reported"]:
            out.write(
                f"  {cls:<9} {c['n_detected']} of {c['n_truth']} detected, "
                f"{c['n_correct']} of {c['n_reported']} reports right\n"
            )
    animals = counts["per_class"]["unknown"]
    if animals["n_truth"]:
        out.write(f"  animals   {animals['n_truth']} passed (reported as unknown or not at all)\n")
    out.write(f"  false alarms: {counts['false_alarms']}\n")
    pipeline = final["pipeline"]
    out.write(f"  stored in the outbox this run: {pipeline.get('stored', 0)}")
    if subscriber is not None:
        out.write(f", received by the command post: {subscriber.received}")
    out.write("\n")
    latency = pipeline.get("latency_s")
    if latency:
        out.write(
            f"  latency from the end of an event to its report: p50 {latency['p50']:.2f} s, "
            f"max {latency['max']:.2f} s\n"
        )
    for name, sensor in final["sensors"].items():
        out.write(f"  {name}: {sensor.get('samples', 0)} samples, state {sensor.get('state')}\n")
    out.flush()
