"""rdvd_parking: a parking-space magnetometer's cars arriving and leaving, ~11 Hz raw counts.

Source: https://github.com/a552405174-alt/RDVD, ``Datasets/parking/sampleN.txt`` (four
comma-separated columns: sequence number, the logger's clock in ms since it booted, field in
raw counts, 0/1 "vehicle present" label annotated on site). As for rdvd_traffic, the
dataset authors published every window three times with interference of their own added,
each as three axis files: 9 files per window, in file-number order version 0 axes 1-3,
version 1 axes 1-3, version 2 axes 1-3.

1. Files with the same sequence column, clock start and labels are one window; windows of
   another number of files are skipped.
2. Version 1 (the middle triple: version 0 begins with a second of its own settling,
   version 2 carries the strongest lines) is kept, its three axes as channel ``mag1``.
3. The rate is the inverse slope of a least-squares fit of the clock against sample index
   (steps jitter around 90 ms); the clock has no date, so the recording has no start time.
4. Each run of label 1 (a car in the space) gives a ``vehicle`` event for its arrival (2 s
   before the label rises to 3 s after) and one for its departure (3 s before it falls to
   2 s after), where the window holds them; the stay between is a ``vehicle`` event marked
   not detectable (a parked car is still, and a detection in its stay is neither a miss nor
   a false alarm).

Split: the window files were published without dates, so there are no sessions to split by.
The magnetometer's priming rule for a field that steps to another level (docs/dsp.md,
"Magnetometer chain") was developed on 120 of the 613 files drawn at random; the windows
none of whose files were among them are held out.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import (
    Dataset,
    Source,
    write_clip,
    write_dataset_manifest,
)
from gateway.bench.real.rdvd_traffic import COMMIT, REPO, label_runs, read_window_files

NAME = "rdvd_parking"
DATASET_ID = "RDVD-parking"
FOLDER = "Datasets/parking"
ARRIVAL_S = (2.0, 3.0)
"""Before and after the label rises: an arrival event's span."""
DEPARTURE_S = (3.0, 2.0)
"""Before and after the label falls: a departure event's span."""
HELDOUT_WINDOWS = frozenset({82, 125, 287, 323, 386, 485, 530, 566})
"""First file number of each held-out window: those none of whose files the priming rule
was developed on."""
SPLIT_RULE = (
    "by window (no dates): the 8 windows none of whose files the magnetometer priming's step "
    "rule was developed on -> heldout; the other windows -> dev"
)

Floats = npt.NDArray[np.float64]


@dataclass
class Window:
    """One window: version 1 of its three axes."""

    nums: list[int]
    t_ms: Floats
    data: Floats
    labels: npt.NDArray[np.bool_]


def select_windows(source: Source) -> tuple[list[Window], dict[str, int]]:
    """The windows (in file-number order) and why the others were skipped."""
    files = read_window_files(source, FOLDER)
    groups: dict[tuple[float, bytes, bytes], list[int]] = collections.defaultdict(list)
    for num, arr in files.items():
        groups[(float(arr[0, 1]), arr[:, 0].tobytes(), arr[:, 3].tobytes())].append(num)
    windows = []
    skipped: collections.Counter[str] = collections.Counter()
    for members in groups.values():
        nums = sorted(members)
        if len(nums) != 9 or nums != list(range(nums[0], nums[0] + 9)):
            skipped[f"{len(nums)} files (not 3 versions x 3 axes)"] += 1
            continue
        base = [files[n] for n in nums[3:6]]
        windows.append(
            Window(
                nums=nums,
                t_ms=base[0][:, 1],
                data=np.column_stack([b[:, 2] for b in base]),
                labels=np.asarray(np.column_stack([b[:, 3] > 0 for b in base]).any(axis=1)),
            )
        )
    windows.sort(key=lambda w: w.nums[0])
    return windows, dict(skipped)


