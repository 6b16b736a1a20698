"""How close the synthetic world is to real recordings: a few simple signal properties of
events of each class, synthetic beside real.

For every event with ground truth (detectable, not a don't-care stretch) and every sensor
that saw it, measured the same way on synthetic and real files:

- seismic: shares of the event's excess power (event minus background spectrum) in the
  detector's bands 2-10 / 10-30 / 30-60 / 60-100 Hz, the spectral centroid of that excess
  (2-100 Hz), the duration above background (the contiguous stretch around the event's
  loudest moment where the 0.5-s RMS in 2-100 Hz stays >= 2 x the background's, gaps under
  1 s bridged) and the peak SNR (loudest 0.5-s RMS over the background's, dB);
- PIR: duration above background (0.5-s peak of the 0.2-5 Hz signal >= 4 x the background
  RMS), peak SNR, the signal's centroid (0.1-5 Hz) and the share of its samples at the
  rails (within 1 % of the file's range from its lowest or highest value; raw data only);
- magnetometer: duration above background (0.5-s peak of |dB| around a slow baseline >= 5 x
  the background's per-axis RMS) and peak SNR.

Per recording it also notes the background in quantisation steps (RMS of the quiet parts
over the smallest step between sample values; ``inf`` for float data), the seismic
background's own band shares and centroid, and, for the magnetometer, the prominence of
the strongest spectral line of the background (periodic interference), dB over the median
spectrum.

    .venv/bin/python -m gateway.bench.realism [--duration 1800] [--seeds 1,2]
        [--scenarios roadside,indoor,patrol] [--site none|random] [--json] [REAL_DIR ...]

REAL_DIR is any folder of NPZ recordings with ``.truth.json`` sidecars (searched
recursively), e.g. a local copy of real roadside or indoor data. Nothing is written.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.recordings import read_recording
from drivers.recordings.waveforms import Channel, Recording, TruthEvent

FloatArray = npt.NDArray[np.float64]

BANDS = ((2.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, 100.0))
BLOCK_S = 0.5
WELCH_S = 2.0
SPECTRUM_MAX_S = 20.0
MARGIN_S = 2.0
FACTORS = {"seismic": 2.0, "pir": 4.0, "magnetometer": 5.0}

Props = dict[str, float]


def _bandpass(x: FloatArray, rate: float, lo: float, hi: float) -> FloatArray:
    """Brick-wall band-pass by FFT (mean removed)."""
    x = x - float(np.mean(x)) if x.size else x
    n = x.size
    if n < 4:
        return x.copy()
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    spec[(f < lo) | (f > hi)] = 0.0
    return np.asarray(np.fft.irfft(spec, n))


def _welch(x: FloatArray, rate: float) -> tuple[FloatArray, FloatArray]:
    seg = max(8, round(WELCH_S * rate))
    if x.size < seg:
        x = np.pad(x, (0, seg - x.size))
    step = seg // 2
    starts = range(0, x.size - seg + 1, step)
    win = np.hanning(seg)
    acc = np.zeros(seg // 2 + 1)
    k = 0
    for a in starts:
        s = x[a : a + seg]
        acc += np.abs(np.fft.rfft((s - s.mean()) * win)) ** 2
        k += 1
    freqs = np.asarray(np.fft.rfftfreq(seg, 1.0 / rate), dtype=np.float64)
    return freqs, acc / max(k, 1)


def _edges(n: int, rate: float) -> npt.NDArray[np.int64]:
    """Sample edges of consecutive blocks of exactly ``BLOCK_S`` seconds (block k starts
    at k x BLOCK_S whatever the rate), the last partial block dropped."""
    count = int(n / rate / BLOCK_S)
    return np.asarray(np.round(np.arange(count + 1) * BLOCK_S * rate), dtype=np.int64)


def _blocks(x: FloatArray, rate: float, how: str) -> FloatArray:
    edges = _edges(x.shape[0], rate)
    if edges.size < 2:
        return np.zeros(0)
    starts = edges[:-1]
    if how == "rms":
        sums = np.add.reduceat(x[: edges[-1]] ** 2, starts, axis=0)
        return np.asarray(np.sqrt(sums / np.diff(edges)))
    return np.asarray(np.maximum.reduceat(np.abs(x[: edges[-1]]), starts, axis=0))


def _join(x: FloatArray, edges: npt.NDArray[np.int64], blocks: npt.NDArray[np.int64]) -> FloatArray:
    """The samples of the given blocks (``edges`` from ``_edges``), joined."""
    return np.concatenate([x[edges[i] : edges[i + 1]] for i in np.sort(blocks)])


def _outside(n_blocks: int, truth: list[TruthEvent]) -> npt.NDArray[np.bool_]:
    """Blocks clear of every truth span (with a margin): the background."""
    keep = np.ones(n_blocks, dtype=bool)
    for ev in truth:
        a = max(0, math.floor((ev.t0 - MARGIN_S) / BLOCK_S))
        b = min(n_blocks, math.ceil((ev.t1 + MARGIN_S) / BLOCK_S))
        keep[a:b] = False
    return keep


def _background_level(env: FloatArray, keep: npt.NDArray[np.bool_]) -> float:
    quiet = env[keep] if np.count_nonzero(keep) >= 6 else np.sort(env)[: max(1, env.size // 5)]
    return max(float(np.median(quiet)) if quiet.size else 0.0, 1e-30)


def _span(env: FloatArray, level: float, factor: float, i0: int, i1: int) -> tuple[float, int]:
    """Duration (s) of the run above ``factor x level`` around the loudest block in
    [i0, i1), bridging gaps under 1 s; and the loudest block's index."""
    i0, i1 = max(0, i0), min(env.size, i1)
    if i1 <= i0:
        return 0.0, i0
    peak = i0 + int(np.argmax(env[i0:i1]))
    above = env >= factor * level
    if not above[peak]:
        return 0.0, peak
    bridge = round(1.0 / BLOCK_S)
    a = peak
    gap = 0
    j = peak
    while j > 0 and gap <= bridge:
        j -= 1
        gap = 0 if above[j] else gap + 1
        if above[j]:
            a = j
    b = peak
    gap = 0
    j = peak
    while j < env.size - 1 and gap <= bridge:
        j += 1
        gap = 0 if above[j] else gap + 1
        if above[j]:
            b = j
    return (b - a + 1) * BLOCK_S, peak


