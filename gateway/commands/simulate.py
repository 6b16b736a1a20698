"""Write a synthetic multi-sensor recording and its ground truth.

The recording holds a geophone (geo1, ground velocity in m/s), a PIR (pir1, volts) and a
magnetometer (mag1, nT) driven by the same simulated walkers, vehicles and animals over the
scenario's background. The format follows the extension of --out: .npz (default, lossless
float64) or .mseed (integer counts, one trace per component); .wav and .csv hold the geophone
only. The ground truth goes next to it as OUT.truth.json (see docs/scenarios.md).

With --site random the recording is made by a unit drawn from the seed, as real units
vary: its own sample rates (often not round numbers), ground, transducer (geophone or
accelerometer, maybe high-passed), raw converter counts on a DC offset, a magnetometer of
one or three axes with offsets and interference, a PIR board on a mid-rail offset; the
truth file's meta.site says what was drawn (docs/scenarios.md, "Sites").

Examples:
  ugs-gateway simulate --list
  ugs-gateway simulate --scenario patrol --duration 3600 --seed 7 --out patrol-7.npz
  ugs-gateway simulate --scenario roadside --site random --seed 7 --out roadside-7.npz
"""

from __future__ import annotations

import argparse
import sys

NAME = "simulate"
HELP = "write a synthetic multi-sensor recording plus ground truth (OUT.truth.json)"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", metavar="NAME", help="scenario to simulate (see --list)")
    parser.add_argument(
        "--duration", type=float, metavar="S", default=600.0, help="length in seconds (default 600)"
    )
    parser.add_argument("--out", metavar="FILE", help="output file: .npz, .mseed, .wav, .csv")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--rate", type=float, metavar="HZ", default=500.0, help="geophone sample rate (default 500)"
    )
    parser.add_argument(
        "--components",
        type=int,
        choices=(1, 3),
        default=1,
        help="geophone components: 1 (vertical) or 3 (Z, N, E)",
    )
    parser.add_argument(
        "--site",
        choices=("none", "random"),
        default="none",
        help="the recording unit: none (the ideal one, float units at --rate) or random "
        "(rates, ground, transducer, converters drawn from the seed; --rate is ignored)",
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")


def _listing() -> str:
    from hil.scenarios import SCENARIOS

    width = max(len(n) for n in SCENARIOS)
    return "\n".join(f"  {name.ljust(width)}  {text}" for name, text in SCENARIOS.items())


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from gateway.errors import InputError

    if args.list:
        print(_listing())
        return 0
    from hil.scenarios import SCENARIOS, generate

    if not args.scenario:
        print(
            "ugs-gateway simulate: --scenario NAME is required; one of:\n" + _listing(),
            file=sys.stderr,
        )
        return 2
    if args.scenario not in SCENARIOS:
        print(
            f"ugs-gateway simulate: unknown scenario {args.scenario!r}; one of:\n" + _listing(),
            file=sys.stderr,
        )
        return 2
    if not args.out:
        raise InputError("--out FILE is required (.npz, .mseed, .wav or .csv)")
    if not 1 <= args.duration <= 7 * 86400:
        raise InputError(f"--duration must be between 1 and 604800 s, not {args.duration:g}")
    if not 250.0 <= args.rate <= 4000.0:
        raise InputError(f"--rate must be a geophone rate of 250-4000 Hz, not {args.rate:g}")
    from drivers.recordings import write_recording
    from drivers.recordings.waveforms import truth_path

    started = time.perf_counter()
    rec = generate(
        args.scenario,
        args.duration,
        args.seed,
        seismic_rate=args.rate,
        seismic_components=args.components,
        site="random" if args.site == "random" else None,
    )
    out = write_recording(rec, args.out)
    truth = rec.write_truth(truth_path(out))
    summary = {
        "out": str(out),
        "truth": str(truth),
        "scenario": args.scenario,
        "seed": args.seed,
        "duration_s": args.duration,
        "events": len(rec.truth),
        "counts": rec.meta["counts"],
        "site": args.site,
        "channels": {
            n: {"kind": c.kind, "rate": c.rate, "components": list(c.components), "units": c.units}
            for n, c in rec.channels.items()
        },
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(summary))
    return 0
