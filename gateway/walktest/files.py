"""A walk-test directory: its recording, its truth file and ``walktest.json``.

::

    DIR/XX.STA.<period>.mseed   the sensors' samples (the same files as [record])
    DIR/walktest.truth.json     the marked passes, in the format eval reads
    DIR/walktest.json           what was run, marked and seen (format ugs-walktest, v1)

``read_walktest`` loads one for ``calibrate`` and says, in words, what is wrong with one
that cannot be used: not a walk test, another format version, no recording, a truth file
that does not belong to the recording, no marks.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.recordings.waveforms import Recording, read_truth
from gateway.errors import InputError, RecordingError
from hil.marks import Mark

WALKTEST_FORMAT = "ugs-walktest"
WALKTEST_VERSION = 1
MANIFEST = "walktest.json"
TRUTH = "walktest.truth.json"
START_SLACK_S = 2.0
"""How far the truth file's start may lie from the recording's first sample."""


@dataclass
class WalkTestDir:
    path: Path
    manifest: dict[str, Any]
    recording: Recording
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.recording.duration


def read_walktest(path: str | Path) -> WalkTestDir:
    """One walk test, checked; :class:`InputError` says why it cannot be used."""
    from drivers.recordings import read_recording

    d = Path(path)
    if not d.is_dir():
        raise InputError(f"{d}: not a directory (give the directory a walk test wrote)")
    manifest_path = d / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{d}: not a walk test ({MANIFEST} is missing): record one with ugs-gateway walktest"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{manifest_path}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != WALKTEST_FORMAT:
        raise InputError(f"{manifest_path}: not a walk test file (format {WALKTEST_FORMAT!r})")
    if manifest.get("version") != WALKTEST_VERSION:
        raise InputError(
            f"{manifest_path}: walk test format version {manifest.get('version')}; this "
            f"version of ugs-gateway reads version {WALKTEST_VERSION}: record the walk test again"
        )
    files = sorted(d.glob("*.mseed"))
    if not files:
        raise InputError(f"{d}: no recording (*.mseed) in it: the sensors delivered nothing")
    try:
        rec = read_recording(files)
    except RecordingError as exc:
        raise InputError(f"{d}: the recording cannot be read: {exc}") from None
    truth_file = d / TRUTH
    if not truth_file.exists():
        raise InputError(f"{d}: no truth file ({TRUTH}): the walk test did not finish")
    try:
        truth, header = read_truth(truth_file)
    except RecordingError as exc:
        raise InputError(str(exc)) from None
    _check_match(truth_file, header, truth, rec, manifest)
    rec.truth = truth
    rec.meta = {**rec.meta, "walktest": str(d)}
    if not any(ev.extra.get("marked") for ev in truth):
        raise InputError(
            f"{d}: no walk, run or vehicle marks: nothing to learn from (mark the passes "
            "with w, r, v, or give walktest a --plan)"
        )
    out = WalkTestDir(d, manifest, rec)
    for line in manifest.get("incidents") or []:
        out.warnings.append(f"{d.name}: {line}")
    return out


def _check_match(
    truth_file: Path,
    header: dict[str, Any],
    truth: list[Any],
    rec: Recording,
    manifest: dict[str, Any],
) -> None:
    """The truth file must describe this recording: same start, events inside it."""
    start = header.get("start_time")
    if not isinstance(start, (int, float)) or not math.isfinite(start):
        raise InputError(f"{truth_file}: has no start_time: it cannot be matched to the recording")
    if abs(float(start) - rec.start_time) > START_SLACK_S:
        raise InputError(
            f"{truth_file} does not match the recording: it starts at {_utc(float(start))}, "
            f"the recording at {_utc(rec.start_time)} (files from another walk test?)"
        )
    late = [ev for ev in truth if ev.t0 > rec.duration + START_SLACK_S or ev.t1 < 0]
    if late:
        raise InputError(
            f"{truth_file} does not match the recording: a pass at {late[0].t0:.0f} s lies "
            f"outside the recording's {rec.duration:.0f} s"
        )
    named = {str(s.get("name")) for s in manifest.get("sensors") or [] if isinstance(s, dict)}
    if named and not set(rec.channels) & named:
        raise InputError(
            f"{truth_file} does not match the recording: the walk test read "
            f"{', '.join(sorted(named))}, the recording holds {', '.join(sorted(rec.channels))}"
        )


def _utc(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def write_walktest(
    rec: Recording,
    marks: list[Mark],
    directory: Path,
    *,
    node: str,
    site: str,
    dsp: dict[str, Any],
) -> Path:
    """A walk-test directory from a recording made elsewhere (simulated, or by [record])
    and marks (epoch seconds), as ``walktest`` would have left it; ``calibrate`` reads it."""
    from drivers.recordings import write_recording
    from drivers.recordings.waveforms import TRUTH_FORMAT, TRUTH_VERSION, jsonable
    from hil.marks import truth_events

    directory.mkdir(parents=True, exist_ok=True)
    name = "recording.mseed"
    write_recording(rec, directory / name)
    start, end = rec.start_time, rec.start_time + rec.duration
    truth = truth_events(marks, start, end)
    header = {
        "format": TRUTH_FORMAT,
        "version": TRUTH_VERSION,
        "start_time": start,
        "duration_s": rec.duration,
        "meta": {"walktest": True, "node": node},
        "events": [ev.to_json() for ev in truth],
    }
    (directory / TRUTH).write_text(json.dumps(jsonable(header), indent=1) + "\n")
    manifest = {
        "format": WALKTEST_FORMAT,
        "version": WALKTEST_VERSION,
        "node": node,
        "site": site,
        "started": _utc(start),
        "ended": _utc(end),
        "start_time": start,
        "end_time": end,
        "sensors": [
            {"name": ch.name, "kind": ch.kind, "rate": ch.rate, "columns": ch.data.shape[1]}
            for ch in rec.channels.values()
        ],
        "dsp": dsp,
        "marks": [m.to_json() for m in marks],
        "incidents": [],
        "files": [name],
        "truth": TRUTH,
    }
    (directory / MANIFEST).write_text(json.dumps(jsonable(manifest), indent=1) + "\n")
    return directory
