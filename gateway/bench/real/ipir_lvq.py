"""ipir-lvq: long analog-PIR recordings labelled "person present" / "nobody".

Source: https://github.com/khanhnq201/Inteligent-PIR-Sensor, the data of "Intelligent
Passive Infrared Sensor based on Learning Vector Quantization for Human Detection" (Doan et
al., Engineering Research Express 6(1), 2024). Files used (folder ``data_25_04_2024/``):

- ``exported_data_2024_04_25 18_56_29.csv``: TIME (epoch ms, PC clock), VALUE (ESP32 12-bit
  ADC counts of the amplified analog PIR output), LABEL (1 = a person present, 0 = nobody);
- ``data_25_04_prehandled.csv``: VALUE, LABEL only. Its first rows are the 18_56_29 export
  sample for sample (checked); the rest is the other export (``... 18_19_28.csv``) without
  its time column.

Recordings (raw counts, scale 1.0):

- ``ipir_s1_1819.npz``: the prehandled rows after the 18_56_29 part; no timestamps, so the
  firmware's nominal 100 Hz is assumed (dev);
- ``ipir_s2_1856_tail.npz``: the 18_56_29 export after its last PC-timestamp gap (> 1 s),
  100.00 Hz by its timestamps (heldout). The earlier part of that export is left out: its
  timestamps arrive in bursts, so its time base cannot be trusted.

Truth: one ``footstep`` event per run of LABEL == 1 (coarse presence spans, not single
crossings); LABEL == 0 runs are nobody-there time (``meta.nobody_there_s``).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import Dataset, Source, Split, write_clip, write_manifest

NAME = "ipir-lvq"
REPO = "khanhnq201/Inteligent-PIR-Sensor"
COMMIT = "55928a0acd82008353be3e291a6951f94b863993"
EXPORT = "data_25_04_2024/exported_data_2024_04_25 18_56_29.csv"
PREHANDLED = "data_25_04_2024/data_25_04_prehandled.csv"
NOMINAL_RATE = 100.0
GAP_MS = 1000.0
SPLIT_RULE = (
    "by recording session (export): s1_1819 (the earlier export) is dev, "
    "s2_1856 (the later export) is heldout"
)

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def load_csv(source: Source, path: str) -> Floats:
    table: Floats = np.loadtxt(io.BytesIO(source.read(path)), delimiter=",", skiprows=1)
    return table


def runs(labels: Ints) -> list[tuple[int, int, int]]:
    """(value, start, end) of the runs of equal labels, end exclusive."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, edges]
    ends = np.r_[edges, labels.size]
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def make_recording(
    values: Floats,
    labels: Ints,
    rate: float,
    start_time: float,
    src: str,
    session: str,
    note: str,
    extra_info: dict[str, Any],
) -> Recording:
    info = {
        "units": "counts",
        "source": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "file": src,
        "dataset": NAME,
        "sensor": "analog PIR of the iPIR board (pyroelectric detector + amplifier, Altium "
        "design in the repo), analog output read by ESP32 ADC1 channel 4",
        "digitizer": "ESP32 adc_oneshot, 12-bit, 11 dB attenuation: 0..4095 counts ~ 0..3.1 V; "
        "raw counts with DC offset (~1860); 0 and 4095 are the rails (clipping)",
        "rate_note": note,
        **extra_info,
    }
    ch = Channel(
        name="pir1",
        kind="pir",
        rate=rate,
        data=values.astype(np.float64),
        scale=1.0,
        components=("I",),
        info=info,
    )
    truth = []
    for value, a, b in runs(labels):
        if value != 1:
            continue
        t0, t1 = a / rate, (b - 1) / rate
        truth.append(
            TruthEvent(
                label="footstep",
                source="person",
                t0=round(t0, 3),
                t1=round(t1, 3),
                t_cpa=round((t0 + t1) / 2, 3),
                range_m=-1.0,
                extra={
                    "sensors": ["pir"],
                    "detectable": True,
                    "source": f"github.com/{REPO}@{COMMIT[:12]}:{src} LABEL column (1 = person "
                    "present)",
                    "dataset": NAME,
                    "direction": None,
                    "presence_span": True,
                    "note": "coarse presence label of the dataset (a person in the room, moving "
                    "or still), not single crossings; range unknown (-1)",
                },
            )
        )
    empty_s = sum(b - a for v, a, b in runs(labels) if v == 0) / rate
    meta = {
        "dataset": NAME,
        "source": f"https://github.com/{REPO}",
        "commit": COMMIT,
        "session": session,
        "nobody_there_s": round(empty_s, 2),
    }
    return Recording({"pir1": ch}, truth, start_time, meta)


