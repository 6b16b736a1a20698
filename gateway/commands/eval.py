"""Score the detector against ground truth: Pd, precision, false alarms, confusion matrix.

Either simulate, analyse and score in one step::

  ugs-gateway eval --scenario patrol --duration 3600 --seed 7
  ugs-gateway eval --scenario patrol,noise-wind --duration 1800 --seed 7-9

or score a recording that has a truth file::

  ugs-gateway eval recording.npz --truth recording.npz.truth.json

Prints one JSON object: ``per_class.footstep`` / ``per_class.vehicle`` with ``pd``,
``precision``, ``n_truth``; ``false_alarms_per_hour``; ``confusion`` (truth label -> reported
class, ``missed`` when nothing was reported; row ``none`` holds false alarms); ``pd_by_range``.
The matching rule is in docs/evaluation.md. ``--plot FILE.png`` also draws the waveform with
the truth and the detections (needs matplotlib: ``pip install 'ugs-gateway[plot]'``).
A progress line is shown on stderr while it runs, when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from drivers import kinds

NAME = "eval"
HELP = "score the detector against ground truth (simulated or from a truth file)"
ORDER = 45


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="recording file(s) to score")
    parser.add_argument("--truth", metavar="FILE", help="truth file (default FILE.truth.json)")
    parser.add_argument(
        "--scenario", metavar="NAME[,NAME...]", help="simulate these scenarios instead of files"
    )
    parser.add_argument(
        "--duration", type=float, default=600.0, metavar="S", help="seconds per simulation"
    )
    parser.add_argument(
        "--seed", default="1", metavar="N|A-B|A,B", help="seed(s) of the simulations (default 1)"
    )
    parser.add_argument("--sensor", choices=kinds.names())
    parser.add_argument("--rate", type=float, metavar="HZ")
    parser.add_argument("-c", "--config", metavar="CONFIG", help="take [dsp] from this config")
    parser.add_argument("--model", metavar="FILE", help="classifier model (default: packaged)")
    parser.add_argument(
        "--tolerance", type=float, default=2.0, metavar="S", help="matching tolerance (s)"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="draw waveform, truth, detections")
    parser.add_argument(
        "--detections", action="store_true", help="also list every detection in the output"
    )


def parse_seeds(text: str) -> list[int]:
    """``7``, ``7-9`` or ``7,9,12`` -> list of seeds."""
    from gateway.errors import InputError

    seeds: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            if sep:
                a, b = int(lo), int(hi)
                if b < a or b - a > 10000:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(lo))
    except ValueError:
        raise InputError(f"--seed {text!r}: expected N, A-B or A,B,...") from None
    return seeds


class ProgressLine:
    """A single updating line on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()

    def update(self, step: int, label: str, fraction: float) -> None:
        if not self.enabled:
            return
        done = (step + fraction) / self.total
        width = 30
        bar = "#" * int(done * width)
        elapsed = time.monotonic() - self.started
        eta = elapsed / done - elapsed if done > 0.01 else 0.0
        sys.stderr.write(f"\r[{bar:<{width}}] {done:5.1%} {label[:30]:<30} eta {eta:4.0f} s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


def _detection_json(det: Any) -> dict[str, Any]:
    return {
        "class": det.cls,
        "conf": det.conf,
        "t0": round(det.t0, 3),
        "t1": round(det.t1, 3),
        "sensors": list(det.sensors),
    }


def run(args: argparse.Namespace) -> int:
    from dsp.classifier import ModelError, load_model
    from gateway.commands.analyze import announce_compiling, load_dsp_config
    from gateway.errors import ConfigError, InputError
    from hil.analysis import run_detector
    from hil.scoring import Counts, score

    if bool(args.files) == bool(args.scenario):
        raise InputError("give either recording FILE(s) or --scenario NAME, not both or neither")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot needs matplotlib: pip install 'ugs-gateway[plot]'") from None
    config = load_dsp_config(args.config)
    try:
        model = load_model(args.model or config.classifier.model)
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    jobs = _jobs(args)
    total = Counts()
    runs: list[dict[str, Any]] = []
    progress = ProgressLine(len(jobs))
    announce_compiling()
    last = None
    try:
        for i, (label, load) in enumerate(jobs):
            progress.update(i, f"{label} (loading)", 0.0)
            recording, noise_only = load()

            def on_progress(fraction: float, i: int = i, label: str = label) -> None:
                progress.update(i, label, fraction)

            result = run_detector(recording, config, model=model, progress=on_progress)
            counts = score(
                recording.truth,
                result.detections,
                recording.duration,
                noise_only=noise_only,
                tolerance_s=args.tolerance,
            )
            total.add(counts)
            entry: dict[str, Any] = {"recording": label, **_brief(counts.summary())}
            if args.detections:
                entry["detections"] = [_detection_json(d) for d in result.detections]
            runs.append(entry)
            last = (recording, result)
    finally:
        progress.close()
    report = total.summary()
    report["recordings"] = runs
    report["model"] = model.info.get("id", "unversioned")
    if args.plot and last is not None:
        from hil.plotting import plot_evaluation

        plot_evaluation(last[0], last[1].detections, args.plot)
        report["plot"] = args.plot
    print(json.dumps(report, indent=2, allow_nan=False))
    return 0


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    pc = summary["per_class"]
    return {
        "footstep_pd": pc["footstep"]["pd"],
        "vehicle_pd": pc["vehicle"]["pd"],
        "false_alarms": summary["false_alarms"],
        "duration_s": summary["duration_s"],
    }


def _jobs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from gateway.errors import InputError

    if args.files:

        def load_files() -> tuple[Any, bool]:
            from drivers.recordings import read_recording
            from drivers.recordings.waveforms import read_truth

            rec = read_recording(args.files, sensor=args.sensor, rate=args.rate)
            if args.truth:
                rec.truth, header = read_truth(args.truth)
                meta = header.get("meta") or {}
            else:
                meta = rec.meta
                if not rec.truth and not meta.get("noise_only"):
                    raise InputError(
                        f"{args.files[0]}: no truth file next to it; give --truth FILE"
                    )
            return rec, bool(meta.get("noise_only", False))

        return [(", ".join(args.files), load_files)]
    from hil.scenarios import SCENARIOS

    names = [n.strip() for n in args.scenario.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise InputError(f"unknown scenario {', '.join(unknown)}; one of: {', '.join(SCENARIOS)}")
    if not 0 < args.duration <= 7 * 86400:
        raise InputError(f"--duration must be between 0 and 604800 s, not {args.duration:g}")
    jobs = []
    for seed in parse_seeds(args.seed):
        for name in names:

            def simulate(name: str = name, seed: int = seed) -> tuple[Any, bool]:
                from hil.scenarios import generate

                rec = generate(name, args.duration, seed)
                return rec, bool(rec.meta.get("noise_only", False))

            jobs.append((f"{name}/{seed}", simulate))
    return jobs
