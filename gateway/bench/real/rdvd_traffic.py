"""rdvd_traffic: a roadside magnetometer's vehicle passes, ~10.6 Hz raw counts.

Source: https://github.com/a552405174-alt/RDVD, ``Datasets/traffic/sampleN.txt`` (four
comma-separated columns: sequence number, epoch time in ms, field in raw counts, 0/1
"vehicle present" label annotated on site). The dataset authors added periodic interference
to every window (three versions per window); the vehicle signatures and the background
under the added lines are real, so this is semi-synthetic data (docs/real-data.md).

1. Files whose sequence and time columns are identical are one time window, published as
   9 files = 3 interference versions x 3 axes (file-number order: version 0 axes 1-3,
   version 1 axes 1-3, version 2 axes 1-3); groups of another size are skipped.
2. Version 1 (the middle triple, the least added interference) is kept.
3. Windows whose time steps leave 0.7-1.4 x the nominal 94 ms are dropped (logger glitches).
4. Where windows overlap in time one is kept (earliest start first): no pass appears twice.
5. Each window is written as channel ``mag1`` (3 columns, raw counts, scale 1.0) at the rate
   of a least-squares fit of time against sample index, with one ``vehicle`` event per run of
   label 1; where two passes are far apart the quiet middle becomes a vehicle-free file.

Split by recording day: 2021-04-15 is held out, the other three days are dev.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import (
    Dataset,
    Source,
    split_of,
    write_clip,
    write_dataset_manifest,
)

NAME = "rdvd_traffic"
DATASET_ID = "RDVD-traffic"
"""The data set's name inside its recordings and manifest."""
REPO = "a552405174-alt/RDVD"
COMMIT = "8c42d59c1799ef93e3f98ec38937f4e00718b780"
FOLDER = "Datasets/traffic"
NOMINAL_DT_MS = 94.0
QUIET_MIN_S = 15.0
QUIET_MARGIN_S = 4.0
HELDOUT_DAYS = {"2021-04-15"}
LOCAL_UTC_OFFSET_H = 8  # the recordings are from China (UTC+8): used only to name the day
SPLIT_RULE = (
    "by recording day (session): 2021-04-15 -> heldout; 2021-01-15, 2021-03-18, 2021-03-19 -> dev"
)

Floats = npt.NDArray[np.float64]


@dataclass
class Window:
    """One time window: version 1 of its three axes."""

    nums: list[int]
    """File numbers of all 9 files of the window."""
    t_ms: Floats
    seq: Floats
    data: Floats
    labels: Floats
    t0: float
    t1: float


def read_window_files(source: Source, folder: str = FOLDER) -> dict[int, Floats]:
    """File number -> (n, 4) rows of every ``sampleN.txt`` under ``folder``; a file that is
    not four columns of numbers is refused, named."""
    files: dict[int, Floats] = {}
    for path in source.files(folder, suffix=".txt"):
        try:
            num = int(Path(path).stem.replace("sample", ""))
            rows = [r.split(",") for r in source.read(path).decode().split() if r.strip()]
            table = np.array(rows, dtype=np.float64)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{source.root / path}: not a window of numbers ({exc})") from None
        if table.ndim != 2 or table.shape[1] != 4 or table.shape[0] < 2:
            raise InputError(f"{source.root / path}: not four columns of samples")
        files[num] = table
    return files


