"""chnabil_mag3110: two ground magnetometers, single car passes, 200 Hz raw counts.

Source: https://github.com/ChNabil/Magnetometer_Vehicle-data. Two NXP MAG3110 3-axis
magnetometers on the ground by a lane, read by an MSP430 at 200 Hz; a car drives past once
per capture. Files used:

- at the recorded commit, ``Data processing/capture{0..3}_*kmph.xlsx``: worksheet
  ``sheet1.xml`` holds the raw serial bytes (14 hex-byte columns per sample: x1 y1 z1 x2 y2
  z2 as big-endian int16, then two bytes of the ultrasonic ranger); the author's converted
  sheet is a trimmed copy of the same samples, so the complete raw sheet is used;
- from the history (deleted later, so this needs a clone, not a bare copy of the tree):
  commit 8cb47b0 ``Data/new/acclmtr_on_small_brdbrd_ground_200Hz_16Kmph_DodgeNeon.txt`` and
  commit ea49dba ``Data/new/acclmtr_on_small_brdbrd_ground_200Hz_5Mph_FordFocus.txt``: the
  same 14-byte records as one hex string, separated by ``-`` or by ``7FFF``.

Each capture gives two recordings (sensor 1 and sensor 2, each channel ``mag1`` with three
columns of raw int16 counts, scale 1.0) with the one pass as truth. The data set has no time
labels: the pass span is derived from the sensor's own signal (``pass_span``). A long quiet
stretch far from the pass is written as its own vehicle-free file. Split by session: the
2019-05 captures are dev, the 2018-10 sample files held out.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import (
    Dataset,
    Source,
    Split,
    write_clip,
    write_dataset_manifest,
)

NAME = "chnabil_mag3110"
DATASET_ID = "ChNabil-MAG3110"
"""The data set's name inside its recordings and manifest."""
REPO = "ChNabil/Magnetometer_Vehicle-data"
COMMIT = "6e9a4cf5ca219b69f30cf565c5e92512ea6d99d7"
DODGE_COMMIT = "8cb47b003ac2729c6d72a9a74887c5843c952c69"
FORD_COMMIT = "ea49dbab9724fc7c93dc347b0eec68d6c94c9bf9"
QUIET_MIN_S = 20.0
QUIET_MARGIN_PRE_S = 25.0  # keeps >= 25 s of lead before the pass (detector warm-up)
QUIET_MARGIN_POST_S = 10.0
RATE = 200.0  # Hz, stated by the author (file names "200Hz", data_processing.m "fs = 200")
SPLIT_RULE = (
    "by session: 2019-05 'Final' captures (4) -> dev; 2018-10 sample-data files (2, from git "
    "history) -> heldout; both sensors of a capture in the same split"
)

Ints = npt.NDArray[np.int64]

SOURCES: list[tuple[str, str, str, str, Split, str]] = [
    # (commit, path, format, session, split, vehicle/speed note)
    (COMMIT, "Data processing/capture0_32kmph.xlsx", "xlsx", "2019-05 captures", "dev", "32 km/h"),
    (COMMIT, "Data processing/capture1_64kmph.xlsx", "xlsx", "2019-05 captures", "dev", "64 km/h"),
    (COMMIT, "Data processing/capture2_48kmph.xlsx", "xlsx", "2019-05 captures", "dev", "48 km/h"),
    (COMMIT, "Data processing/capture3_20kmph.xlsx", "xlsx", "2019-05 captures", "dev", "20 km/h"),
    (
        DODGE_COMMIT,
        "Data/new/acclmtr_on_small_brdbrd_ground_200Hz_16Kmph_DodgeNeon.txt",
        "hex",
        "2018-10 sample data",
        "heldout",
        "Dodge Neon, 16 km/h",
    ),
    (
        FORD_COMMIT,
        "Data/new/acclmtr_on_small_brdbrd_ground_200Hz_5Mph_FordFocus.txt",
        "hex",
        "2018-10 sample data",
        "heldout",
        "Ford Focus, 5 mph",
    ),
]


def to_int16(words: Ints) -> Ints:
    return np.where(words > 32767, words - 65536, words).astype(np.int64)