def quant_step(x: FloatArray) -> float:
    """The step between the values of quantised data; 0 for float data."""
    vals = np.unique(x[: min(x.size, 200_000)])
    if vals.size < 2:
        return 0.0
    step = float(np.min(np.diff(vals)))
    if step < 1e-6 * max(float(np.std(x)), 1e-30) or not np.allclose(
        vals / step, np.rint(vals / step), atol=1e-6
    ):
        return 0.0
    return step


def quant_steps(x: FloatArray, quiet: FloatArray) -> float:
    """Background RMS in units of the smallest step between sample values (inf: float)."""
    step = quant_step(x)
    return float(np.std(quiet)) / step if step > 0 else math.inf


def seismic_props(
    ch: Channel, truth: list[TruthEvent]
) -> tuple[list[tuple[TruthEvent, Props]], Props]:
    rate = ch.rate
    raw = ch.data[:, 0]
    top = min(100.0, 0.45 * rate)
    x = _bandpass(raw, rate, 2.0, top)
    env = _blocks(x, rate, "rms")
    keep = _outside(env.size, truth)
    level = _background_level(env, keep)
    # Background spectrum: the quiet blocks, joined.
    quiet_idx = np.flatnonzero(keep)
    if quiet_idx.size < 6:
        quiet_idx = np.argsort(env)[: max(6, env.size // 5)]
    quiet = _join(raw, _edges(raw.shape[0], rate), quiet_idx)
    f, p_bg = _welch(quiet, rate)
    bg_props = {"quant_steps": quant_steps(raw, quiet - np.mean(quiet))}
    # The background's own spectrum (2-100 Hz): where a site's noise lies.
    in_band = (f >= 2.0) & (f <= 100.0)
    bg_total = float(p_bg[in_band].sum())
    if bg_total > 0:
        bg_props["centroid_hz"] = float((f[in_band] * p_bg[in_band]).sum() / bg_total)
        for lo, hi in BANDS:
            bg_props[f"share_{lo:g}_{hi:g}"] = float(p_bg[(f >= lo) & (f < hi)].sum()) / bg_total
    out = []
    for ev in truth:
        i0, i1 = math.floor(ev.t0 / BLOCK_S), math.ceil(ev.t1 / BLOCK_S)
        dur, peak = _span(env, level, FACTORS["seismic"], i0, i1)
        snr = 20.0 * math.log10(max(float(env[min(peak, env.size - 1)]) / level, 1e-6))
        # Spectrum of the event: its span, at most SPECTRUM_MAX_S around the loudest block.
        t_peak = (peak + 0.5) * BLOCK_S
        a = max(ev.t0, t_peak - SPECTRUM_MAX_S / 2)
        b = min(ev.t1, a + SPECTRUM_MAX_S)
        seg = raw[round(a * rate) : round(b * rate)]
        _, p_ev = _welch(seg, rate)
        excess = np.maximum(p_ev - p_bg, 0.0)
        shares = [float(excess[(f >= lo) & (f < hi)].sum()) for lo, hi in BANDS]
        total = sum(shares)
        band = (f >= 2.0) & (f <= 100.0)
        e_total = float(excess[band].sum())
        props = {
            "duration_s": dur,
            "peak_snr_db": snr,
            "centroid_hz": float((f[band] * excess[band]).sum() / e_total) if e_total else 0.0,
        }
        for k, s in enumerate(shares):
            props[f"share_{BANDS[k][0]:g}_{BANDS[k][1]:g}"] = s / total if total > 0 else 0.0
        out.append((ev, props))
    return out, bg_props


def pir_props(ch: Channel, truth: list[TruthEvent]) -> tuple[list[tuple[TruthEvent, Props]], Props]:
    rate = ch.rate
    raw = ch.data[:, 0]
    x = _bandpass(raw, rate, 0.2, min(5.0, 0.45 * rate))
    env = _blocks(x, rate, "peak")
    keep = _outside(env.size, truth)
    q = np.flatnonzero(keep)
    quiet_x = _join(x, _edges(x.shape[0], rate), q) if q.size else x
    level = max(float(np.std(quiet_x)), 1e-30)
    lo_rail, hi_rail = float(np.min(raw)), float(np.max(raw))
    tol = 0.01 * (hi_rail - lo_rail)
    bg_props = {"quant_steps": quant_steps(raw, quiet_x)}
    out = []
    for ev in truth:
        i0, i1 = math.floor(ev.t0 / BLOCK_S), math.ceil(ev.t1 / BLOCK_S)
        dur, peak = _span(env, level, FACTORS["pir"], i0, i1)
        seg = x[round(ev.t0 * rate) : round(ev.t1 * rate)]
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2 if seg.size > 8 else np.zeros(1)
        ff = np.fft.rfftfreq(seg.size, 1.0 / rate) if seg.size > 8 else np.zeros(1)
        sel = (ff >= 0.1) & (ff <= 5.0)
        tot = float(spec[sel].sum())
        rseg = raw[round(ev.t0 * rate) : round(ev.t1 * rate)]
        out.append(
            (
                ev,
                {
                    "duration_s": dur,
                    "peak_snr_db": 20.0
                    * math.log10(max(float(env[min(peak, env.size - 1)]) / level, 1e-6)),
                    "centroid_hz": float((ff[sel] * spec[sel]).sum() / tot) if tot else 0.0,
                    "at_rail": float(np.mean((rseg <= lo_rail + tol) | (rseg >= hi_rail - tol)))
                    if rseg.size and bg_props["quant_steps"] != math.inf
                    else 0.0,
                },
            )
        )
    return out, bg_props


def mag_props(ch: Channel, truth: list[TruthEvent]) -> tuple[list[tuple[TruthEvent, Props]], Props]:
    rate = ch.rate
    data = ch.data
    edges = _edges(data.shape[0], rate)
    n_blk = edges.size - 1
    if n_blk < 8:
        return [], {}
    # Baseline: block medians of the quiet blocks, a running median over 20 s of them
    # (slower than any pass), held through the events.
    blk_med = np.stack([np.median(data[a:b], axis=0) for a, b in itertools.pairwise(edges)])
    keep = _outside(n_blk, truth)
    held = blk_med.copy()
    fill = np.median(blk_med[keep], axis=0) if keep.any() else np.median(blk_med, axis=0)
    held[~keep] = fill
    width = max(1, round(20.0 / BLOCK_S))
    pad = np.pad(held, ((width, width), (0, 0)), mode="edge")
    smooth = np.stack(
        [
            np.median(np.lib.stride_tricks.sliding_window_view(pad[:, k], 2 * width + 1), axis=1)[
                :n_blk
            ]
            for k in range(data.shape[1])
        ],
        axis=1,
    )
    dev = data[: edges[-1]] - np.repeat(smooth, np.diff(edges), axis=0)
    # Single-sample glitches (serial errors) are not signal: a 3-sample running median.
    mag = np.sqrt(np.sum(dev**2, axis=1))
    if mag.size >= 3:
        mag = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(mag, 1, "edge"), 3), 1)
    env = _blocks(mag, rate, "peak")
    quiet = _join(dev, edges, np.flatnonzero(keep)) if keep.any() else dev
    if quiet.shape[0] < 8:
        quiet = dev
    centred = quiet - np.median(quiet, axis=0)
    # Robust to glitches; coarse steps leave at least the rounding error.
    sigma = 1.4826 * np.median(np.abs(centred), axis=0)
    steps = np.asarray([quant_step(data[:, k]) for k in range(data.shape[1])])
    sigma = np.maximum(sigma, steps / math.sqrt(12.0))
    level = max(float(np.sqrt(np.mean(sigma**2))), 1e-30)
    # Periodic interference: the strongest line of the quiet spectrum over its median.
    line_db = 0.0
    if quiet.shape[0] > 4 * round(WELCH_S * rate):
        f, p = _welch(centred[:, 0], rate)
        sel = f > 0.3
        top, mid = float(np.max(p[sel])), float(np.median(p[sel]))
        if top > 0 and mid > 0:
            line_db = 10.0 * math.log10(top / mid)
    bg_props = {"quant_steps": quant_steps(data[:, 0], centred[:, 0]), "line_db": line_db}
    out = []
    for ev in truth:
        i0, i1 = math.floor(ev.t0 / BLOCK_S), math.ceil(ev.t1 / BLOCK_S)
        dur, peak = _span(env, level, FACTORS["magnetometer"], i0, i1)
        out.append(
            (
                ev,
                {
                    "duration_s": dur,
                    "peak_snr_db": 20.0
                    * math.log10(max(float(env[min(peak, env.size - 1)]) / level, 1e-6)),
                },
            )
        )
    return out, bg_props


