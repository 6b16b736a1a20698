"""Score the detector against ground truth: Pd, precision, false alarms, confusion matrix.

Either simulate, analyse and score in one step::

  ugs-gateway eval --scenario patrol --duration 3600 --seed 7
  ugs-gateway eval --scenario patrol,noise-wind --duration 1800 --seed 7-9

or score a recording that has a truth file, or clips that each have their own (read as
analyze reads them: clips apart in time are scored each against its truth, and summed)::

  ugs-gateway eval recording.npz --truth recording.npz.truth.json
  ugs-gateway eval clips/*.npz

``--sensor KIND[,KIND]`` scores a unit with only those sensors (the others' channels are
left out, and events none of them could perceive are not counted); ``--clips`` cuts a
triggered 10-s clip from 0.5 s before every footstep within 15 m and vehicle within 100 m
that is alone in it, and scores the clips one by one, as files an event-triggered recorder
kept (docs/evaluation.md)::

  ugs-gateway eval --scenario patrol --duration 3600 --seed 9300 --sensor magnetometer
  ugs-gateway eval --scenario patrol,windy --duration 1800 --seed 9300 --clips

Prints one JSON object: ``per_class.footstep`` / ``per_class.vehicle`` with ``pd``,
``precision``, ``n_truth``; ``false_alarms_per_hour``; ``confusion`` (truth label -> reported
class, ``missed`` when nothing was reported; row ``none`` holds false alarms); ``pd_by_range``.
The matching rule is in docs/evaluation.md. ``--misses`` lists, per recording, every footstep
and vehicle not reported with its class (its span, range, the sensors that could perceive it
and how strongly, and the detections over it)::

  ugs-gateway eval --scenario indoor --duration 1800 --seed 9501 --sensor seismic --misses

``--plot FILE.png`` also draws the waveform with the truth and the detections (needs
matplotlib: ``pip install 'ugs-gateway[plot]'``). A progress line is shown on stderr while
it runs, when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from drivers.kinds import names as kind_names
from gateway.commands.analyze import add_installation_argument

KINDS = kind_names()

NAME = "eval"
HELP = "score the detector against ground truth (simulated or from a truth file)"
ORDER = 45


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="recording file(s) or folder(s) to score"
    )
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
    parser.add_argument(
        "--sensor",
        metavar="KIND[,KIND]",
        help=f"score a unit with only these sensors ({', '.join(KINDS)})",
    )
    parser.add_argument(
        "--site",
        choices=("random",),
        help="simulate each recording through a random unit (rates, ground, transducer, "
        "converters: hil.synth.site) instead of the scenarios' ideal one",
    )
    parser.add_argument(
        "--clips",
        action="store_true",
        help="score triggered 10-s clips cut before each event, one by one",
    )
    parser.add_argument("--rate", type=float, metavar="HZ")
    parser.add_argument("-c", "--config", metavar="CONFIG", help="take [dsp] from this config")
    parser.add_argument(
        "--model", metavar="FILE", help="classifier model (default: packaged, --installation)"
    )
    add_installation_argument(parser)
    parser.add_argument(
        "--tolerance", type=float, default=2.0, metavar="S", help="matching tolerance (s)"
    )
    parser.add_argument("--plot", metavar="FILE.png", help="draw waveform, truth, detections")
    parser.add_argument(
        "--detections", action="store_true", help="also list every detection in the output"
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="also list every footstep and vehicle not reported with its class, with what "
        "was reported over it",
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


def seeds_option(text: str) -> list[int]:
    """``parse_seeds`` as an argparse ``type``: a bad value is a usage error (exit 2 with the
    message), not a traceback."""
    from gateway.errors import InputError

    try:
        return parse_seeds(text)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e).replace("--seed ", "", 1)) from None


def add_seeds_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """The statistical benches' ``--seeds``: held-out seeds, pooled into one report."""
    parser.add_argument(
        "--seeds",
        type=seeds_option,
        default=default,
        metavar="A,B|A-B",
        help=f"held-out seeds, pooled (default {default})",
    )


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