def recordings(source: Source) -> list[tuple[str, Recording, str, Split]]:
    """(file name, recording, session, split) of both sessions."""
    exp = load_csv(source, EXPORT)
    pre = load_csv(source, PREHANDLED)
    t_ms, val, lab = exp[:, 0], exp[:, 1], exp[:, 2].astype(int)
    n_exp = len(val)
    if not (np.array_equal(pre[:n_exp, 0], val) and np.array_equal(pre[:n_exp, 1], lab)):
        raise InputError(
            f"{PREHANDLED} does not start with the 18_56_29 export: not the layout of commit "
            f"{COMMIT[:12]}"
        )

    # s1: the 18_19_28 export, only in prehandled.csv (no time column)
    v1, l1 = pre[n_exp:, 0], pre[n_exp:, 1].astype(int)
    rec1 = make_recording(
        v1,
        l1,
        NOMINAL_RATE,
        0.0,
        f"{PREHANDLED} rows {n_exp + 1}..{len(pre)} (after the 18_56_29 part)",
        "s1_1819",
        "nominal 100 Hz: no timestamps in this file (firmware reads the ADC every 10 ms); "
        "hidden logger gaps, if any, cannot be seen",
        {
            "original_export": "exported_data_2024_04_25 18_19_28.csv (absent from the "
            "snapshot, >4 MiB)"
        },
    )

    # s2: tail of the 18_56_29 export after the last PC-timestamp gap > 1 s
    gaps = np.flatnonzero(np.diff(t_ms) > GAP_MS)
    a = int(gaps[-1]) + 1
    span_s = (t_ms[-1] - t_ms[a]) / 1000.0
    n = n_exp - a
    rate = (n - 1) / span_s
    if abs(rate - round(rate)) / rate < 1e-4:
        rate = float(round(rate))
    steps = np.diff(t_ms[a:])
    rec2 = make_recording(
        val[a:],
        lab[a:],
        rate,
        float(t_ms[a]) / 1000.0,
        f"{EXPORT} rows {a + 2}..{n_exp + 1} (1-based file lines)",
        "s2_1856",
        f"from PC timestamps: {n} samples over {span_s:.2f} s = {(n - 1) / span_s:.4f} Hz; "
        f"steps 10 ms except {int((steps == 0).sum())} of 0 ms and {int((steps == 20).sum())} "
        "of 20 ms (jitter pairs), so samples are kept as they are on the uniform grid",
        {"start_time_note": "start_time = PC clock (epoch s) of the first sample"},
    )
    return [
        ("ipir_s1_1819.npz", rec1, "s1_1819", "dev"),
        ("ipir_s2_1856_tail.npz", rec2, "s2_1856", "heldout"),
    ]


def prepare(source: Source, out: Path) -> None:
    manifest = []
    for name, rec, session, split in recordings(source):
        write_clip(out, name, rec)
        manifest.append(
            {
                "file": name,
                "kind": "pir",
                "rate": rec.channels["pir1"].rate,
                "duration_s": round(rec.duration, 2),
                "n_events": len(rec.truth),
                "session": session,
                "split": split,
                "nobody_there_s": rec.meta["nobody_there_s"],
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