def parse_xlsx_raw(blob: bytes) -> tuple[Ints, int]:
    """Rows of the raw-byte worksheet (sheet1.xml): 14 hex bytes -> 6 int16 + 2 bytes;
    and the number of incomplete rows left out."""
    z = zipfile.ZipFile(io.BytesIO(blob))
    strings = re.findall(r"<t[^>]*>(.*?)</t>", z.read("xl/sharedStrings.xml").decode())
    xml = z.read("xl/worksheets/sheet1.xml").decode()
    cols = "ABCDEFGHIJKLMN"
    rows = []
    incomplete = 0
    for row in re.finditer(r"<row [^>]*>(.*?)</row>", xml):
        cells = {}
        for c in re.finditer(r'<c r="([A-Z]+)\d+"([^>]*?)(?:/>|>(.*?)</c>)', row.group(1)):
            v = re.search(r"<v>(.*?)</v>", c.group(3) or "")
            if v is None:
                continue
            val = strings[int(v.group(1))] if 't="s"' in c.group(2) else v.group(1)
            cells[c.group(1)] = val
        if any(k not in cells for k in cols):
            incomplete += 1
            continue
        rows.append([int(cells[k], 16) for k in cols])
    b = np.array(rows, dtype=np.int64)
    words = b[:, 0:12:2] * 256 + b[:, 1:12:2]
    return np.column_stack([to_int16(words), b[:, 12:14]]), incomplete


def parse_hex(blob: bytes) -> tuple[Ints, int]:
    """Records of an old hex-string file; and the number of malformed records left out."""
    s = blob.decode().strip()
    recs = [r for r in (s.split("-") if "-" in s else s.split("7FFF")) if r]
    good = [r for r in recs if len(r) == 28 and re.fullmatch("[0-9A-F]+", r)]
    words = np.array(
        [[int(r[j : j + 4], 16) for j in range(0, 24, 4)] for r in good], dtype=np.int64
    )
    extra = np.array([[int(r[24:26], 16), int(r[26:28], 16)] for r in good], dtype=np.int64)
    return np.column_stack([to_int16(words), extra]), len(recs) - len(good)