def label_runs(lab: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """[start, end) sample indices of the runs of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, lab.astype(int), 0]))
    return edges.reshape(-1, 2)


def _local(epoch_ms: float, fmt: str) -> str:
    t = dt.datetime.fromtimestamp(epoch_ms / 1000.0, dt.UTC)
    return (t + dt.timedelta(hours=LOCAL_UTC_OFFSET_H)).strftime(fmt)


def local_day(epoch_ms: float) -> str:
    return _local(epoch_ms, "%Y-%m-%d")


def local_hms(epoch_ms: float) -> str:
    return _local(epoch_ms, "%H%M%S")


def select_windows(files: dict[int, Floats]) -> tuple[list[Window], dict[str, int]]:
    """The windows kept (sorted by start) and why the others were skipped."""
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for num, arr in files.items():
        key = hashlib.md5(arr[:, 0].tobytes() + arr[:, 1].tobytes()).hexdigest()
        groups[key].append(num)
    windows = []
    skipped: collections.Counter[str] = collections.Counter()
    for members in groups.values():
        nums = sorted(members)
        if len(nums) != 9:
            skipped[f"{len(nums)} files (not 3 variants x 3 axes)"] += 1
            continue
        base = [files[n] for n in nums[3:6]]  # variant 1, axes 1..3
        t_ms = base[0][:, 1]
        steps = np.diff(t_ms)
        if steps.min() < 0.7 * NOMINAL_DT_MS or steps.max() > 1.4 * NOMINAL_DT_MS:
            skipped["irregular timestamps"] += 1
            continue
        seq = base[0][:, 0]
        if np.any(np.diff(seq) != 1):
            skipped["sequence gap"] += 1
            continue
        windows.append(
            Window(
                nums=nums,
                t_ms=t_ms,
                seq=seq,
                data=np.column_stack([b[:, 2] for b in base]),
                labels=np.column_stack([b[:, 3] for b in base]),
                t0=t_ms[0],
                t1=t_ms[-1],
            )
        )
    windows.sort(key=lambda w: w.t0)
    selected: list[Window] = []
    for w in windows:
        if any(not (w.t0 > s.t1 or w.t1 < s.t0) for s in selected):
            skipped["overlaps an earlier kept window (same passes)"] += 1
            continue
        selected.append(w)
    return selected, dict(skipped)


def pieces_of(runs: npt.NDArray[np.int64], n: int, rate: float) -> list[tuple[int, int, bool]]:
    """(first, end, noise_only) stretches of a window: cut at the quiet middles between
    consecutive passes (>= QUIET_MIN_S, QUIET_MARGIN_S clear of both)."""
    pieces = []
    cur = 0
    margin = round(QUIET_MARGIN_S * rate)
    for k in range(len(runs) - 1):
        q0 = runs[k, 1] + margin
        q1 = runs[k + 1, 0] - margin
        if (q1 - q0) / rate >= QUIET_MIN_S:
            pieces.append((cur, q0, False))
            pieces.append((q0, q1, True))
            cur = q1
    pieces.append((cur, n, False))
    return pieces


def _events(
    w: Window, runs: npt.NDArray[np.int64], i0: int, i1: int, rate: float, path: str
) -> list[TruthEvent]:
    quiet_ref = ~(w.labels > 0).any(axis=1)
    med = np.median(w.data[quiet_ref], axis=0) if quiet_ref.any() else np.median(w.data, axis=0)
    events = []
    for r0, r1 in runs:
        if r0 >= i1 or r1 <= i0:
            continue
        a, b = max(r0, i0), min(r1, i1)
        dev = np.linalg.norm(w.data[a:b] - med, axis=1)
        cpa = a + int(np.argmax(dev))
        events.append(
            TruthEvent(
                label="vehicle",
                source="vehicle",
                t0=(a - i0) / rate,
                t1=(b - i0) / rate,
                t_cpa=(cpa - i0) / rate,
                range_m=-1.0,
                extra={
                    "sensors": ["magnetometer"],
                    "detectable": True,
                    "source": f"{REPO}@{COMMIT[:12]}:{path} (label column, union of the 3 "
                    "axis files)",
                    "dataset": DATASET_ID,
                    "range_unknown": True,
                    "label_samples": [int(a - i0), int(b - i0)],
                    "peak_dev_counts": float(dev.max()),
                },
            )
        )
    return events


def prepare(source: Source, out: Path) -> None:
    selected, skipped = select_windows(read_window_files(source))
    manifest: list[dict[str, Any]] = []
    for w in selected:
        n = len(w.t_ms)
        idx = np.arange(n, dtype=np.float64)
        slope, icpt = np.polyfit(idx, w.t_ms, 1)  # ms per sample (jitter-free fit)
        rate = 1000.0 / slope
        runs = label_runs(np.asarray((w.labels > 0).any(axis=1)))
        day = local_day(w.t0)
        split = split_of(day, HELDOUT_DAYS)
        paths = [f"{FOLDER}/sample{k}.txt" for k in w.nums[3:6]]
        for i0, i1, noise_only in pieces_of(runs, n, rate):
            seg = w.data[i0:i1]
            start_time = (icpt + slope * i0) / 1000.0
            name = f"{day}_{local_hms(w.t_ms[i0])}_s{w.nums[4]}"
            name += "_quiet" if noise_only else ""
            fname = f"{name}.npz"
            events = [] if noise_only else _events(w, runs, i0, i1, rate, paths[0])
            info = {
                "source_repo": REPO,
                "commit": COMMIT,
                "source_paths": paths,
                "source_rows": [int(i0), int(i1)],
                "units": "counts (raw magnetometer output, scale unknown; offsets included)",
                "sensor": "roadside magnetic vehicle detector, 3 axes (model not stated by the "
                "dataset)",
                "components_note": "columns = the window's 3 axis files in file-number order; "
                "axis names not given by the dataset",
                "rate_note": "rate = 1/slope of a least-squares fit of the epoch-ms time column "
                "against sample index (sequence numbers contiguous, steps 88-100 ms jitter "
                "around 94 ms); samples not resampled",
                "interference_note": "variant 1 of 3 published per window; all variants carry "
                "periodic interference added per window by the dataset authors (see README)",
                "median_step_ms": float(np.median(np.diff(w.t_ms))),
            }
            ch = Channel(
                name="mag1",
                kind="magnetometer",
                rate=float(rate),
                data=seg.astype(np.float64),
                scale=1.0,
                components=("1", "2", "3"),
                info=info,
            )
            meta = {
                "dataset": DATASET_ID,
                "source_repo": REPO,
                "commit": COMMIT,
                "session": day,
                "split": split,
                "noise_only": bool(noise_only),
                "semi_synthetic_interference": True,
                "window_files": [f"{FOLDER}/sample{k}.txt" for k in w.nums],
            }
            rec = Recording({"mag1": ch}, events, float(start_time), meta)
            write_clip(out, fname, rec)
            manifest.append(
                {
                    "file": fname,
                    "kind": "magnetometer",
                    "rate": round(float(rate), 5),
                    "duration_s": round(len(seg) / rate, 3),
                    "n_events": len(events),
                    "noise_only": bool(noise_only),
                    "session": day,
                    "site": "RDVD roadside site (single sensor position per day; not documented)",
                    "split": split,
                }
            )
    write_dataset_manifest(
        out, DATASET_ID, REPO, COMMIT, SPLIT_RULE, manifest, skipped_windows=skipped
    )


DATASET = Dataset(name=NAME, kind="magnetometer", repository=REPO, commit=COMMIT, prepare=prepare)