MEASURES = {"seismic": seismic_props, "pir": pir_props, "magnetometer": mag_props}


def _counted(ev: TruthEvent, kind: str) -> bool:
    if ev.extra.get("dont_care") or ev.extra.get("detectable") is False:
        return False
    sensors = ev.extra.get("sensors")
    return sensors is None or kind in sensors


def measure(rec: Recording, group: str, into: dict[tuple[str, str, str], list[Props]]) -> None:
    """Add the recording's per-event and background properties into ``into`` under
    (group, sensor, class) keys (class ``background`` for the per-recording values)."""
    for ch in rec.channels.values():
        fn = MEASURES.get(ch.kind)
        if fn is None or len(ch) < 4 * ch.rate:
            continue
        try:
            events, bg = fn(ch, rec.truth)
        except (ValueError, IndexError) as exc:
            print(f"skipped {group} {ch.name}: {exc}", file=sys.stderr)
            continue
        if bg:
            into[(group, ch.kind, "background")].append(bg)
        for ev, props in events:
            if _counted(ev, ch.kind):
                into[(group, ch.kind, ev.label)].append(props)


def real_files(folders: Iterable[str]) -> list[tuple[Path, str]]:
    """NPZ recordings with a truth sidecar under each folder, each with its group name:
    the folder it lies in, relative to the one given above it."""
    out: list[tuple[Path, str]] = []
    for folder in folders:
        root = Path(folder)
        files = [root] if root.is_file() else sorted(root.rglob("*.npz"))
        for p in files:
            if p.with_name(p.name + ".truth.json").exists():
                rel = p.parent.relative_to(root) if root.is_dir() else Path()
                name = (
                    str(rel) if str(rel) != "." else (root.name if root.is_dir() else p.parent.name)
                )
                out.append((p, name))
    return out


