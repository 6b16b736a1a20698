"""Run the streaming detector over recorded waveforms, offline.

Reads MiniSEED, SAC, WAV, CSV, JSON or NPZ (see docs/recordings.md). Files recorded together
make one recording (hourly MiniSEED or SAC files are joined in time, files of a unit's
different sensors side by side); files apart in time, such as triggered clips, and files of
different stations are analysed each on their own. A folder stands for the recordings in it
(not its subfolders). The detector is the one the service runs, fed in one-second blocks
per sensor.

Prints one JSON object per line:

- a detection: ``class``, ``conf``, ``t0``, ``t1`` (ISO-8601 UTC when the recording carries
  its start time, else seconds), ``sensors``, ``features``, ``flags`` (flagged input inside
  the detection), plus ``file``, ``start_s`` and ``end_s`` (seconds from the start of that
  file);
- a flagged stretch of input the detector could not use as it stood: ``flag`` (nan,
  clipped, flatline or gap), ``sensor``, the same time fields;
- with ``--candidates``, an event the classifier judged and did not report:
  ``"candidate": "not reported"``, ``why`` (in words), ``proba`` per class, ``sensors``, the
  same time fields.

How a file was read where that had to be guessed (its rate, its sensor's kind, columns left
out), and why one cannot be analysed, is said on stderr; after several recordings, how many
had a detection of each class.

Examples:
  ugs-gateway analyze site7-2026-11-27.mseed
  ugs-gateway analyze NODE7.EHZ.*.sac
  ugs-gateway analyze geophone.csv --rate 500
  ugs-gateway analyze node7-clip.json
  ugs-gateway analyze pir.wav --sensor pir
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers import kinds

if TYPE_CHECKING:
    from drivers.recordings import FileSpan, Session

NAME = "analyze"
HELP = "run the detector over recorded waveforms; one JSON line per detection"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="recording file(s), or a folder: the recordings in it",
    )
    parser.add_argument(
        "--sensor",
        choices=kinds.names(),
        help="kind of sensor in a single-sensor file (default seismic); for multi-sensor "
        "files, analyse only that kind",
    )
    parser.add_argument(
        "--rate", type=float, metavar="HZ", help="sample rate, for files that do not carry one"
    )
    parser.add_argument(
        "-c", "--config", metavar="CONFIG", help="take the [dsp] section from this gateway config"
    )
    add_installation_argument(parser)
    parser.add_argument(
        "--no-flags", action="store_true", help="print detections only, not flagged stretches"
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also print each event the classifier judged and did not report, with the "
        "model's probabilities and why (under min_conf, too short, ...): for looking at a miss",
    )


def add_installation_argument(parser: argparse.ArgumentParser) -> None:
    from dsp.installation import INSTALLATIONS

    parser.add_argument(
        "--installation",
        choices=INSTALLATIONS,
        help="where the sensor sat, which picks the packaged model: ground (soil, roadside) "
        "or floor (a building's floor); default: the config's, else ground",
    )


def iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def locate(spans: list[FileSpan], t0: float, t1: float) -> tuple[str, float, float]:
    for span in spans:
        if span.start <= t0 < span.end or span is spans[-1]:
            return span.path, t0 - span.start, t1 - span.start
    raise AssertionError("unreachable")


def time_fields(recording: Any, spans: list[FileSpan], t0: float, t1: float) -> dict[str, Any]:
    path, start_s, end_s = locate(spans, t0, t1)
    if recording.start_time:
        when: dict[str, Any] = {
            "t0": iso(recording.start_time + t0),
            "t1": iso(recording.start_time + t1),
        }
    else:
        when = {"t0": round(t0, 3), "t1": round(t1, 3)}
    return {**when, "file": path, "start_s": round(start_s, 3), "end_s": round(end_s, 3)}


def announce_compiling(sensor_kinds: Collection[str] | None = None) -> None:
    """One line on stderr when the kernels of these kinds of sensor (all when None) must be
    compiled first (seconds, not hung)."""
    from dsp.cache import kernels_cached

    if not kernels_cached(sensor_kinds):
        print("compiling signal kernels (first run only)...", file=sys.stderr, flush=True)


def load_dsp_config(path: str | None, installation: str | None = None) -> Any:
    """The ``[dsp]`` of the config at ``path`` (defaults without one); ``installation``
    (``--installation``) overrides the config's."""
    from dsp.config import DspConfig

    if path is None:
        dsp = DspConfig()
    else:
        from gateway.config import load_config

        dsp = load_config(path).dsp
    if installation is not None:
        dsp.classifier = dsp.classifier.model_copy(update={"installation": installation})
    return dsp


