"""What the two Capstone-Gait-Keepers data sets share: the recorder's YAML files and the
truth rules (``capstone_piezo`` and ``capstone_bno055`` each name their folders and split).

Source: https://github.com/Capstone-Gait-Keepers/capstone, a student capstone (gait analysis
from floor vibration). Every capture is one YAML file under ``datasets/<folder>/``: ``env``
(rate ``fs``, user, walk type, path geometry, notes), ``events`` (the observer's button
presses at heel strikes, ``category: step``) and ``ts`` (the samples). The YAML is the plain
block style the recorder writes; a small reader for it is here, so no YAML library is
needed (it gives what PyYAML gives on every file of the data set).

Truth (docs/real-data.md):

- a clip with button presses: one ``footstep`` event from the first press - LEAD_S to the
  last + TAIL_S, detectable when some 0.1-s window inside rises above the envelope rule;
- a clip without (triggered guest clips, "chaotic" walks): one event per group of 0.1-s
  windows whose peak |x - median| reaches max(3 x the clip's 20th-percentile window peak,
  0.03), merged within MERGE_S; two clips the source marks as dropped objects are
  ``unknown``;
- the wire-test clips are noise only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.recordings import Channel, Recording, TruthEvent
from gateway.bench.real.common import Source, Split, n_detectable, write_clip, write_manifest

REPO = "Capstone-Gait-Keepers/capstone"
COMMIT = "1e1516a0500310216453e70f93479a0b737525b2"
WIN_S = 0.1  # envelope window
MERGE_S = 2.0  # active windows closer than this are one pass
LEAD_S, TAIL_S = 0.3, 0.5  # margins around button-labelled steps
EXCLUDE = {
    "datasets/piezo_symposium/2024-03-21-12-27-37.yml": "listed in datasets/bad-runs as 'Bug'"
}
NON_HUMAN = {
    "datasets/piezo_symposium/2024-03-21-13-31-42.yml": (
        "dropped_phone",
        "datasets/bad-runs: 'Dropped phone'",
    ),
    "datasets/demos/2024-04-13-15-29-01.yml": ("dropped_keys", "env.notes: 'Key drop'"),
}
CAPTURE = re.compile(
    r"datasets/(piezo_symposium|demos|piezo_custom|piezo|piezo_wire_analysis|bno055)"
    r"/[^/]+\.ya?ml$"
)

Envelope = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]
Pass = tuple[float, float, float, float]


# ---------------------------------------------------------------- minimal block-YAML reader
def _scalar(s: str) -> Any:
    s = s.strip()
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True"):
        return True
    if s in ("false", "False"):
        return False
    if s == "[]":
        return []
    if s == "{}":
        return {}
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1].replace("''", "'") if s[0] == "'" else s[1:-1]
    if " #" in s:
        return _scalar(s.split(" #", 1)[0])
    if re.fullmatch(r"[-+]?\d+", s):
        return int(s)
    try:
        return float(s)
    except ValueError:
        return s


def load_yaml(text: str) -> Any:
    """The mappings, lists and scalars of the block YAML the Capstone recorder writes."""
    rows = [
        (len(r) - len(r.lstrip(" ")), r.strip())
        for r in text.splitlines()
        if r.strip() and not r.lstrip().startswith("#")
    ]
    pos = 0

    def is_item(t: str) -> bool:
        return t.startswith("- ") or t == "-"

    def block(indent: int) -> Any:
        nonlocal pos
        if is_item(rows[pos][1]):
            out: list[Any] = []
            while pos < len(rows) and rows[pos][0] == indent and is_item(rows[pos][1]):
                item = rows[pos][1][2:].strip()
                if re.match(r"^[^'\"][^:]*:( |$)", item):
                    rows[pos] = (indent + 2, item)
                    out.append(mapping(indent + 2))
                else:
                    pos += 1
                    out.append(_scalar(item))
            return out
        return mapping(indent)

    def mapping(indent: int) -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(rows) and rows[pos][0] == indent and not is_item(rows[pos][1]):
            key, _, rest = rows[pos][1].partition(":")
            rest = rest.strip()
            pos += 1
            if rest and not rest.startswith("#"):
                while pos < len(rows) and rows[pos][0] > indent:  # folded continuation line
                    rest += " " + rows[pos][1]
                    pos += 1
                out[key.strip()] = _scalar(rest)
            elif pos < len(rows) and (
                rows[pos][0] > indent or (rows[pos][0] == indent and is_item(rows[pos][1]))
            ):
                out[key.strip()] = block(rows[pos][0])
            else:
                out[key.strip()] = None
        return out

    return block(rows[0][0]) if rows else None


# ---------------------------------------------------------------- signal helpers
def tangent_distance(path: Any) -> float:
    """Closest distance of a straight walk to the sensor, from (start, stop, length) in m."""
    if not path:
        return -1.0
    a, b, c = float(path["start"]), float(path["length"]), float(path["stop"])
    prod = (a + b + c) * (-a + b + c) * (a - b + c) * (a + b - c)
    return round(0.5 * math.sqrt(prod) / b, 3) if prod > 0 and b > 0 else round(min(a, c), 3)


def envelope(x: npt.NDArray[np.float64], fs: float) -> Envelope:
    """Window starts, peak |x - median| per WIN_S window, and the window length."""
    w = max(1, round(WIN_S * fs))
    med = float(np.median(x))
    starts = np.arange(0, len(x) - w + 1, w)
    peaks = np.array([np.max(np.abs(x[s : s + w] - med)) for s in starts])
    return starts, peaks, w


def active_passes(
    x: npt.NDArray[np.float64], fs: float, floor: float
) -> tuple[list[Pass], float, float]:
    """(t0, t1, t_peak, peak) of groups of windows whose peak |x - median| >= threshold,
    with the noise level and the threshold."""
    starts, peaks, w = envelope(x, fs)
    noise = max(float(np.percentile(peaks, 20)), floor)
    thr = max(3.0 * noise, 0.03)
    hot = np.flatnonzero(peaks >= thr)
    groups: list[list[int]] = []
    for i in hot:
        if groups and (starts[i] - starts[groups[-1][-1]] - w) / fs < MERGE_S:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    out = []
    for g in groups:
        k = max(g, key=lambda i: peaks[i])
        seg = x[starts[k] : starts[k] + w]
        t_pk = (starts[k] + int(np.argmax(np.abs(seg - np.median(x))))) / fs
        # numpy scalars kept as they come: the truth rounds them with numpy's rounding
        out.append((starts[g[0]] / fs, min(len(x), starts[g[-1]] + w) / fs, t_pk, float(peaks[k])))
    return out, noise, thr


# ---------------------------------------------------------------- the source folders
@dataclass(frozen=True)
class Folder:
    """What one source folder holds (see docs/real-data.md)."""

    out: str
    prefix: str
    session: str | None
    sensor: str
    firmware: str
    labels: str
    units: str


_PIEZO_FLOOR = "piezo disc taped to a plywood test floor, amplifier into ESP8266 10-bit ADC"
FOLDERS = {
    "piezo_symposium": Folder(
        "piezo",
        "symposium",
        "2024-03-21-symposium",
        _PIEZO_FLOOR,
        "fw/piezo_steps (500 Hz timer; triggered: 0.1 s pre-trigger buffer, trigger |x|>0.03, "
        "stops after 2 s below it)",
        "none (guests walking over the floor at a public demo)",
        "V (ADC volts minus a fixed 2.04 V offset; 0.01 V steps as printed by the firmware)",
    ),
    "demos": Folder(
        "piezo",
        "demos",
        "2024-04-13-demos",
        _PIEZO_FLOOR,
        "fw/piezo_steps (500 Hz, triggered clips as above)",
        "none (guests walking over the floor at a demo)",
        "V (ADC volts minus a fixed 2.04 V offset; 0.01 V steps)",
    ),
    "piezo_custom": Folder(
        "piezo",
        "custom",
        "custom-floor-ron",
        _PIEZO_FLOOR,
        "continuous 500 Hz capture with an observer's button for every heel strike",
        "button presses at heel strikes (observer reaction time included)",
        "V (ADC volts minus a fixed firmware offset; 0.01 V steps)",
    ),
    "piezo": Folder(
        "piezo",
        "piezo200",
        "2024-02-11-studio",
        "piezo disc taped to a cork floor, amplifier into ESP8266 10-bit ADC",
        "fw/dual_test (piezo 200 Hz + BNO055 100 Hz from one 200 Hz timer; observer button)",
        "button presses at heel strikes; 'chaotic' walks unlabelled",
        "V (ADC volts minus 1.65 V; 0.01 V steps)",
    ),
    "piezo_wire_analysis": Folder(
        "piezo",
        "wiretest",
        "wire-test",
        "piezo pickup on a lab table, three cable types (ethernet/long/short)",
        "500 Hz continuous capture",
        "none; cable-noise test, no events recorded",
        "V (ADC volts minus a fixed firmware offset; 0.01 V steps)",
    ),
    "bno055": Folder(
        "bno055",
        "bno055",
        None,
        "Adafruit BNO055 IMU taped to the floor; vertical linear acceleration "
        "(linear-acceleration vector . unit gravity vector)",
        "fw/bno055_steps / fw/dual_test (100 Hz timer; observer button)",
        "button presses at heel strikes; 'chaotic' walks unlabelled",
        "m/s^2 (gravity removed by the IMU fusion; 0.01 m/s^2 steps as printed)",
    ),
}


# ---------------------------------------------------------------- one capture
def _truth(
    name: str,
    x: npt.NDArray[np.float64],
    fs: float,
    env: dict[str, Any],
    labels: list[float],
    noise_only: bool,
    flat: bool,
    rng: float,
    base_extra: dict[str, Any],
) -> list[TruthEvent]:
    dur = len(x) / fs
    truth: list[TruthEvent] = []
    passes, noise, thr = active_passes(x, fs, floor=0.01)
    walk_type = env.get("walk_type")
    quality = env.get("quality")
    if noise_only:
        return truth
    if labels:
        t0 = max(0.0, min(labels) - LEAD_S)
        t1 = min(dur, max(labels) + TAIL_S)
        inside = [p for p in passes if p[1] > t0 and p[0] < t1]
        tc = max(inside, key=lambda p: p[3])[2] if inside else labels[len(labels) // 2]
        tc = min(max(tc, t0), t1)
        extra = {
            **base_extra,
            "detectable": (not flat) and bool(inside),
            "step_times": [round(t, 3) for t in labels],
            "walk_type": walk_type,
            "walk_quality": quality,
            "truth_method": "span of the observer's heel-strike button presses, "
            f"-{LEAD_S} s / +{TAIL_S} s",
            **({"note": "sensor output is all zeros"} if flat else {}),
        }
        truth.append(
            TruthEvent("footstep", "walker", round(t0, 4), round(t1, 4), round(tc, 4), rng, extra)
        )
        return truth
    label, source = ("footstep", "walker")
    note = None
    if name in NON_HUMAN:
        label, source = "unknown", NON_HUMAN[name][0]
        note = NON_HUMAN[name][1]
    for a, b, tp, pk in passes:
        extra = {
            **base_extra,
            "detectable": True,
            "peak": pk,
            "noise": noise,
            "threshold": thr,
            "walk_type": walk_type,
            "walk_quality": quality,
            "truth_method": "clip unlabelled in the source: span of 0.1-s windows whose peak "
            f"|x - median| >= max(3 x 20th-percentile window peak, 0.03), merged within "
            f"{MERGE_S} s",
            **({"note": note} if note else {}),
        }
        truth.append(TruthEvent(label, source, round(a, 4), round(b, 4), round(tp, 4), rng, extra))
    if not passes:
        tc = float(np.argmax(np.abs(x - np.median(x)))) / fs
        truth.append(
            TruthEvent(
                label,
                source,
                max(0.0, tc - 3.0),
                min(dur, tc + 3.0),
                tc,
                rng,
                {**base_extra, "detectable": False, "note": "no window above threshold"},
            )
        )
    return truth


def prepare_set(
    source: Source,
    folder: Path,
    out_set: str,
    split: Callable[[str, str], Split],
    split_rule: str,
) -> None:
    """Write every capture of the source folders whose ``Folder.out`` is ``out_set``;
    ``split(source_folder, capture_stem)`` says where each capture goes."""
    dataset = f"capstone_{out_set}"
    names = [n for n in source.files("datasets") if CAPTURE.match(n)]
    files: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    for n in sorted(names):
        folder_name = n.split("/")[1]
        d = FOLDERS[folder_name]
        if d.out != out_set:
            continue
        if n in EXCLUDE:
            excluded.append({"source": n, "why": EXCLUDE[n]})
            continue
        y = load_yaml(source.read(n).decode())
        env = y.get("env") or {}
        fs = float(env["fs"])
        x = np.asarray(y.get("ts") or [], dtype=np.float64)
        if len(x) < fs * 0.5:
            excluded.append({"source": n, "why": f"only {len(x)} samples"})
            continue
        labels = [
            float(e["timestamp"]) for e in (y.get("events") or []) if e.get("category") == "step"
        ]
        stamp = Path(n).stem
        dur = len(x) / fs
        session = d.session or f"{stamp[:10]}"
        user = str(env.get("user") or "unknown")
        noise_only = folder_name == "piezo_wire_analysis"
        flat = bool(np.ptp(x) == 0)
        rng = tangent_distance(env.get("path")) if user != "guest" else -1.0
        base_extra = {"sensors": ["seismic"], "source": n, "dataset": dataset, "subject": user}
        truth = _truth(n, x, fs, env, labels, noise_only, flat, rng, base_extra)
        info = {
            "source": f"github.com/{REPO}@{COMMIT}:{n}",
            "units": d.units,
            "sensor": d.sensor,
            "firmware": d.firmware,
            "labels_in_source": d.labels,
            "env": env,
        }
        meta = {
            "dataset": dataset,
            "source_repo": REPO,
            "commit": COMMIT,
            "subject": user,
            "session": session,
            "noise_only": noise_only,
            "triggered_clip": folder_name in ("piezo_symposium", "demos"),
            **({"sensor_fault": "all samples are 0"} if flat else {}),
        }
        ch = Channel("geo1", "seismic", fs, x, 1.0, components=("Z",), info=info)
        fname = f"{d.prefix}_{stamp}.npz"
        write_clip(folder, fname, Recording({"geo1": ch}, truth, 0.0, meta))
        if noise_only:
            kind = "noise"
        else:
            kind = "unknown" if truth and truth[0].label == "unknown" else "walk"
        files.append(
            {
                "file": fname,
                "kind": kind,
                "rate": fs,
                "duration_s": round(dur, 4),
                "n_events": len(truth),
                "n_detectable": n_detectable(truth),
                "subject": user,
                "session": session,
                "split": split(folder_name, stamp),
                "source": n,
                "labelled_steps": len(labels),
                "walk_type": env.get("walk_type"),
                "walk_quality": env.get("quality"),
            }
        )
    write_manifest(
        folder,
        {
            "dataset": dataset,
            "repo": REPO,
            "commit": COMMIT,
            "split_rule": split_rule,
            "excluded": excluded,
            "files": files,
        },
    )