def summarise(values: list[Props]) -> dict[str, Any]:
    keys = sorted({k for v in values for k in v})
    out: dict[str, Any] = {"n": len(values)}
    for k in keys:
        arr = np.asarray([v[k] for v in values if k in v and math.isfinite(v[k])])
        if arr.size == 0:
            out[k] = "float" if k == "quant_steps" else None
            continue
        out[k] = [round(float(q), 3) for q in np.percentile(arr, (10, 50, 90))]
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return f"{v[1]:.3g} [{v[0]:.3g}..{v[2]:.3g}]"
    return "-" if v is None else str(v)


def table(summary: dict[str, dict[str, Any]]) -> str:
    """One block per sensor and class: a row per source, a column per property."""
    blocks: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for key, s in summary.items():
        group, sensor, cls = key.split("/")
        blocks[(sensor, cls)].append((group, s))
    lines = []
    for (sensor, cls), rows in sorted(blocks.items()):
        props = sorted({p for _, s in rows for p in s if p != "n"})
        lines.append(f"## {sensor} / {cls}   (median [10th..90th percentile])")
        lines.append("| source | n | " + " | ".join(props) + " |")
        lines.append("|---|---|" + "---|" * len(props))
        for group, s in sorted(rows):
            cells = [_fmt(s.get(p)) for p in props]
            lines.append(f"| {group} | {s['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", nargs="*", help="folders (or files) of real NPZ recordings")
    parser.add_argument(
        "--scenarios",
        default="roadside,indoor,patrol",
        help="synthetic scenarios, comma-separated ('' for none)",
    )
    parser.add_argument("--seeds", default="1,2", help="seeds, comma-separated")
    parser.add_argument("--duration", type=float, default=1800.0)
    parser.add_argument("--site", choices=("none", "random"), default="random")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    from hil.scenarios import generate

    found: dict[tuple[str, str, str], list[Props]] = defaultdict(list)
    for name in [n for n in args.scenarios.split(",") if n]:
        for seed in [int(v) for v in args.seeds.split(",") if v]:
            site = "random" if args.site == "random" else None
            rec = generate(name, args.duration, seed, site=site)
            measure(rec, f"synthetic:{name}", found)
    for path, group in real_files(args.real):
        measure(read_recording(path), f"real:{group}", found)
    summary = {"/".join(k): summarise(v) for k, v in sorted(found.items())}
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(table(summary))


if __name__ == "__main__":
    main()