def detection_json(det: Any) -> dict[str, Any]:
    """A detection as the JSON of ``eval`` (and of the real-data bench) lists it."""
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
    from hil.analysis import OFFLINE_PRIME_S, as_analysed, run_detector, usability
    from hil.clips import bar_trigger, triggered_clips
    from hil.scoring import Counts, misses, score

    if bool(args.files) == bool(args.scenario):
        raise InputError("give either recording FILE(s) or --scenario NAME, not both or neither")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot needs matplotlib: pip install 'ugs-gateway[plot]'") from None
    kinds = _kinds(args.sensor)
    config = load_dsp_config(args.config, args.installation)
    try:
        model = load_model(args.model or config.classifier.model, config.classifier.installation)
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    jobs = _jobs(args, kinds)
    total = Counts()
    clips = Counts()
    runs: list[dict[str, Any]] = []
    progress = ProgressLine(len(jobs))
    announce_compiling(kinds or None)
    last = None
    try:
        for i, (label, load) in enumerate(jobs):
            progress.update(i, f"{label} (loading)", 0.0)
            recording, noise_only = load()
            if kinds:
                recording = recording.only(kinds)
                if not recording.channels:
                    raise InputError(f"{label}: no {' or '.join(kinds)} channel in it")
            pieces = [(label, recording)]
            if args.clips:
                pieces = [
                    (f"{label} clip at {c.meta['clip']['t0']:.1f} s", c)
                    for c in triggered_clips(recording, bar_trigger(kinds or ()))
                ]
                noise_only = False

            def on_progress(fraction: float, i: int = i, label: str = label) -> None:
                progress.update(i, label, fraction)

            for name, piece in pieces:
                # A file is scored on what analyze reports of it: nothing of a clip too
                # short to analyse, nothing from a channel too slow for its detector.
                analysed = as_analysed(piece) if args.files else piece
                detections = []
                if analysed is None:
                    for problem in usability(piece):
                        print(f"ugs-gateway eval: {name}: {problem}", file=sys.stderr)
                else:
                    result = run_detector(
                        analysed,
                        config,
                        model=model,
                        progress=None if args.clips else on_progress,
                        prime_s=OFFLINE_PRIME_S,
                    )
                    detections = result.detections
                    last = (analysed, result)
                counts = score(
                    piece.truth,
                    detections,
                    piece.duration,
                    noise_only=noise_only,
                    tolerance_s=args.tolerance,
                )
                (clips if args.clips else total).add(counts)
                entry: dict[str, Any] = {"recording": name, **_brief(counts.summary())}
                if args.detections:
                    entry["detections"] = [detection_json(d) for d in detections]
                if args.misses:
                    entry["misses"] = [
                        _miss_json(m, kinds)
                        for m in misses(piece.truth, detections, tolerance_s=args.tolerance)
                    ]
                runs.append(entry)
    finally:
        progress.close()
    report = (clips if args.clips else total).summary()
    if args.clips:
        report["clips"] = _clip_summary(clips)
    if kinds:
        report["sensors"] = list(kinds)
    report["recordings"] = runs
    report["model"] = model.info.get("id", "unversioned")
    if args.plot and last is not None:
        from hil.plotting import plot_evaluation

        plot_evaluation(last[0], last[1].detections, args.plot)
        report["plot"] = args.plot
    print(json.dumps(report, indent=2, allow_nan=False))
    return 0


def _miss_json(miss: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    """A missed event as a developer looks into it: where and how strong it was for each
    sensor of the unit (``kinds``; all when empty) that could perceive it, and what was
    reported over it instead."""
    e = miss.event
    ours = set(kinds or KINDS)
    out: dict[str, Any] = {
        "label": e.label,
        "source": e.source,
        "t0": round(e.t0, 3),
        "t1": round(e.t1, 3),
        "range_m": round(e.range_m, 1),
        "outcome": miss.outcome,
    }
    if "sensors" in e.extra:
        out["sensors"] = [k for k in e.extra["sensors"] if k in ours]
    snr = e.extra.get("peak_snr_db")
    if isinstance(snr, dict):
        out["peak_snr_db"] = {k: round(float(v), 1) for k, v in snr.items() if k in ours}
    out["reports"] = [detection_json(d) for d in miss.reports]
    return out


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    pc = summary["per_class"]
    return {
        "footstep_pd": pc["footstep"]["pd"],
        "vehicle_pd": pc["vehicle"]["pd"],
        "false_alarms": summary["false_alarms"],
        "duration_s": summary["duration_s"],
    }


def _kinds(text: str | None) -> tuple[str, ...]:
    from gateway.errors import InputError

    if not text:
        return ()
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise InputError(f"--sensor {text!r}: expected one or more of {', '.join(KINDS)}")
    return kinds


def _clip_summary(counts: Any) -> dict[str, Any]:
    """Clips whose event was reported with its class, per class and in all."""
    summary = counts.summary()["per_class"]
    n = sum(summary[c]["n_truth"] for c in ("footstep", "vehicle"))
    hit = sum(summary[c]["n_detected"] for c in ("footstep", "vehicle"))
    return {
        "n": n,
        "right_class": round(hit / n, 4) if n else None,
        "footstep": summary["footstep"]["pd"],
        "vehicle": summary["vehicle"]["pd"],
    }


def _file_jobs(args: argparse.Namespace, kinds: tuple[str, ...]) -> list[tuple[str, Any]]:
    """One job per recording the files make, as ``analyze`` reads them: files recorded
    together are one, triggered clips apart in time each their own, with its own truth (a
    folder stands for the recordings in it)."""
    from drivers.recordings import read_sessions, recordings_in
    from drivers.recordings.waveforms import read_truth
    from gateway.errors import InputError

    sensor = kinds[0] if len(kinds) == 1 else None
    sessions = read_sessions(recordings_in(args.files), sensor=sensor, rate=args.rate)
    if args.truth and len(sessions) > 1:
        raise InputError(
            f"--truth is the truth of one recording, and these files make {len(sessions)} "
            "(apart in time): give each its own FILE.truth.json instead"
        )
    jobs = []
    for session in sessions:

        def load(session: Any = session) -> tuple[Any, bool]:
            rec = session.recording
            if args.truth:
                rec.truth, header = read_truth(args.truth)
                meta = header.get("meta") or {}
            else:
                meta = rec.meta
                if not rec.truth and not meta.get("noise_only"):
                    raise InputError(
                        f"{session.files[0]}: no truth file next to it; give --truth FILE"
                    )
            return rec, bool(meta.get("noise_only", False))

        jobs.append((", ".join(str(f) for f in session.files), load))
    return jobs


def _jobs(args: argparse.Namespace, kinds: tuple[str, ...]) -> list[tuple[str, Any]]:
    from gateway.errors import InputError

    if args.files:
        return _file_jobs(args, kinds)
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

                rec = generate(name, args.duration, seed, site=args.site)
                return rec, bool(rec.meta.get("noise_only", False))

            jobs.append((f"{name}/{seed}", simulate))
    return jobs
