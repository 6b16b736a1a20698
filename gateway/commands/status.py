"""Show the unit's whole status from its own disk: for a technician logged in to the unit.

``ugs-gateway status -c CONFIG`` reads the status the running service last wrote to its
state dir (``status.json``, rewritten every ``[health] interval_s`` and on every change) and
prints it for people: the unit's state, each sensor, each uplink, the outbox, problems and
warnings. ``--json`` prints the whole document instead, with ``age_s`` added. It needs no
broker, so it works when every link is down.

Exit codes: 0 the service runs and is ok; 1 it is degraded, stopped, not writing its status
(stuck or not running) or has never written one; 2 a bad config.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

NAME = "status"
HELP = "the unit's status as the service last wrote it (sensors, uplinks, outbox), no broker"
ORDER = 58


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, metavar="CONFIG", help="gateway config")
    parser.add_argument("--json", action="store_true", help="the whole status as JSON (adds age_s)")


def run(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from gateway.health.status_file import (
        EVERY_KEY,
        StatusUnavailableError,
        read_status,
        status_path,
    )

    config = load_config(args.config)
    path = status_path(config.node.state_dir)
    try:
        status, age = read_status(path)
    except StatusUnavailableError as exc:
        print(f"ugs-gateway status: {exc}", file=sys.stderr)
        return 1
    # The service rewrites the file at least every interval_s (as it said in the file, which a
    # config edited since and not yet reloaded does not change); twice that and more is news.
    every = status.get(EVERY_KEY)
    if not isinstance(every, (int, float)) or every <= 0:
        every = config.health.interval_s
    stale = status.get("state") != "stopped" and age > 2 * every + 5
    if args.json:
        print(json.dumps({**status, "age_s": round(age, 1)}, indent=2))
        return 0 if status.get("state") == "ok" and not stale else 1
    try:
        lines = describe(status, age, stale)
    except (TypeError, ValueError, AttributeError):  # a value of the wrong type somewhere
        print(f"ugs-gateway status: {path} is not a status the service wrote", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0 if status.get("state") == "ok" and not stale else 1


def describe(status: dict[str, Any], age: float, stale: bool) -> list[str]:
    """The status in lines for a person."""
    state = status.get("state")
    if stale:
        news = (
            f"NOT UPDATED for {_duration(age)}: the service is not running or is stuck "
            "(systemctl status ugs-gateway)"
        )
    elif state == "stopped":
        news = f"stopped {_duration(age)} ago"
    else:
        news = f"{state}, as of {_duration(age)} ago"
    model = status.get("model") or {}
    lines = [
        f"{status.get('node')} at {status.get('site')}: {news}",
        f"  boot {status.get('boot')}, version {status.get('version')}, "
        f"mode {status.get('mode')}, up {_duration(status.get('uptime_s') or 0)}, "
        f"model {model.get('name')} ({model.get('hash')})",
        "sensors",
    ]
    for name, sensor in status["sensors"].items():
        lines.append(f"  {name:<8} {sensor.get('kind', ''):<13} {_sensor(sensor)}")
    uplinks = status.get("uplinks") or {}
    lines.append("uplinks" if uplinks else "uplinks: none configured (reports are only stored)")
    for name, link in uplinks.items():
        lines.append(f"  {name:<14} {_uplink(link, stopped=state == 'stopped')}")
    lines.append(_outbox(status.get("outbox") or {}))
    pipeline = status.get("pipeline") or {}
    last = pipeline.get("last_detection")
    lines.append(
        f"detections: {pipeline.get('stored', 0)} stored this boot"
        + (f", last {last.get('id')} ({last.get('class')})" if isinstance(last, dict) else "")
    )
    for title, entries in (
        ("problems", [f"{k}: {v}" for k, v in (status.get("problems") or {}).items()]),
        ("warnings", list(status.get("warnings") or [])),
    ):
        if entries:
            lines.append(title)
            lines += [f"  {entry}" for entry in entries]
    return lines


def _sensor(sensor: dict[str, Any]) -> str:
    words = [str(sensor.get("state"))]
    if sensor.get("error"):
        words.append(f"({sensor['error']})")
    if sensor.get("rate_hz"):
        words.append(f"{sensor['rate_hz']:g} Hz")
    words.append(f"{sensor.get('samples', 0)} samples")
    age = sensor.get("last_sample_age_s")
    if age is not None and sensor.get("state") != "stopped":
        words.append(f"last {_duration(age)} ago")
    return ", ".join([" ".join(words[:2]) if sensor.get("error") else words[0], *words[2:]])


def _uplink(link: dict[str, Any], stopped: bool) -> str:
    # The last status is taken before the links close: their state then is not news.
    state = "" if stopped else f"{link.get('state')} "
    text = f"{state}({link.get('broker')}), {link.get('acked', 0)} acknowledged"
    text += f", {link.get('pending', 0)} waiting"
    if link.get("last_error"):
        text += f"; last error: {link['last_error']}"
    return text


def _outbox(outbox: dict[str, Any]) -> str:
    text = f"outbox: {outbox.get('depth', 0)} waiting, {outbox.get('bytes', 0) / 1e6:.1f} MB"
    oldest = outbox.get("oldest_age_s")
    if oldest is not None:
        text += f", oldest {_duration(oldest)} old"
    dropped = (outbox.get("drops") or {}).get("total", 0)
    if dropped:
        text += f", {dropped} dropped at its limits"
    return text


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
