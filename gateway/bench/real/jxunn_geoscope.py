"""jxunn_geoscope: indoor geophone footstep clips of three walkers, and empty-room clips.

Source: https://github.com/jxunn/geophone-classification, JSON clips of a GEOSCOPE node
(amplifier + 12-bit ADC, MQTT packets of 500 samples ``{"uuid", "data", "gain",
"sendTime" (us), "timestamp" (epoch ms)}``) under ``step_data/<who>/``,
``step_data_new/<who>/`` and ``nothing/``; several other folders hold byte-identical copies,
which are written once (the copies are listed in ``Channel.info.duplicates``).

Two acquisition set-ups (see docs/real-data.md for how the rates were established):
A (2026-03-28, gain 85, one packet per 1.01 s) at 500 Hz and B (2026-04-04..06, gain 255,
one packet per ~0.116 s) at 5000 Hz. Every clip is written twice:

- ``<subject>_<stamp>.npz``: the packets back to back, as the source's own scripts read
  them (listed in ``manifest.json``);
- ``gapped/<subject>_<stamp>.npz``: each packet at its ``sendTime`` offset, the pauses
  between packets invalid samples (``gapped/manifest.gapped.json``, named so that tools
  globbing ``*/*/manifest.json`` do not take it for a data set of its own).

Truth, derived from the signal (the source labels whole clips: who walked, or nobody):
window RMS inside packets, background = the clip's 20th-percentile window RMS, active =
RMS >= THRESH x background, windows closer than MERGE_S merged into one pass, a lone window
only if >= 5 x. Split by subject: every clip of tim is held out, plus the later two of the
four empty-room clips.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import (
    Dataset,
    Source,
    n_detectable,
    split_of,
    write_clip,
    write_manifest,
)

NAME = "jxunn_geoscope"
REPO = "jxunn/geophone-classification"
COMMIT = "7e7f62d02c9eb067d35887c4d5801180b737050f"
PACKET = 500  # samples per MQTT packet


class Config(TypedDict):
    rate: float
    skip: int
    """Samples skipped at the start of each packet (the converter-restart transient)."""
    win: int
    """RMS window, samples."""


CONFIGS: dict[str, Config] = {
    "A": {"rate": 500.0, "skip": 10, "win": 120},
    "B": {"rate": 5000.0, "skip": 40, "win": 460},
}
THRESH = 3.0  # window RMS above THRESH x clip background (20th percentile) = footstep activity
MERGE_S = 2.0  # activity windows closer than this belong to one pass
HELDOUT_SUBJECTS = {"tim"}
HELDOUT_NOISE = {"2026-04-05T21-53-40", "2026-04-05T21-53-55"}  # later two of four
SPLIT_RULE = (
    "heldout = every clip of subject 'tim' (both set-ups) + the later two of the "
    "four 'nothing' clips (by time); dev = jenny, josh + the first two 'nothing' clips"
)

Floats = npt.NDArray[np.float64]
PassSpan = tuple[int, int, int, float]


def canonical_rank(path: str) -> tuple[int, str]:
    """Order of the folders holding copies: the first is the clip's name."""
    order = ["step_data/", "step_data_new/", "nothing/", "step_data_newer/", "step_data_newest/"]
    for i, prefix in enumerate(order):
        if path.startswith(prefix):
            return (i, path)
    return (len(order), path)


def subject_of(path: str) -> str:
    parts = path.split("/")
    if parts[0] == "nothing" or parts[-2] == "nothing":
        return "nothing"
    name = parts[-2]
    for who in ("jenny", "josh", "tim"):
        if who in name:
            return who
    raise ValueError(f"no subject in {path}")


def activity(x: Floats, cfg: Config, n_packets: int) -> tuple[npt.NDArray[np.int64], Floats]:
    """Window starts and RMS (windows inside packets, packet-start transient skipped)."""
    starts, rms = [], []
    for k in range(n_packets):
        base = k * PACKET
        pk = x[base : base + PACKET]
        for s in range(cfg["skip"], PACKET - cfg["win"] + 1, cfg["win"]):
            w = pk[s : s + cfg["win"]]
            starts.append(base + s)
            rms.append(float(np.sqrt(np.mean((w - w.mean()) ** 2))))
    return np.array(starts), np.array(rms)


