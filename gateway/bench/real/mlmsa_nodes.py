"""mlmsa-nodes: 6-s cuts around single vehicle passes, 250 Hz seismic nodes by a road.

Source: https://github.com/zhangzj1209/MLMSA ("Analysis of Vehicle Signals in
Multi-stations Seismic Data Based on Artificial Intelligence", Z. Zhang, USTC, 2022). Its
``K-Shape/data/`` folder holds the vehicle signals the author clustered: 50 SAC files of
node EB000207, vertical channel EHZ, 250 Hz, each a 6-s cut around one vehicle pass
(1500 samples, the mean removed, float32 in the node's units). The cuts are triggered
clips: a pass is a burst of 0.5-2 s somewhere inside, with no quiet lead-in to speak of.

Each cut is written as it is stored (channel ``geo1``, kind ``seismic``, scale 1.0) with one
``vehicle`` event. The source labels whole cuts only, so the event's span is **derived from
the signal** (``burst_span``). The three SAC files under ``xcorr/data/`` (the same time on
three nodes, for the author's cross-correlation) hold more than one source with nothing to
say which is which: left out.

Split by time: the cuts of 2022-03-18 before 20:00 (local time, as the file names give it)
are dev; the later ones of that evening and those of the morning of 2022-03-19 are held out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent, sac_format
from gateway.bench.real import common
from gateway.bench.real.common import (
    Dataset,
    Source,
    Split,
    write_clip,
    write_dataset_manifest,
)

NAME = "mlmsa-nodes"
DATASET_ID = "MLMSA-EB000207"
REPO = "zhangzj1209/MLMSA"
COMMIT = "19cfdc6ae0b2130394e8a57b928d3f3bda46fc0f"
FOLDER = "K-Shape/data"
HELDOUT_FROM = "220318.200000"
"""Cuts named at or after this (yymmdd.hhmmss, local time) are held out."""
SPLIT_RULE = (
    "by time: cuts of 2022-03-18 before 20:00 -> dev; 2022-03-18 from 20:00 and "
    "2022-03-19 -> heldout"
)
ENV_S = 0.1
BAND_HZ = (8.0, 80.0)
BURST_K = 3.0
"""A window is in the burst when its RMS is at least this many times the cut's background
(its 20th-percentile window)."""
JOIN_S = 1.0

FloatArray = npt.NDArray[np.float64]


def read_sac(blob: bytes, path: str) -> tuple[float, FloatArray, str]:
    """``(rate, samples, station)`` of an evenly sampled SAC file (either byte order)."""
    trace = sac_format.decode(blob, path)
    # 1/DELTA as stored (249.99998812 Hz for these 250-Hz cuts): the prepared clips keep it.
    return 1.0 / trace.delta, trace.samples, trace.station


def burst_span(x: FloatArray, rate: float) -> tuple[float, float, float, float]:
    """``(t0, t1, t_peak, peak over background)`` of the pass in a cut (``common.burst_span``
    with this data set's band, threshold and join)."""
    return common.burst_span(x, rate, band_hz=BAND_HZ, k=BURST_K, join_s=JOIN_S, window_s=ENV_S)


def split_for(stem: str) -> Split:
    return "heldout" if stem[:13] >= HELDOUT_FROM else "dev"


def prepare(source: Source, out: Path) -> None:
    paths = [p for p in source.files(FOLDER, ".sac") if re.search(r"/\d{6}\.\d{6}\.", p)]
    if not paths:
        raise InputError(f"{source.root / FOLDER}: no SAC cuts; is this a checkout of {REPO}?")
    manifest: list[dict[str, Any]] = []
    for path in paths:
        rate, data, station = read_sac(source.read(path), path)
        stem = Path(path).stem
        t0, t1, t_peak, ratio = burst_span(data, rate)
        event = TruthEvent(
            label="vehicle",
            source="wheeled",
            t0=t0,
            t1=t1,
            t_cpa=t_peak,
            range_m=-1.0,
            extra={
                "sensors": ["seismic"],
                "detectable": True,
                "source": f"{REPO}@{COMMIT[:12]}:{path} (one vehicle pass per cut; span "
                "derived from the signal)",
                "dataset": DATASET_ID,
                "range_unknown": True,
                "span_rule": f"{ENV_S:g}-s RMS of {BAND_HZ[0]:g}-{BAND_HZ[1]:g} Hz >= "
                f"{BURST_K:g} x the cut's 20th-percentile window, joined within {JOIN_S:g} s, "
                "the run holding the peak",
                "peak_over_background": round(ratio, 1),
            },
        )
        split = split_for(stem)
        channel = Channel(
            name="geo1",
            kind="seismic",
            rate=rate,
            data=data,
            scale=1.0,
            info={
                "source_repo": REPO,
                "commit": COMMIT,
                "source_path": path,
                "station": station,
                "sensor": "seismic node, vertical channel EHZ (instrument not documented)",
                "units": "as stored (float32, mean removed; instrument units not documented)",
            },
        )
        meta = {
            "dataset": DATASET_ID,
            "source_repo": REPO,
            "commit": COMMIT,
            "session": stem[:6],
            "split": split,
            "noise_only": False,
            "triggered": True,
        }
        fname = f"{stem}.npz"
        write_clip(out, fname, Recording({"geo1": channel}, [event], 0.0, meta))
        manifest.append(
            {
                "file": fname,
                "kind": "seismic",
                "rate": rate,
                "duration_s": round(data.size / rate, 3),
                "n_events": 1,
                "noise_only": False,
                "session": stem[:6],
                "site": f"node {station}",
                "split": split,
            }
        )
    write_dataset_manifest(
        out,
        DATASET_ID,
        REPO,
        COMMIT,
        SPLIT_RULE,
        manifest,
        left_out="xcorr/data/*.sac (three nodes at one time, several sources, unlabelled)",
    )


DATASET = Dataset(name=NAME, kind="vehicle", repository=REPO, commit=COMMIT, prepare=prepare)
