"""Start emulators of all three sensors and point a gateway at them.

- the seismic digitizer streams frames (docs/seismic-protocol.md) on a pty;
- the PIR answers Modbus RTU on a pty;
- the magnetometer answers Modbus TCP on 127.0.0.1 (a free port).

The serial ones are reached through by-id style symlinks in a temporary directory, like
/dev/serial/by-id/... on a field unit. Prints where each listens, writes a gateway config
that points at them with --write-config (check it with `ugs-gateway check-config`), and runs
until Ctrl-C or SIGTERM, then removes the ptys and links.

Until a scenario or recording is chosen, the emulators play quiet noise with an occasional
event. --scenario NAME plays a generated scenario (see `ugs-gateway simulate --list`) and
--recording FILE... a recording in any format `analyze` reads, converted to each device's
raw counts; the config written then carries the matching calibration. A sensor the
recording lacks, and every sensor after the end (unless --loop), plays quiet background.
With --speed above 1 the devices sample faster than real time while still declaring
their nominal rates, so a gateway reading them will re-anchor its timestamps often.

--scenario walktest plays an installation walk test; --write-plan FILE writes marks of its
passes (the times they are played at) for `ugs-gateway walktest --plan FILE`.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from drivers import kinds

if TYPE_CHECKING:
    from hil.playback import Playback

NAME = "hil"
HELP = "start emulated seismic, PIR and magnetometer sensors and write a config for them"
ORDER = 70


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--write-config",
        metavar="OUT",
        help="write a gateway config (TOML) pointing at the emulators to OUT",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="play the waveforms X times faster than real time (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the built-in waveforms"
    )
    play = parser.add_mutually_exclusive_group()
    play.add_argument("--scenario", metavar="NAME", help="play a generated scenario")
    play.add_argument("--recording", nargs="+", metavar="FILE", help="play a recording")
    parser.add_argument(
        "--duration",
        type=float,
        default=3600.0,
        metavar="S",
        help="length of the --scenario to generate (default 3600)",
    )
    parser.add_argument(
        "--sensor",
        choices=kinds.names(),
        help="--recording: kind of a single-sensor file (default seismic)",
    )
    parser.add_argument(
        "--rate", type=float, metavar="HZ", help="--recording: sample rate of a bare CSV or array"
    )
    parser.add_argument(
        "--loop",
        action="store_true",
        help="repeat the scenario or recording instead of going quiet",
    )
    parser.add_argument(
        "--write-plan",
        metavar="FILE",
        help="--scenario: write walk-test marks of its events (UTC times) for walktest --plan",
    )


def run(args: argparse.Namespace) -> int:
    from gateway.errors import InputError
    from hil.station import EmulatedStation, config_toml, write_config

    if not 0 < args.speed <= 1000:
        raise InputError(f"--speed must be above 0 and at most 1000, not {args.speed:g}")
    out = Path(args.write_config) if args.write_config else None
    if out is not None and not out.parent.is_dir():
        raise InputError(f"--write-config: directory {out.parent} does not exist")
    plan_out = Path(args.write_plan) if args.write_plan else None
    if plan_out is not None and args.scenario is None:
        raise InputError("--write-plan needs --scenario (the events to mark)")
    if plan_out is not None and args.speed != 1.0:
        raise InputError("--write-plan needs --speed 1: the marks are wall-clock times")
    if plan_out is not None and not plan_out.parent.is_dir():
        raise InputError(f"--write-plan: directory {plan_out.parent} does not exist")

    playback = _playback(args)
    sources = playback.sources if playback is not None else None

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.time()
        with EmulatedStation(sources=sources, speed=args.speed, seed=args.seed) as station:
            if playback is not None:
                from hil.playback import apply_calibration

                apply_calibration(station.sensors(), playback)
                for line in playback.summary():
                    print(line)
            for endpoint in station.endpoints:
                print(f"{endpoint.kind:<13}{endpoint.name:<6}{endpoint.address}  {endpoint.detail}")
            if out is not None:
                comment = (
                    "Written by `ugs-gateway hil`; valid while that command runs.\n"
                    f"Emulators: speed {args.speed:g}, seed {args.seed}."
                )
                try:
                    write_config(out, config_toml(station.sensors(), comment=comment))
                except OSError as exc:
                    raise InputError(f"--write-config: cannot write {out}: {exc}") from None
                print(f"config written to {out}")
            if plan_out is not None and playback is not None:
                from hil.marks import plan_from_truth

                text = plan_from_truth(
                    playback.truth, duration_s=playback.duration_s, start=started, seed=args.seed
                )
                try:
                    write_config(plan_out, text)
                except OSError as exc:
                    raise InputError(f"--write-plan: cannot write {plan_out}: {exc}") from None
                print(f"walk-test plan written to {plan_out}")
            print("running; Ctrl-C or SIGTERM stops", flush=True)
            while not stop.wait(0.5):
                pass
        print("stopped", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _playback(args: argparse.Namespace) -> Playback | None:
    """The scenario or recording to play, checked before any emulator starts."""
    from gateway.errors import InputError

    if args.scenario is None and args.recording is None:
        return None
    from hil.playback import recording_playback, scenario_playback

    if args.scenario is not None:
        from hil.scenarios import SCENARIOS

        if args.scenario not in SCENARIOS:
            names = ", ".join(SCENARIOS)
            raise InputError(f"unknown scenario {args.scenario!r}; one of: {names}")
        if not 1 <= args.duration <= 86400:
            raise InputError("--duration must be 1-86400 s")
        return scenario_playback(args.scenario, args.duration, args.seed, loop=args.loop)
    return recording_playback(
        args.recording, sensor=args.sensor, rate=args.rate, loop=args.loop, seed=args.seed
    )
