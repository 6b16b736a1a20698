"""Start emulators of all three sensors and point a gateway at them.

- the seismic digitizer streams frames (docs/seismic-protocol.md) on a pty;
- the PIR answers Modbus RTU on a pty;
- the magnetometer answers Modbus TCP on 127.0.0.1 (a free port).

The serial ones are reached through by-id style symlinks in a temporary directory, like
/dev/serial/by-id/... on a field unit. Prints where each listens, writes a gateway config
that points at them with --write-config (check it with `ugs-gateway check-config`), and runs
until Ctrl-C or SIGTERM, then removes the ptys and links.

Until a scenario or recording is chosen, the emulators play quiet noise with an occasional
event. With --speed above 1 the devices sample faster than real time while still declaring
their nominal rates, so a gateway reading them will re-anchor its timestamps often.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

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


def run(args: argparse.Namespace) -> int:
    from gateway.errors import InputError
    from hil.station import EmulatedStation, config_toml, write_config

    if not 0 < args.speed <= 1000:
        raise InputError(f"--speed must be above 0 and at most 1000, not {args.speed:g}")
    out = Path(args.write_config) if args.write_config else None
    if out is not None and not out.parent.is_dir():
        raise InputError(f"--write-config: directory {out.parent} does not exist")

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with EmulatedStation(speed=args.speed, seed=args.seed) as station:
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
            print("running; Ctrl-C or SIGTERM stops", flush=True)
            while not stop.wait(0.5):
                pass
        print("stopped", file=sys.stderr)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