def events(w: Window, rate: float, path: str) -> list[TruthEvent]:
    """Arrival and departure of every stay the window holds, and the stay between."""
    n = len(w.t_ms)
    duration = n / rate
    quiet = ~w.labels
    med = np.median(w.data[quiet], axis=0) if quiet.any() else np.median(w.data, axis=0)
    out = []

    def event(t0: float, t1: float, at: float, what: str, detectable: bool) -> TruthEvent:
        i0, i1 = max(0, int(t0 * rate)), min(n, int(np.ceil(t1 * rate)))
        dev = np.linalg.norm(w.data[i0:i1] - med, axis=1) if i1 > i0 else np.zeros(1)
        return TruthEvent(
            label="vehicle",
            source="vehicle",
            t0=round(max(0.0, t0), 3),
            t1=round(min(duration, t1), 3),
            t_cpa=round(at, 3),
            range_m=-1.0,
            extra={
                "sensors": ["magnetometer"],
                "detectable": detectable,
                "parking": what,
                "source": f"{REPO}@{COMMIT[:12]}:{path} (label column, union of the 3 axis files)",
                "dataset": DATASET_ID,
                "range_unknown": True,
                "peak_dev_counts": float(dev.max()),
            },
        )

    for r0, r1 in label_runs(w.labels):
        arrive, leave = r0 / rate, r1 / rate
        stay0, stay1 = 0.0, duration
        if r0 > 0:
            out.append(event(arrive - ARRIVAL_S[0], arrive + ARRIVAL_S[1], arrive, "arrival", True))
            stay0 = arrive + ARRIVAL_S[1]
        if r1 < n:
            stay1 = leave - DEPARTURE_S[0]
            out.append(
                event(leave - DEPARTURE_S[0], leave + DEPARTURE_S[1], leave, "departure", True)
            )
        if stay1 > stay0:
            out.append(event(stay0, stay1, (stay0 + stay1) / 2, "stay", False))
    return sorted(out, key=lambda e: e.t0)


def prepare(source: Source, out: Path) -> None:
    windows, skipped = select_windows(source)
    manifest: list[dict[str, Any]] = []
    for w in windows:
        idx = np.arange(len(w.t_ms), dtype=np.float64)
        slope = float(np.polyfit(idx, w.t_ms, 1)[0])
        rate = 1000.0 / slope
        split = "heldout" if w.nums[0] in HELDOUT_WINDOWS else "dev"
        paths = [f"{FOLDER}/sample{k}.txt" for k in w.nums[3:6]]
        truth = events(w, rate, paths[0])
        ch = Channel(
            name="mag1",
            kind="magnetometer",
            rate=rate,
            data=w.data.astype(np.float64),
            scale=1.0,
            components=("1", "2", "3"),
            info={
                "source_repo": REPO,
                "commit": COMMIT,
                "source_paths": paths,
                "units": "counts (raw magnetometer output, scale unknown; offsets included)",
                "sensor": "parking-space magnetic vehicle detector, 3 axes (model not stated)",
                "rate_note": "rate = 1/slope of a least-squares fit of the ms-since-boot clock "
                "against sample index; samples not resampled",
                "interference_note": "version 1 of 3 published per window; all versions carry "
                "interference added by the dataset authors (see their README)",
            },
        )
        meta = {
            "dataset": DATASET_ID,
            "source_repo": REPO,
            "commit": COMMIT,
            "session": f"window-{w.nums[0]}",
            "split": split,
            "noise_only": False,
            "semi_synthetic_interference": True,
            "window_files": [f"{FOLDER}/sample{k}.txt" for k in w.nums],
        }
        fname = f"parking_s{w.nums[4]}.npz"
        write_clip(out, fname, Recording({"mag1": ch}, truth, 0.0, meta))
        detectable = sum(e.extra["detectable"] for e in truth)
        manifest.append(
            {
                "file": fname,
                "kind": "magnetometer",
                "rate": round(rate, 5),
                "duration_s": round(len(w.t_ms) / rate, 3),
                "n_events": detectable,
                "noise_only": False,
                "session": f"window-{w.nums[0]}",
                "site": "RDVD parking space (not documented)",
                "split": split,
            }
        )
    write_dataset_manifest(
        out, DATASET_ID, REPO, COMMIT, SPLIT_RULE, manifest, skipped_windows=skipped
    )


DATASET = Dataset(name=NAME, kind="magnetometer", repository=REPO, commit=COMMIT, prepare=prepare)
