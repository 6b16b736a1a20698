"""rdvd_traffic's window files as published: every file one axis, read as `analyze` reads it.

The scored data set (docs/real-data.md) keeps one interference version of each window and
joins its three axes. A user of the source's own files has each ``sampleN.txt`` alone: one
axis, one of three versions, its clock as the logger stamped it. This reads every one so
(the time column gives the rate; a file whose clock keeps no steady step is counted, not
analysed, as `analyze` would ask for ``--rate``) and scores the file's own label runs: a
pass is found when a ``vehicle`` detection comes within 1 s of it; a detection further than
1 s from every run is away from the passes.

``--every N`` keeps every Nth sample (and label) of each file, from its first: the same
field as a logger at 1/N of the rate, with no filter before it, would have read it (N = 2:
5.33 Hz, the slowest magnetometers a unit takes).

    .venv/bin/python -m gateway.bench.rdvd_published CHECKOUT [--every N] [--json]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import InputError, RecordingError
from drivers.recordings import Recording
from dsp.config import DspConfig
from gateway.bench.real.common import Source
from gateway.bench.real.rdvd_traffic import (
    DATASET,
    FOLDER,
    label_runs,
    local_day,
    read_window_files,
)

TOLERANCE_S = 1.0
VERSIONS_PER_WINDOW = 3
AXES_PER_VERSION = 3


def versions(tables: dict[int, np.ndarray]) -> dict[int, int]:
    """File number -> interference version (0-2): a window's 9 files share their sequence
    and time columns and are numbered version by version, three axes each."""
    groups: dict[bytes, list[int]] = collections.defaultdict(list)
    for num, table in tables.items():
        groups[table[:, :2].tobytes()].append(num)
    out = {}
    for nums in groups.values():
        for i, num in enumerate(sorted(nums)):
            out[num] = min(i // AXES_PER_VERSION, VERSIONS_PER_WINDOW - 1)
    return out


def score_file(
    path: Path, table: np.ndarray, config: DspConfig, every: int = 1
) -> dict[str, int] | None:
    """Passes and detections of one window file, every ``every``-th sample of it; None when
    it cannot be read as it is (a clock that keeps no steady step: `analyze` asks for
    ``--rate``)."""
    from drivers.recordings import read_sessions
    from hil.analysis import OFFLINE_PRIME_S, as_analysed, run_detector

    try:
        with contextlib.redirect_stderr(io.StringIO()):
            sessions = read_sessions([path], sensor="magnetometer")
    except RecordingError:
        return None
    recording = slower(sessions[0].recording, every)
    analysed = as_analysed(recording)
    found = (
        []
        if analysed is None
        else run_detector(analysed, config, prime_s=OFFLINE_PRIME_S).detections
    )
    # The labels' times as the reader placed the samples: on the logger's stamps, or, for a
    # clock that replays in bursts (a note says so), one after another at its usual step.
    table = table[::every]
    stamps = (table[:, 1] - table[0, 1]) / 1000.0
    if recording.meta.get("rate_note"):
        stamps = np.arange(len(table)) / next(iter(recording.channels.values())).rate
    step = float(np.median(np.diff(stamps)))
    runs = [(stamps[a], stamps[b - 1] + step) for a, b in label_runs(table[:, 3] > 0)]

    def near(t0: float, t1: float, r0: float, r1: float) -> bool:
        return t0 - TOLERANCE_S < r1 and t1 + TOLERANCE_S > r0

    return {
        "passes": len(runs),
        "found": sum(
            any(d.cls == "vehicle" and near(d.t0, d.t1, r0, r1) for d in found) for r0, r1 in runs
        ),
        "detections": len(found),
        "away": sum(not any(near(d.t0, d.t1, r0, r1) for r0, r1 in runs) for d in found),
    }


def slower(recording: Recording, every: int) -> Recording:
    """``recording`` with every ``every``-th sample of each channel, from the first."""
    if every == 1:
        return recording
    channels = {
        name: dataclasses.replace(
            ch,
            data=ch.data[::every],
            rate=ch.rate / every,
            valid=None if ch.valid is None else ch.valid[::every],
        )
        for name, ch in recording.channels.items()
    }
    return dataclasses.replace(recording, channels=channels)


def tally(source: Source, every: int = 1) -> dict[str, collections.Counter[str]]:
    """Per day, per version and over all: files, files not read, passes, found, detections,
    away; every ``every``-th sample of each file."""
    tables = read_window_files(source)
    version = versions(tables)
    config = DspConfig()
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for num, table in sorted(tables.items()):
        scored = score_file(source.root / FOLDER / f"sample{num}.txt", table, config, every)
        for key in ("all", local_day(table[0, 1]), f"version {version[num]}"):
            row = rows[key]
            row["files"] += 1
            if scored is None:
                row["not read"] += 1
            else:
                row.update(scored)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of the RDVD repository")
    parser.add_argument(
        "--every",
        type=int,
        default=1,
        metavar="N",
        help="keep every Nth sample of each file, as a logger at 1/N of the rate (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.every < 1:
        print(f"error: --every {args.every}: give 1 or more", file=sys.stderr)
        return 2
    try:
        rows = tally(Source.open(args.checkout, DATASET), args.every)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print(f"error: {args.checkout / FOLDER}: no sampleN.txt window files", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        key: {
            **row,
            "recall": round(row["found"] / row["passes"], 4) if row["passes"] else None,
            "away_share": round(row["away"] / row["detections"], 4) if row["detections"] else None,
        }
        for key, row in sorted(rows.items())
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        "| files | count | not read (need --rate) | passes | found | recall | detections | "
        "away from passes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key, r in report.items():
        print(
            f"| {key} | {r['files']} | {r.get('not read', 0)} | {r['passes']} | "
            f"{r['found']} | {r['recall']} | {r['detections']} | {r['away']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