def find_passes(
    starts: npt.NDArray[np.int64], rms: Floats, cfg: Config, rate: float
) -> tuple[list[PassSpan], float, Floats]:
    """Groups of above-threshold windows: (first_sample, end_sample, peak_sample,
    peak_ratio), the background and every window's ratio to it."""
    bg = float(np.percentile(rms, 20))
    ratio = rms / bg
    hot = np.flatnonzero(ratio >= THRESH)
    groups: list[list[int]] = []
    for i in hot:
        if groups and (starts[i] - (starts[groups[-1][-1]] + cfg["win"])) / rate < MERGE_S:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    out = []
    for g in groups:
        if len(g) < 2 and ratio[g[0]] < 5.0:
            continue  # a lone, weak window: not counted as a walk
        pk = max(g, key=lambda i: rms[i])
        out.append(
            (
                int(starts[g[0]]),
                int(starts[g[-1]] + cfg["win"]),
                int(starts[pk] + cfg["win"] // 2),
                float(ratio[pk]),
            )
        )
    return out, bg, ratio


def contiguous_time(s: int, rate: float) -> float:
    """Seconds of sample ``s`` with the packets back to back."""
    return s / rate


def gapped_time(s: int, pos: npt.NDArray[np.int64], rate: float) -> float:
    """Seconds of sample ``s`` (counted back to back) with packet k placed at ``pos[k]``."""
    k = min(s // PACKET, len(pos) - 1)
    return float(pos[k] + (s - k * PACKET)) / rate


@dataclass
class Clip:
    """One clip's activity, as the truth is derived from it."""

    src: str
    subject: str
    noise_only: bool
    cfg: Config
    starts: npt.NDArray[np.int64]
    rms: Floats
    ratio: Floats
    passes: list[PassSpan]


def _events(clip: Clip, mapper: Callable[[int], float], duration: float) -> list[TruthEvent]:
    """The truth of one clip, with sample indices mapped to seconds by ``mapper``."""
    evs: list[TruthEvent] = []
    if clip.noise_only:
        return evs
    extra_base = {
        "sensors": ["seismic"],
        "source": clip.src,
        "dataset": NAME,
        "subject": clip.subject,
        "truth_method": "clip labelled as a whole (a person walking); span = windows whose "
        f"RMS >= {THRESH} x the clip's 20th-percentile window RMS, merged within {MERGE_S} s",
    }
    if not clip.passes:
        pk = int(clip.starts[int(np.argmax(clip.rms))] + clip.cfg["win"] // 2)
        tc = mapper(pk)
        evs.append(
            TruthEvent(
                "footstep",
                "walker",
                max(0.0, tc - 3.0),
                min(duration, tc + 3.0),
                tc,
                -1.0,
                {
                    **extra_base,
                    "detectable": False,
                    "peak_ratio": round(float(clip.ratio.max()), 2),
                    "note": "walk labelled in the source but no window reached the threshold",
                },
            )
        )
        return evs
    for a, b, pk, pr in clip.passes:
        t0, t1, tc = mapper(a), mapper(b), mapper(pk)
        evs.append(
            TruthEvent(
                "footstep",
                "walker",
                round(t0, 4),
                round(t1, 4),
                round(tc, 4),
                -1.0,
                {**extra_base, "detectable": True, "peak_ratio": round(pr, 2)},
            )
        )
    return evs


def _clips(source: Source) -> list[tuple[list[str], bytes]]:
    """Every distinct clip (by SHA-1 of its bytes): its paths, canonical first, and bytes."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    blobs: dict[str, bytes] = {}
    for n in source.files(suffix=".json"):
        raw = source.read(n)
        h = hashlib.sha1(raw).hexdigest()
        by_hash[h].append(n)
        blobs[h] = raw
    ordered = sorted(by_hash.items(), key=lambda kv: min(canonical_rank(p) for p in kv[1]))
    return [(sorted(paths, key=canonical_rank), blobs[h]) for h, paths in ordered]


def prepare(source: Source, out: Path) -> None:
    (out / "gapped").mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, Any]] = []
    manifest_gap: list[dict[str, Any]] = []
    for paths, blob in _clips(source):
        src = paths[0]
        subjects = {subject_of(p) for p in paths}
        if len(subjects) != 1:
            raise ValueError(f"copies of one clip under several subjects: {paths}")
        subject = subjects.pop()
        stamp = Path(src).stem
        packets = json.loads(blob)
        gains = {p["gain"] for p in packets}
        if len(gains) != 1 or not all(len(p["data"]) == PACKET for p in packets):
            raise ValueError(f"{src}: packets of several gains or not {PACKET} samples")
        gain = gains.pop()
        send = np.array([p["sendTime"] for p in packets], dtype=float) * 1e-6
        cycle = float(np.median(np.diff(send)))
        config = "A" if cycle > 0.5 else "B"
        cfg = CONFIGS[config]
        rate = cfg["rate"]
        if (config == "A") != (gain < 100):
            raise ValueError(f"{src}: gain {gain} does not match the packet cycle {cycle:.4f} s")
        x = np.concatenate([np.asarray(p["data"], dtype=np.float64) for p in packets])
        n_pk = len(packets)
        session = stamp[:10] + ("" if config == "B" else "-A")
        noise_only = subject == "nothing"
        if noise_only:
            split = split_of(stamp, HELDOUT_NOISE)
        else:
            split = split_of(subject, HELDOUT_SUBJECTS)
        long_gaps = [
            {"after_packet": int(i), "interval_s": round(float(d), 4)}
            for i, d in enumerate(np.diff(send))
            if d > 1.5 * cycle
        ]
        info = {
            "source": f"github.com/{REPO}@{COMMIT}:{src}",
            "duplicates": paths[1:],
            "units": "counts (raw 12-bit ADC, 0..4095, mid-scale DC offset ~2150-2210)",
            "sensor": "floor-mounted geophone, 'GEOSCOPE-ArduinoSlow_1' node (amplifier + "
            "12-bit ADC), indoor",
            "amplifier_gain": gain,
            "config": config,
            "rate_basis": (
                "500 Hz: GEOSCOPE firmware default; the 120 Hz mains harmonic sits at 0.2400 "
                "cycles/sample"
                if config == "A"
                else "5000 Hz: the rate the source's own later scripts assume (butter(4, "
                "35/2500), fs=5000); independent estimate 4.8-5.0 kHz from the 19.8 Hz floor "
                "line's phase across packets; uncertain by a few %"
            ),
            "packet_samples": PACKET,
            "packet_cycle_s": round(cycle, 5),
            "packets": n_pk,
            "packet_start_artifact": "the first ~10-30 samples of every packet carry a "
            "spike/step (converter restart); packets are not contiguous in time (pause between "
            "packets)",
            "long_packet_gaps": long_gaps,
        }
        meta = {
            "dataset": NAME,
            "source_repo": REPO,
            "commit": COMMIT,
            "subject": subject,
            "session": session,
            "noise_only": noise_only,
            "label_in_source": "nothing" if noise_only else f"{subject} walking past the sensor",
            "layout": "contiguous",
        }

        starts, rms = activity(x, cfg, n_pk)
        if noise_only:
            passes: list[PassSpan] = []
            ratio = rms / np.percentile(rms, 20)
        else:
            passes, _bg, ratio = find_passes(starts, rms, cfg, rate)
        dur = len(x) / rate
        start_time = packets[0]["timestamp"] / 1000.0 - PACKET / rate
        clip = Clip(src, subject, noise_only, cfg, starts, rms, ratio, passes)
        fname = f"{subject}_{stamp}.npz"
        entry = {
            "file": fname,
            "kind": "noise" if noise_only else "walk",
            "rate": rate,
        }
        about = {"subject": subject, "session": session, "config": config, "split": split}

        # --- contiguous layout
        ch = Channel(
            "geo1",
            "seismic",
            rate,
            x,
            1.0,
            components=("Z",),
            info=dict(info, layout="contiguous: packets back to back"),
        )
        truth = _events(clip, partial(contiguous_time, rate=rate), dur)
        write_clip(out, fname, Recording({"geo1": ch}, truth, start_time, dict(meta)))
        manifest.append(
            {
                **entry,
                "duration_s": round(dur, 4),
                "n_events": len(truth),
                "n_detectable": n_detectable(truth),
                **about,
                "source": src,
            }
        )

        # --- gapped layout: packet k starts at round((send_k - send_0) * rate)
        pos = np.rint((send - send[0]) * rate).astype(np.int64)
        for k in range(1, n_pk):  # jitter must not make packets overlap
            pos[k] = max(pos[k], pos[k - 1] + PACKET)
        n_tot = int(pos[-1] + PACKET)
        xg = np.zeros(n_tot)
        valid = np.zeros(n_tot, dtype=bool)
        for k in range(n_pk):
            xg[pos[k] : pos[k] + PACKET] = x[k * PACKET : (k + 1) * PACKET]
            valid[pos[k] : pos[k] + PACKET] = True

        chg = Channel(
            "geo1",
            "seismic",
            rate,
            xg,
            1.0,
            valid=valid,
            components=("Z",),
            info=dict(info, layout="gapped: packets at their sendTime offsets; pauses invalid"),
        )
        truth_g = _events(clip, partial(gapped_time, pos=pos, rate=rate), n_tot / rate)
        recg = Recording({"geo1": chg}, truth_g, start_time, dict(meta, layout="gapped"))
        write_clip(out / "gapped", fname, recg)
        manifest_gap.append(
            {
                **entry,
                "duration_s": round(n_tot / rate, 4),
                "n_events": len(truth_g),
                "n_detectable": n_detectable(truth_g),
                "valid_fraction": round(float(valid.mean()), 4),
                **about,
                "source": src,
            }
        )

    header = {"dataset": NAME, "repo": REPO, "commit": COMMIT, "split_rule": SPLIT_RULE}
    write_manifest(out, {**header, "layout": "contiguous", "files": manifest})
    write_manifest(
        out / "gapped",
        {**header, "layout": "gapped", "files": manifest_gap},
        name="manifest.gapped.json",
    )


DATASET = Dataset(name=NAME, kind="footstep", repository=REPO, commit=COMMIT, prepare=prepare)
