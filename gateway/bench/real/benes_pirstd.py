"""benes-pirstd: an analog PIR (B+B Sensors PIR STD), walking and empty-room clips.

Source: https://github.com/martinbenes1996/bc, the bachelor thesis "Counting people using a
PIR sensor" (M. Benes, FIT Brno University of Technology, 2019). The labelled sessions
recorded with the final firmware are used:

    data/c4m_{LR,RL}_{1,2,3}   circular walk around the sensor at 4 m, left->right / right->left
    data/c5m_{LR,RL}_{1,2,3}   the same at 5 m
    data/dBF_{LR,RL}_{1,2,3}   diagonal walk, back->front
    data/dFB_{LR,RL}_{1,2,3}   diagonal walk, front->back
    data/e_1 .. data/e_15      empty room (nobody there)

Each session folder holds three clips ``X_1.csv``..``X_3.csv`` and a ``label.json``.

CSV layout: one row per UDP packet of 60 integer samples (10-bit ADC counts of the sensor's
analog output, nominal 100 Hz). Once per 60 samples of the flattened stream a 10-sample
block is repeated right after itself (``x[j:j+10] == x[j-10:j]``, at a phase fixed per clip,
sometimes straddling two rows); the copy stands in for ~10 lost samples. Those slots are
kept in the time base (so label indices stay valid) and refilled by linear interpolation;
the first interpolated sample of each packet is listed in
``Channel.info["packets"]["interpolated_starts"]``. All other samples are raw counts.

``label.json``: per clip, CWT "artefacts" ``{"start", "length", "key"}`` indexing the
flattened samples; ``key[0]`` is the author's answer, from a synchronised video, to "Is the
person present?". A walking clip's event spans the first to the last artefact marked
present. Split by session: every walking session ``*_3`` and the empty sessions
e_11..e_15 are held out.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import Dataset, Source, Split, write_clip, write_manifest

NAME = "benes-pirstd"
REPO = "martinbenes1996/bc"
COMMIT = "1c2c3abe50bd9125b105ffd13eef513839f3f9d8"
RATE = 100.0  # firmware SAMPLE_FREQUENCY and the author's labeller fs
ROW = 60
DUP = 10

WALK_SESSIONS = [
    f"{path}_{d}_{k}"
    for path in ("c4m", "c5m", "dBF", "dFB")
    for d in ("LR", "RL")
    for k in (1, 2, 3)
]
EMPTY_SESSIONS = [f"e_{k}" for k in range(1, 16)]
HELDOUT_WALK_RUN = 3  # sessions X_3 of every condition are held out
HELDOUT_EMPTY = {f"e_{k}" for k in range(11, 16)}
SPLIT_RULE = (
    "by recording session: walking sessions whose name ends in _3 "
    "(c4m_LR_3, c4m_RL_3, c5m_LR_3, ... dFB_RL_3) and empty sessions e_11..e_15 are "
    "heldout; all other sessions are dev. Each session = 3 consecutive clips."
)

PATHS = {
    "c4m": ("circular path around the sensor, radius 4 m", 4.0),
    "c5m": ("circular path around the sensor, radius 5 m", 5.0),
    "dBF": ("diagonal path through the field of view, from back (far) to front (near)", -1.0),
    "dFB": ("diagonal path through the field of view, from front (near) to back (far)", -1.0),
}
DIRS = {"LR": "left-to-right", "RL": "right-to-left"}

Floats = npt.NDArray[np.float64]


def split(session: str) -> Split:
    if session.startswith("e_"):
        return "heldout" if session in HELDOUT_EMPTY else "dev"
    return "heldout" if session.endswith(f"_{HELDOUT_WALK_RUN}") else "dev"


def read_rows(source: Source, path: str) -> list[npt.NDArray[np.int64]]:
    text = source.read(path).decode()
    rows = [np.array([int(v) for v in line.split(",")], dtype=np.int64) for line in text.split()]
    bad = [len(r) for r in rows if len(r) != ROW]
    if bad:
        raise InputError(f"{path}: rows of {bad} samples, expected {ROW}")
    return rows


def _repeats(x: Floats, j: int) -> bool:
    """x[j:j+10] repeats the 10 samples before it (x[j-10:j])."""
    return j >= DUP and j + DUP <= x.size and np.array_equal(x[j : j + DUP], x[j - DUP : j])


def repeat_phase(x: Floats) -> int | None:
    """Position (mod 60) where, in most packets, a non-flat 10-sample block is repeated."""
    votes: collections.Counter[int] = collections.Counter()
    for j in range(DUP, x.size - DUP + 1):
        if np.ptp(x[j - DUP : j]) > 0 and _repeats(x, j):
            votes[j % ROW] += 1
    return votes.most_common(1)[0][0] if votes else None


def clip_signal(source: Source, path: str) -> tuple[Floats, dict[str, Any]]:
    """The clip's samples with the lost slots interpolated, and the packet statistics."""
    rows = read_rows(source, path)
    data = np.concatenate(rows).astype(np.float64)
    phase = repeat_phase(data)
    valid = np.ones(data.size, dtype=bool)
    starts: list[int | None] = []
    other = 0
    for k in range(len(rows)):
        found = None
        if phase is not None and _repeats(data, k * ROW + phase):
            found = k * ROW + phase
        else:
            for j in range(max(DUP, k * ROW), min(data.size - DUP + 1, (k + 1) * ROW)):
                if np.ptp(data[j - DUP : j]) > 0 and _repeats(data, j):
                    found, other = j, other + 1
                    break
        starts.append(found)
        if found is not None:
            valid[found : found + DUP] = False
    # refill the lost slots by linear interpolation on the uniform 100 Hz grid
    idx = np.arange(data.size)
    data[~valid] = np.interp(idx[~valid], idx[valid], data[valid])
    stats = {
        "packets": len(rows),
        "repeat_phase": phase,
        "packets_with_repeat": sum(s is not None for s in starts),
        "packets_repeat_off_phase": other,
        "interpolated_samples": int((~valid).sum()),
        "interpolated_starts": starts,
    }
    return data, stats


