"""The truth of the xtech-goodvibes recordings: GPS passes of a node and seismic spans.

- A *pass* is a stretch of the test vehicle's GPS fixes within NEAR_M of the node whose
  minimum distance lies CLEAR_MIN_M below both ends: ``t_cpa`` and ``range_m`` come from
  the GPS track and the node's emplacement coordinates.
- ``t0``/``t1`` come from the seismic data: the stretch around ``t_cpa`` where the 1-s RMS of
  the 10-200 Hz band stays >= DET_K x the file's median (gaps <= BRIDGE_S bridged, at most
  MAX_HALF_S from ``t_cpa``).
- Energetic stretches no pass explains (>= DONTCARE_K x median for >= DONTCARE_MIN_S) become
  "don't care" events (``xtech_goodvibes``).

The band-pass is only used to derive the truth; the recordings keep the samples as stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import InputError
from gateway.bench.real.common import Source

NEAR_M = 100.0  # a pass is a GPS stretch within this distance of the node
CLEAR_MIN_M = 5.0  # the minimum must lie this far below both ends of the stretch
BAND_HZ = (10.0, 200.0)  # band of the envelope used for t0/t1 (most vehicle energy here)
ENV_S = 1.0  # RMS window of the envelope
HOP_S = 0.1
DET_K = 3.0  # t0/t1: envelope >= DET_K x file median
BRIDGE_S = 1.0  # gaps this short inside a span are bridged
MAX_HALF_S = 40.0  # t0/t1 within t_cpa +- this
PEAK_SEARCH_S = 5.0  # the envelope peak of a pass is searched within t_cpa +- this
QUIET_GPS_M = 150.0  # a background file: the GPS vehicle never closer than this

Floats = npt.NDArray[np.float64]
Row = dict[str, str]


@dataclass
class Track:
    """A GPS log: epoch seconds and positions, in time order."""

    t: Floats
    lat: Floats
    lon: Floats


@dataclass
class GpsPass:
    """One pass of a node, times in seconds from the start of its file."""

    t_cpa: float
    range_m: float
    present: list[float]
    """The GPS stretch within NEAR_M: [first, last]."""
    clear_min: bool
    """The minimum lies CLEAR_MIN_M below both ends (not hidden in a GPS gap)."""
    speed_mps: float | None
    gps_log: str


def read_csv(source: Source, path: str) -> list[Row]:
    text = source.read(path).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def iso_day(mdy: str) -> str:
    m, d, y = (int(v) for v in mdy.split("/"))
    return f"{y:04d}-{m:02d}-{d:02d}"


def utc(day: str, clock: str) -> float:
    clock = clock.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            t = dt.datetime.strptime(f"{day} {clock}", fmt)
        except ValueError:
            continue
        return t.replace(tzinfo=dt.UTC).timestamp()
    raise InputError(f"unreadable time {clock!r} in the run log or a GPS track")


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (numpy arrays or scalars)."""
    r = 6371008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = (
        np.sin((p2 - p1) / 2) ** 2
        + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * r * np.arcsin(np.sqrt(a))


def load_track(source: Source, name: str, day: str) -> Track:
    t, lat, lon = [], [], []
    for row in read_csv(source, f"data/position/{name}"):
        if not row.get("latitude") or not row.get("time"):
            continue
        t.append(utc(row.get("date") or day, row["time"]))
        lat.append(float(row["latitude"]))
        lon.append(float(row["longitude"]))
    order = np.argsort(t)
    return Track(np.asarray(t)[order], np.asarray(lat)[order], np.asarray(lon)[order])


def envelope(counts: Floats, rate: float) -> tuple[Floats, Floats]:
    """Times and 1-s RMS of the band-passed samples every HOP_S seconds (for truth only)."""
    try:
        from scipy.signal import butter, sosfiltfilt
    except ImportError:
        raise InputError("xtech-goodvibes needs scipy: pip install -e '.[dev]'") from None
    sos = butter(4, BAND_HZ, btype="bandpass", fs=rate, output="sos")
    y = sosfiltfilt(sos, counts - counts.mean())
    win = max(1, round(ENV_S * rate))
    hop = max(1, round(HOP_S * rate))
    c = np.concatenate(([0.0], np.cumsum(y * y)))
    centers = np.arange(0, len(y), hop)
    lo = np.clip(centers - win // 2, 0, len(y))
    hi = np.clip(centers + win // 2, 0, len(y))
    rms = np.sqrt((c[hi] - c[lo]) / np.maximum(hi - lo, 1))
    return centers / rate, rms


def spans_above(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Index ranges [i, j] of True runs, gaps up to BRIDGE_S bridged."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    gap = round(BRIDGE_S / HOP_S)
    runs, start, prev = [], idx[0], idx[0]
    for i in idx[1:]:
        if i - prev > gap + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    return runs


def pass_span(
    t_cpa: float, te: Floats, env: Floats, bg: float
) -> tuple[float, float, bool, float | None]:
    """t0, t1, detectable, peak SNR (dB) of a pass whose closest approach is t_cpa.

    (The returned times keep numpy's scalar type where the arithmetic gives one: the truth
    rounds them as they are.)
    """
    near = np.flatnonzero(np.abs(te - t_cpa) <= PEAK_SEARCH_S)
    if not len(near):
        return max(0.0, t_cpa - 3), t_cpa + 3, False, None
    k = near[np.argmax(env[near])]
    snr_db = 20 * math.log10(max(env[k], 1e-12) / bg)
    thr = DET_K * bg
    if env[k] < thr:
        return max(0.0, t_cpa - 3), min(te[-1], t_cpa + 3), False, snr_db
    gap = round(BRIDGE_S / HOP_S)
    lo_lim = np.searchsorted(te, t_cpa - MAX_HALF_S)
    hi_lim = np.searchsorted(te, t_cpa + MAX_HALF_S) - 1
    i = k
    while i > lo_lim:
        back = env[max(lo_lim, i - gap - 1) : i]
        if not np.any(back >= thr):
            break
        i = max(lo_lim, i - gap - 1) + int(np.flatnonzero(back >= thr)[0])
    j = k
    while j < hi_lim:
        ahead = env[j + 1 : min(hi_lim, j + gap + 1) + 1]
        if not np.any(ahead >= thr):
            break
        j = j + 1 + int(np.flatnonzero(ahead >= thr)[-1])
    t0, t1 = float(te[i] - ENV_S / 2), float(te[j] + ENV_S / 2)
    return max(0.0, min(t0, t_cpa)), min(float(te[-1]), max(t1, t_cpa)), True, snr_db


def find_passes(
    track: Track, log: str, lat: float, lon: float, t_start: float, dur: float
) -> tuple[list[GpsPass], float | None, Floats]:
    """GPS passes of the node inside the file (times from file start), the closest
    approach inside the file, and the times the vehicle was within QUIET_GPS_M."""
    t = track.t
    m = (t >= t_start - 120) & (t <= t_start + dur + 120)
    if not m.any():
        return [], None, np.zeros(0)
    tt = t[m] - t_start
    dd = haversine_m(track.lat[m], track.lon[m], lat, lon)
    lat_m, lon_m = track.lat[m], track.lon[m]
    inside = (tt >= 0) & (tt <= dur)
    closest_in_file = float(dd[inside].min()) if inside.any() else None
    out = []
    idx = np.flatnonzero(dd < NEAR_M)
    if len(idx):
        # stretches: split at index jumps or time gaps over 2 s
        cuts = np.flatnonzero((np.diff(idx) > 1) | (np.diff(tt[idx]) > 2.0)) + 1
        for seg in np.split(idx, cuts):
            k = seg[np.argmin(dd[seg])]
            ends_ok = dd[k] < dd[seg[0]] - CLEAR_MIN_M and dd[k] < dd[seg[-1]] - CLEAR_MIN_M
            # speed around the closest approach from positions (+-1 s)
            w = seg[np.abs(tt[seg] - tt[k]) <= 1.0]
            speed = None
            if len(w) >= 2:
                step = haversine_m(lat_m[w[:-1]], lon_m[w[:-1]], lat_m[w[1:]], lon_m[w[1:]])
                speed = float(step.sum() / max(tt[w[-1]] - tt[w[0]], 1e-6))
            out.append(
                GpsPass(
                    t_cpa=float(tt[k]),
                    range_m=float(dd[k]),
                    present=[float(tt[seg[0]]), float(tt[seg[-1]])],
                    clear_min=bool(ends_ok),
                    speed_mps=speed,
                    gps_log=log,
                )
            )
    return out, closest_in_file, tt[dd < QUIET_GPS_M]


def longest_free(busy: list[tuple[float, float]], dur: float) -> tuple[float, float]:
    """Longest interval of [0, dur] that meets none of the busy intervals."""
    edges = sorted((max(0.0, a), min(dur, b)) for a, b in busy if b > 0 and a < dur)
    best, cur = (0.0, 0.0), 0.0
    for a, b in edges:
        if a - cur > best[1] - best[0]:
            best = (cur, a)
        cur = max(cur, b)
    if dur - cur > best[1] - best[0]:
        best = (cur, dur)
    return best


def match_run(runs: list[Row], location: str, day: str, t_abs: float) -> Row | None:
    """The logged run at ``location`` on ``day`` that covers epoch ``t_abs`` (+-30 s), the
    closest one when several do."""
    best: tuple[float, Row] | None = None
    for r in runs:
        if r["location"] != location or iso_day(r["date"]) != day:
            continue
        start = utc(day, r["start-time-utc"])
        stop = utc(day, r["stop-time-utc"])
        minute_only = len(r["stop-time-utc"].strip()) <= 5
        if minute_only:
            stop += 59.999
        if start - 30 <= t_abs <= stop + 30:
            d = 0.0 if start <= t_abs <= stop else min(abs(t_abs - start), abs(t_abs - stop))
            if best is None or d < best[0]:
                best = (d, r)
    return best[1] if best else None