def pass_span(xyz: Ints) -> tuple[int, int, int, float, float]:
    """The one vehicle pass of a capture, from the signal itself: first and end sample,
    peak sample, peak |dB| and the threshold (counts).

    |dB| = distance of a 9-sample running median of the 3 axes (removes the single-record
    serial glitches, for this derivation only) from the median of the whole record; noise =
    1.4826 * MAD of |dB| over the record (the output is quantised in steps of 2 counts, so the
    noise term has a floor); samples above median + max(4 noise, 6 counts) are
    'in the pass'; clusters closer than 1 s are joined and the cluster holding the largest
    |dB| is the pass, widened by 0.25 s on both sides.
    """
    n = len(xyz)
    k = 9
    pad = np.pad(xyz.astype(float), ((k // 2, k // 2), (0, 0)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, k, axis=0)
    med = np.median(win, axis=-1)
    base = np.median(med, axis=0)
    db = np.linalg.norm(med - base, axis=1)
    m = np.median(db)
    noise = 1.4826 * np.median(np.abs(db - m))
    thr = m + max(4.0 * noise, 6.0)
    above = np.flatnonzero(db > thr)
    gap = int(1.0 * RATE)
    clusters = []
    start = prev = above[0]
    for i in above[1:]:
        if i - prev > gap:
            clusters.append((start, prev))
            start = i
        prev = i
    clusters.append((start, prev))
    peak = int(np.argmax(db))
    holding = [c for c in clusters if c[0] <= peak <= c[1]]
    c0, c1 = holding[0] if holding else max(clusters, key=lambda c: c[1] - c[0])
    widen = int(0.25 * RATE)
    return max(0, c0 - widen), min(n, c1 + 1 + widen), peak, float(db[peak]), float(thr)


def pieces_of(n: int, i0: int, i1: int) -> list[tuple[int, int, bool]]:
    """(first, end, quiet) stretches of a capture: long quiet stretches (>= QUIET_MIN_S, kept
    QUIET_MARGIN_PRE_S before / QUIET_MARGIN_POST_S after the pass) become vehicle-free
    files; the rest, holding the pass, is the event file."""
    pre = int(QUIET_MARGIN_PRE_S * RATE)
    post = int(QUIET_MARGIN_POST_S * RATE)
    pieces = []
    e0, e1 = 0, n
    if i0 - pre >= QUIET_MIN_S * RATE:
        pieces.append((0, i0 - pre, True))
        e0 = i0 - pre
    if n - (i1 + post) >= QUIET_MIN_S * RATE:
        pieces.append((i1 + post, n, True))
        e1 = i1 + post
    pieces.append((e0, e1, False))
    return sorted(pieces)


def prepare(source: Source, out: Path) -> None:
    manifest: list[dict[str, Any]] = []
    for commit, path, fmt, session, split, note in SOURCES:
        blob = source.read(path) if commit == COMMIT else source.read_at(commit, path)
        arr, dropped = parse_xlsx_raw(blob) if fmt == "xlsx" else parse_hex(blob)
        stem = Path(path).stem
        for sensor in (1, 2):
            xyz = arr[:, 3 * (sensor - 1) : 3 * sensor]
            i0, i1, peak, peak_db, thr = pass_span(xyz)
            info = {
                "source_repo": REPO,
                "commit": commit,
                "source_path": path,
                "sensor": f"NXP MAG3110 3-axis magnetometer #{sensor} of 2 (MSP430 logger)",
                "units": "counts (raw int16 MAG3110 output; nominal 0.1 uT per count; offsets "
                "included)",
                "rate_note": "200 Hz as stated by the author (no timestamps in the data)",
                "records_dropped_malformed": int(dropped),
                "glitch_note": "isolated corrupted serial records (|value - median| > 1000 "
                "counts) kept as recorded",
            }
            for a, b, quiet in pieces_of(len(xyz), i0, i1):
                seg = xyz[a:b]
                events = []
                if not quiet:
                    events.append(
                        TruthEvent(
                            label="vehicle",
                            source="car",
                            t0=(i0 - a) / RATE,
                            t1=(i1 - a) / RATE,
                            t_cpa=(peak - a) / RATE,
                            range_m=-1.0,
                            extra={
                                "sensors": ["magnetometer"],
                                "detectable": True,
                                "source": f"{REPO}@{commit[:12]}:{path} (one pass per capture; "
                                "span derived from the signal)",
                                "dataset": DATASET_ID,
                                "vehicle": note,
                                "range_unknown": True,
                                "span_rule": "|dB| of 9-sample running median > median + "
                                "max(4*MAD-sigma, 6 counts), clusters joined within 1 s, "
                                "+-0.25 s",
                                "peak_db_counts": peak_db,
                                "threshold_counts": thr,
                            },
                        )
                    )
                glitch = int(
                    np.count_nonzero(np.abs(seg - np.median(xyz, axis=0)).max(axis=1) > 1000)
                )
                ch = Channel(
                    name="mag1",
                    kind="magnetometer",
                    rate=RATE,
                    data=seg.astype(np.float64),
                    scale=1.0,
                    components=("X", "Y", "Z"),
                    info={**info, "source_rows": [int(a), int(b)], "glitch_samples": glitch},
                )
                meta = {
                    "dataset": DATASET_ID,
                    "source_repo": REPO,
                    "commit": commit,
                    "session": session,
                    "split": split,
                    "noise_only": quiet,
                    "vehicle": None if quiet else note,
                    "sensor_index": sensor,
                }
                fname = f"{stem}_s{sensor}" + (f"_quiet{a // int(RATE)}s" if quiet else "") + ".npz"
                write_clip(out, fname, Recording({"mag1": ch}, events, 0.0, meta))
                manifest.append(
                    {
                        "file": fname,
                        "kind": "magnetometer",
                        "rate": RATE,
                        "duration_s": round(len(seg) / RATE, 3),
                        "n_events": len(events),
                        "noise_only": quiet,
                        "session": session,
                        "site": f"author's test road (single site); sensor {sensor}",
                        "split": split,
                    }
                )
    write_dataset_manifest(
        out, DATASET_ID, REPO, COMMIT, SPLIT_RULE, manifest, n_distinct_passes=len(SOURCES)
    )


DATASET = Dataset(
    name=NAME,
    kind="magnetometer",
    repository=REPO,
    commit=COMMIT,
    prepare=prepare,
    history=(DODGE_COMMIT, FORD_COMMIT),
)