def channel(data: Floats, path: str, stats: dict[str, Any]) -> Channel:
    info = {
        "units": "counts",
        "source": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "file": path,
        "dataset": NAME,
        "sensor": "B+B Sensors PIR STD, analog output (pin ANA, amplified and filtered on the "
        "module)",
        "digitizer": "NodeMCU ESP8266 analogRead(), 10-bit, 0..1023 counts = 0..Vcc; raw counts "
        "with DC offset (~520)",
        "rate_note": "nominal 100 Hz (firmware SAMPLE_FREQUENCY; author's labeller fs); no "
        "per-sample timestamps",
        "interpolated_note": "once per 60-sample packet a 10-sample block is repeated right "
        "after itself and the samples it stands in for were lost; for each packet k with "
        "packets.interpolated_starts[k] = s (not null), samples s..s+9 are linearly "
        "interpolated from their neighbours, not measured",
        "packets": stats,
    }
    return Channel(
        name="pir1",
        kind="pir",
        rate=RATE,
        data=data,
        scale=1.0,
        valid=None,
        components=("I",),
        info=info,
    )


def walk_event(name: str, session: str, src: str, arts: list[dict[str, Any]]) -> TruthEvent:
    """The labelled span of a walking clip: first to last artefact marked present."""
    present = [a for a in arts if a["key"][0]]
    if not present:
        raise InputError(f"{name}: walking clip without a present artefact")
    path, dirn = session.split("_")[:2]
    desc, rng = PATHS[path]
    t0 = min(a["start"] for a in present) / RATE
    t1 = max(a["start"] + a["length"] for a in present) / RATE
    gaps = sum(1 for a in arts if not a["key"][0] and t0 * RATE < a["start"] < t1 * RATE)
    close = [a["key"][3] for a in present]
    return TruthEvent(
        label="footstep",
        source="walker",
        t0=round(t0, 3),
        t1=round(t1, 3),
        t_cpa=round((t0 + t1) / 2, 3),
        range_m=rng,
        extra={
            "sensors": ["pir"],
            "detectable": True,
            "source": f"github.com/{REPO}@{COMMIT[:12]}:{src} + label.json (video-checked, "
            "per-artefact)",
            "dataset": NAME,
            "direction": f"{DIRS[dirn]}; {desc}",
            "path": path,
            "present_artefacts": len(present),
            "absent_artefacts_inside_span": gaps,
            "close_answers": {
                "yes": close.count(True),
                "no": close.count(False),
                "unknown": close.count(None),
            },
            "range_note": "range_m = path radius for circular walks; -1 = unknown (diagonal walks)",
            "t_cpa_note": "midpoint of the labelled span (no closest-approach time in the labels)",
        },
    )


def prepare(source: Source, out: Path) -> None:
    manifest: list[dict[str, Any]] = []
    for session in WALK_SESSIONS + EMPTY_SESSIONS:
        labels = json.loads(source.read(f"data/{session}/label.json"))
        empty = session.startswith("e_")
        for run in (1, 2, 3):
            name = f"{session}_{run}"
            src = f"data/{session}/{name}.csv"
            data, stats = clip_signal(source, src)
            duration = data.size / RATE
            arts = labels[name]
            truth: list[TruthEvent] = []
            meta: dict[str, Any] = {
                "dataset": NAME,
                "source": f"https://github.com/{REPO}",
                "commit": COMMIT,
                "session": session,
                "clip": name,
                "labelled_samples": int(sum(a["length"] for a in arts)),
            }
            if empty:
                if any(a["key"][0] for a in arts):
                    raise InputError(f"{name}: empty-room clip with a present artefact")
                meta["noise_only"] = True
            else:
                truth.append(walk_event(name, session, src, arts))
            rec = Recording({"pir1": channel(data, src, stats)}, truth, 0.0, meta)
            path = write_clip(out, f"{name}.npz", rec)
            manifest.append(
                {
                    "file": path.name,
                    "kind": "pir",
                    "rate": RATE,
                    "duration_s": round(duration, 2),
                    "n_events": len(truth),
                    "session": session,
                    "split": split(session),
                    "noise_only": empty,
                    "interpolated_samples": stats["interpolated_samples"],
                }
            )
    write_manifest(
        out,
        {
            "dataset": NAME,
            "repository": f"https://github.com/{REPO}",
            "commit": COMMIT,
            "split_rule": SPLIT_RULE,
            "files": manifest,
        },
    )


DATASET = Dataset(name=NAME, kind="pir", repository=REPO, commit=COMMIT, prepare=prepare)
