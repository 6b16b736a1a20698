"""geosense_geophones: 10-s clips of people walking past four geophones outdoors, 1 kHz.

Source: https://github.com/Lidorpahima/GeoSense-AI-Human-Motion-Detection-with-Geophones
(a student project classifying geophone signals as quiet, vehicle or human). Its folder
``DATATEST - Copy/man/`` holds 354 walks: ``P{person}_{footwear}_{take}.csv``, nine people,
barefoot or in one of eight pairs of shoes, up to five takes each. A file is 10 000 rows of
four comma-separated float columns, no header: four geophones read together at 1 kHz (the
repository's README). Each walk passes the four in turn, with about a second of quiet before
the first step and two after the last: **triggered clips**. ``DATATEST - Copy/other/``
holds two recordings with nothing going on (``static_noise.csv``, ``static2.csv``: one
column each, steady tones on a quiet floor). The files were deleted from the repository
later; the data set is defined on the last commit that has them.

A unit has one geophone, so each column is written as a clip of its own (channel ``geo1``,
kind ``seismic``, scale 1.0, the values as stored): ``P1_Shoe1_01_g2.npz`` is the second
geophone of that walk. The source labels whole files only, so each walk clip's one
``footstep`` event spans what the signal shows (``common.burst_span``); a clip whose loudest
step stands less than ``DETECTABLE_K`` x over its background gets a not-detectable event.

Split by person: P1-P3 dev, P4-P9 held out; one of the two quiet recordings each.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real import common
from gateway.bench.real.common import Dataset, Source, Split, write_clip, write_dataset_manifest

NAME = "geosense_geophones"
REPO = "Lidorpahima/GeoSense-AI-Human-Motion-Detection-with-Geophones"
COMMIT = "69e97916fb11df24e339d0873299ca4745c89ea9"
WALKS = "DATATEST - Copy/man"
QUIET: dict[str, Split] = {
    "DATATEST - Copy/other/static_noise.csv": "dev",
    "DATATEST - Copy/other/static2.csv": "heldout",
}
RATE = 1000.0
GEOPHONES = 4
DEV_PEOPLE = {"P1", "P2", "P3"}
SPLIT_RULE = (
    "by person: P1-P3 -> dev, P4-P9 -> heldout; static_noise.csv -> dev, static2.csv -> heldout"
)
BAND_HZ = (8.0, 80.0)
STEP_K = 3.0
"""A 0.1-s window is in the walk when its RMS is at least this many times the clip's
background (its 20th-percentile window)."""
JOIN_S = 1.5
"""Steps come every 0.5-0.7 s; a weak one between two loud ones is still the walk."""
DETECTABLE_K = 5.0
WALK_NAME = re.compile(r"^(P\d+)_([A-Za-z]+\d*)_(\d+)$")

FloatArray = npt.NDArray[np.float64]


def read_columns(blob: bytes, path: str, width: int) -> FloatArray:
    """The rows of a header-less CSV of ``width`` float columns, as ``(n, width)``."""
    try:
        data = np.loadtxt(blob.decode("ascii").splitlines(), delimiter=",", ndmin=2)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not {width} columns of numbers ({exc})") from None
    if data.shape[1] != width or data.shape[0] < RATE:
        raise InputError(
            f"{path}: {data.shape[0]} rows of {data.shape[1]} columns; expected at least "
            f"{RATE:g} rows of {width}"
        )
    if not np.isfinite(data).all():
        raise InputError(f"{path}: holds values that are not finite")
    return data


def split_for(person: str) -> Split:
    return "dev" if person in DEV_PEOPLE else "heldout"


def _channel(data: FloatArray, path: str, column: int | None) -> Channel:
    which = "its one column" if column is None else f"column {column + 1} of {GEOPHONES}"
    return Channel(
        name="geo1",
        kind="seismic",
        rate=RATE,
        data=data[:, None],
        scale=1.0,
        info={
            "source_repo": REPO,
            "commit": COMMIT,
            "source_path": path,
            "source_column": which,
            "sensor": "geophone outdoors (model and coupling not documented)",
            "units": "as stored (float; instrument units not documented)",
            "rate_note": "1 kHz as the source's README gives it (no time column)",
        },
    )


def _walk_event(x: FloatArray, path: str, person: str) -> TruthEvent:
    t0, t1, t_peak, ratio = common.burst_span(x, RATE, band_hz=BAND_HZ, k=STEP_K, join_s=JOIN_S)
    return TruthEvent(
        label="footstep",
        source="walker",
        t0=t0,
        t1=t1,
        t_cpa=t_peak,
        range_m=-1.0,
        extra={
            "sensors": ["seismic"],
            "detectable": ratio >= DETECTABLE_K,
            "source": f"{REPO}@{COMMIT[:12]}:{path}",
            "dataset": NAME,
            "subject": person,
            "range_unknown": True,
            "truth_method": "file labelled as a whole (a person walking past); span = 0.1-s "
            f"RMS of {BAND_HZ[0]:g}-{BAND_HZ[1]:g} Hz >= {STEP_K:g} x the clip's "
            f"20th-percentile window, joined within {JOIN_S:g} s, the run holding the peak",
            "peak_ratio": round(ratio, 2),
        },
    )


def prepare(source: Source, out: Path) -> None:
    walks = [p for p in source.files(WALKS, ".csv") if WALK_NAME.match(Path(p).stem)]
    if not walks:
        raise InputError(
            f"{source.root / WALKS}: no walk files; is this a checkout of {REPO} at {COMMIT[:12]}?"
        )
    manifest: list[dict[str, Any]] = []
    base_meta = {"dataset": NAME, "source_repo": REPO, "commit": COMMIT, "triggered": True}
    for path in walks:
        stem = Path(path).stem
        match = WALK_NAME.match(stem)
        assert match is not None
        person, footwear, _take = match.groups()
        split = split_for(person)
        data = read_columns(source.read(path), path, GEOPHONES)
        for column in range(GEOPHONES):
            x = np.ascontiguousarray(data[:, column])
            event = _walk_event(x, path, person)
            fname = f"{stem}_g{column + 1}.npz"
            meta = {
                **base_meta,
                "subject": person,
                "footwear": footwear,
                "geophone": column + 1,
                "split": split,
                "noise_only": False,
                "label_in_source": f"{person} walking past ({footwear})",
            }
            channel = _channel(x, path, column)
            write_clip(out, fname, Recording({"geo1": channel}, [event], 0.0, meta))
            manifest.append(
                {
                    "file": fname,
                    "kind": "walk",
                    "rate": RATE,
                    "duration_s": round(x.size / RATE, 3),
                    "n_events": 1,
                    "n_detectable": int(bool(event.extra["detectable"])),
                    "subject": person,
                    "footwear": footwear,
                    "geophone": column + 1,
                    "split": split,
                    "source": path,
                }
            )
    for path, quiet_split in QUIET.items():
        data = read_columns(source.read(path), path, 1)
        fname = f"quiet_{Path(path).stem}.npz"
        meta = {**base_meta, "split": quiet_split, "noise_only": True, "label_in_source": "static"}
        channel = _channel(np.ascontiguousarray(data[:, 0]), path, None)
        write_clip(out, fname, Recording({"geo1": channel}, [], 0.0, meta))
        manifest.append(
            {
                "file": fname,
                "kind": "nothing",
                "rate": RATE,
                "duration_s": round(data.shape[0] / RATE, 3),
                "n_events": 0,
                "n_detectable": 0,
                "split": quiet_split,
                "source": path,
            }
        )
    write_dataset_manifest(
        out,
        NAME,
        REPO,
        COMMIT,
        SPLIT_RULE,
        manifest,
        left_out="car/, car.csv (vehicle passes of unstated rate and set-up: looked at, not "
        "scored); other/UPS_freight_impact.csv (an impact: not walking, not quiet)",
    )


DATASET = Dataset(name=NAME, kind="footstep", repository=REPO, commit=COMMIT, prepare=prepare)
