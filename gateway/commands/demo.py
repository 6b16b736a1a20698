"""Run the whole gateway against emulated sensors, with a command post printing what arrives.

Starts the three device emulators playing a scenario (seismic digitizer on a pty, PIR on
Modbus RTU over a pty, magnetometer on Modbus TCP), the real gateway service against them, a
local mosquitto (unless --broker is given; without the mosquitto binary reports are only
stored, and the demo says so) and a subscriber acting as the command post. Each detection is
printed as it arrives next to the scenario's ground truth, missed events when they have
passed, status changes as they happen, then a summary: detected, missed, false alarms,
latency.

--duration 0 runs until Ctrl-C (the scenario repeats). --speed X plays X times faster than
real time (the gateway's clock follows). --state-dir keeps the outbox and boot counter there
instead of in a temporary directory.
"""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

NAME = "demo"
HELP = "emulated sensors + the real gateway + a command post, with ground truth"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        default=75.0,
        metavar="S",
        help="seconds of scenario to play (default 75; 0 runs until Ctrl-C)",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="play X times real time (default 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=2, metavar="N", help="scenario seed (default 2)"
    )
    parser.add_argument(
        "--scenario",
        default="demo",
        metavar="NAME",
        help="scenario to play (default demo; see `ugs-gateway simulate --list`)",
    )
    parser.add_argument(
        "--broker", metavar="HOST:PORT", help="publish to this broker instead of a local one"
    )
    parser.add_argument("--state-dir", metavar="DIR", help="keep the outbox and boot counter here")


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from gateway.commands.subscribe import parse_broker
    from gateway.demo import DemoOptions, run_demo
    from gateway.errors import InputError
    from hil.scenarios import SCENARIOS

    if args.duration < 0:
        raise InputError("--duration must be 0 (until Ctrl-C) or more seconds")
    if not 0.1 <= args.speed <= 20:
        raise InputError("--speed must be between 0.1 and 20")
    if args.scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {args.scenario!r}; one of: {', '.join(SCENARIOS)}")
    broker = parse_broker(args.broker, tls=False) if args.broker else None
    options = DemoOptions(
        duration_s=args.duration,
        speed=args.speed,
        seed=args.seed,
        scenario=args.scenario,
        broker=broker,
        state_dir=Path(args.state_dir) if args.state_dir else None,
    )
    # The printed lines are the demo; the service's own log only says what goes wrong.
    if args.log_level == "INFO":
        logging.getLogger().setLevel(logging.WARNING)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    return run_demo(options, stop=stop)