def run(args: argparse.Namespace) -> int:
    from drivers.recordings import read_sessions, recordings_in
    from gateway.errors import InputError

    config = load_dsp_config(args.config, args.installation)
    files = recordings_in(args.files)  # a folder of clips stands for the clips in it
    unreadable: list[Path] = []

    def skip(path: Path, exc: Exception) -> None:
        # One damaged clip among many: say so, and analyse the others.
        unreadable.append(path)
        print(f"ugs-gateway analyze: {exc} (skipped)", file=sys.stderr)

    sessions = read_sessions(
        files,
        sensor=args.sensor,
        rate=args.rate,
        on_unreadable=skip if len(files) > 1 else None,
    )
    reported: list[set[str]] = []
    outcomes = [analyse_session(s, config, args, reported) for s in sessions]
    if "analysed" not in outcomes and "too slow" in outcomes:
        first = sessions[outcomes.index("too slow")].files[0]
        raise InputError(f"{first}: no channel is sampled fast enough to analyse")
    if len(sessions) > 1:
        print(f"ugs-gateway analyze: {tally(outcomes, reported)}", file=sys.stderr)
    if unreadable:
        raise InputError(
            f"{len(unreadable)} of {len(files)} files could not be read "
            f"(named above); the others were analysed"
        )
    return 0


def tally(outcomes: list[str], reported: list[set[str]]) -> str:
    """What a run over many recordings found, in one line: how many had a detection of
    each class, how many none, how many could not be analysed."""
    found = [classes for classes in reported if classes]
    by_class = ", ".join(
        f"{cls} in {sum(cls in classes for classes in found)}"
        for cls in sorted(set().union(*found))
    )
    text = f"{len(outcomes)} recordings: {len(found)} with a detection"
    text += f" ({by_class})" if found else ""
    analysed = outcomes.count("analysed")
    text += f", {analysed - len(found)} with none"
    unusable = len(outcomes) - analysed
    return text + (f", {unusable} not analysable (said above)" if unusable else "")


def analyse_session(
    session: Session, config: Any, args: Any, reported: list[set[str]] | None = None
) -> str:
    """Print the detections (and flagged stretches) of one session's recording; say why
    it cannot be analysed otherwise: ``analysed``, ``too short`` or ``too slow``. The
    classes reported in an analysed recording are added to ``reported``."""
    from dsp.classifier import ModelError
    from dsp.priming import SHORTEST_CLIP_S
    from gateway.errors import ConfigError, InputError
    from hil.analysis import OFFLINE_PRIME_S, as_analysed, cautions, run_detector, usability

    name, recording, spans = session.files[0], session.recording, session.spans
    if not recording.channels or recording.duration <= 0:
        raise InputError(f"{name}: the recording holds no samples")
    # How the file was read where it had to be guessed: its rate, columns left out.
    notes = [str(recording.meta[k]) for k in ("rate_note", "read_note") if recording.meta.get(k)]
    for problem in notes + usability(recording):
        print(f"ugs-gateway analyze: {name}: {problem}", file=sys.stderr)
    analysed = as_analysed(recording)
    if analysed is None:
        return "too short" if recording.duration < SHORTEST_CLIP_S else "too slow"
    recording = analysed
    for caution in cautions(recording):
        print(f"ugs-gateway analyze: {name}: {caution}", file=sys.stderr)
    announce_compiling({ch.kind for ch in recording.channels.values()})
    try:
        result = run_detector(
            recording, config, prime_s=OFFLINE_PRIME_S, keep_candidates=args.candidates
        )
    except ModelError as exc:
        raise ConfigError(f"dsp.classifier.model: {exc}") from None
    lines: list[tuple[float, dict[str, Any]]] = []
    for det in result.detections:
        obj = {
            "class": det.cls,
            "conf": det.conf,
            **time_fields(recording, spans, det.t0, det.t1),
            "sensors": list(det.sensors),
            "features": det.features,
        }
        if det.flags:
            obj["flags"] = list(det.flags)
        lines.append((det.t0, obj))
    if not args.no_flags:
        for flag in result.flags:
            obj = {
                "flag": flag.kind,
                "sensor": flag.sensor,
                **time_fields(recording, spans, flag.t0, flag.t1),
            }
            lines.append((flag.t0, obj))
    if args.candidates:
        lines += _unreported(result, recording, spans, config)
    lines.sort(key=lambda item: item[0])
    if reported is not None:
        reported.append({det.cls for det in result.detections})
    out = sys.stdout
    for _, obj in lines:
        out.write(json.dumps(obj, allow_nan=False) + "\n")
    out.flush()
    return "analysed"


def _unreported(
    result: Any, recording: Any, spans: list[FileSpan], config: Any
) -> list[tuple[float, dict[str, Any]]]:
    """The events the classifier judged and did not report: when, what the model made of
    them and why they were not reported."""
    import numpy as np

    from dsp.detector import why_not_reported

    classes = result.detector.model.classes
    out = []
    for cand in result.detector.candidates:
        proba = np.asarray(cand.proba)
        why = why_not_reported(proba, cand.vector, cand.t1 - cand.t0, config.classifier)
        if why is None and cand.repeats is not None:
            t0, t1 = cand.repeats
            why = f"already reported: the geophone's footstep report {t0:.1f}-{t1:.1f} s names them"
        if why is None:
            continue  # reported: a detection line says so
        obj = {
            "candidate": "not reported",
            "why": why,
            "proba": {c: round(float(p), 3) for c, p in zip(classes, proba, strict=True)},
            **time_fields(recording, spans, cand.t0, cand.t1),
            "sensors": list(cand.sensors),
        }
        out.append((cand.t0, obj))
    return out
