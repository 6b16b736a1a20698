"""xtech-goodvibes: roadside seismic sensor nodes and GPS-tracked test vehicles.

Source: https://github.com/yakaboskic/goodvibes (MIT licence), a participant's copy of the
US Army xTech "Good Vibrations" developer data set. Its commit 8aa1823 (tip of branch
``master``) still holds the raw node files that later commits deleted: 5-minute WAV files
per node and channel (``data/signatures/NodeNNN-Ch2-*.wav`` is the seismic channel), an XML
sidecar per WAV (node clock time of the first sample, measured sample rate), the vehicle run
log, the node emplacement log and the GPS tracks of the test vehicles.

For every seismic WAV of a node with a known emplacement:

- each GPS pass is a ``vehicle`` event (``xtech_truth``), named from the run log when a
  logged run covers it (else from a GPS log only one vehicle used, else unidentified);
- energetic stretches no pass explains (other traffic, people, test-set runs left out of the
  developer release) are ``unknown`` events with ``detectable: false`` and
  ``dont_care: true``: the scorer neither rewards nor penalises detections there;
- a file with a labelled pass is cut to its passes +- MARGIN_S; from a file without one the
  longest quiet stretch (no energetic stretch, GPS vehicle never within QUIET_GPS_M, both
  QUIET_PAD_S away; QUIET_MIN_S..QUIET_MAX_S long) is written as noise-only background.

Samples are written exactly as stored (int16 WAV counts as float64). Split by site: cochise
and eglin are held out, bprf is dev.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import InputError
from drivers.recordings import Channel, Recording, TruthEvent, read_recording
from gateway.bench.real.common import Dataset, Source, split_of, write_clip, write_manifest
from gateway.bench.real.xtech_truth import (
    BAND_HZ,
    DET_K,
    ENV_S,
    GpsPass,
    Row,
    Track,
    envelope,
    find_passes,
    iso_day,
    load_track,
    longest_free,
    match_run,
    pass_span,
    read_csv,
    spans_above,
)

log = logging.getLogger(__name__)

NAME = "xtech-goodvibes"
REPO = "yakaboskic/goodvibes"
COMMIT = "8aa1823b5448738c4130073806b07acfc8014a1a"

DONTCARE_K = 5.0  # unexplained stretch: envelope >= DONTCARE_K x median for >= DONTCARE_MIN_S
DONTCARE_MIN_S = 1.0
MARGIN_S = 60.0  # context kept before the first and after the last event of a cut
QUIET_PAD_S = 10.0  # background stretches keep this far from anything energetic / near
QUIET_MIN_S = 60.0  # shortest background stretch written
QUIET_MAX_S = 240.0  # longest background stretch written (size budget)

HELDOUT_SITES = {"cochise", "eglin"}  # split rule: whole sites held out

# Vehicle classes by target id (run log "target-id"); "source" of the truth events.
SOURCE = {
    "1A": "car",  # 2006 Toyota Tacoma SR5 pickup
    "1B": "car",  # 1995 Chevrolet S-10 pickup
    "3A": "car",  # Toyota 4Runner SUV
    "2A": "car",  # Ford F-150 pickup
    "2B": "car",  # Ford Econoline van
    "2H": "car",  # 2005 Ford Excursion SUV
    "2C": "truck",  # Ford F-450 with sides
    "2D": "truck",  # Ford F-450 no sides
    "2G": "truck",  # 2006 Ford F-550
    "2J": "loader",  # 1991 Kubota front-end loader
    "2M": "utv",  # John Deere utility vehicle
}
# GPS logs that only ever rode in one vehicle (per the run log): passes outside logged runs
# can still be named. L12 moved between vehicles at bprf, so those passes stay unidentified.
SINGLE_VEHICLE_LOGS = {"target_1a.csv": "1A", "target_1b.csv": "1B"}
SINGLE_VEHICLE_LOG_DAYS = {("cochise", "2023-04-10"): "3A", ("cochise", "2023-04-11"): "3A"}


class RunLog:
    """The run log, the emplacements and the GPS tracks (loaded once, when first needed)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.runs = read_csv(source, "data/target-run-log.csv")
        self.placements = read_csv(source, "data/emplacement_information.csv")
        self.logs_by_day: dict[tuple[str, str], set[str]] = {}
        for r in self.runs:
            key = (r["location"], iso_day(r["date"]))
            self.logs_by_day.setdefault(key, set()).add(r["gps-log-file"])
        self.tracks: dict[str, Track] = {}

    def track(self, name: str, day: str) -> Track:
        if name not in self.tracks:
            self.tracks[name] = load_track(self.source, name, day)
        return self.tracks[name]

    def vehicle_name(self, tid: str) -> str | None:
        named = [r for r in self.runs if r["target-id"] == tid]
        return named[0]["target-name"].strip() if named else None


def vehicle_event(
    q: GpsPass, runlog: RunLog, location: str, day: str, t_start: float, span: Any, dur: float
) -> TruthEvent:
    """The truth event of one GPS pass (``span`` = pass_span's result)."""
    t0, t1, detectable, snr_db = span
    run = match_run(runlog.runs, location, day, t_start + q.t_cpa)
    tid: str | None
    if run is not None:
        tid, identity = run["target-id"], "run_log"
    else:
        tid = SINGLE_VEHICLE_LOGS.get(q.gps_log) or SINGLE_VEHICLE_LOG_DAYS.get((location, day))
        identity = "gps_logger" if tid else "unidentified"
    extra: dict[str, Any] = {
        "sensors": ["seismic"],
        "detectable": bool(detectable),
        "source": SOURCE.get(tid, "vehicle") if tid else "vehicle",
        "dataset": NAME,
        "range_m": round(q.range_m, 2),
        "vehicle": runlog.vehicle_name(tid) if tid else None,
        "target_id": tid,
        "identity": identity,
        "gps_log": q.gps_log,
        "present": [round(max(0.0, q.present[0]), 2), round(min(dur, q.present[1]), 2)],
        "speed_mps_gps": None if q.speed_mps is None else round(q.speed_mps, 2),
        "peak_snr_db": None if snr_db is None else round(snr_db, 1),
        "truth_method": "t_cpa/range_m: GPS track vs node emplacement; t0/t1: "
        f"{BAND_HZ[0]:g}-{BAND_HZ[1]:g} Hz 1-s RMS >= {DET_K:g} x file median around t_cpa",
    }
    if run is not None:
        extra.update(
            {
                "run": run["run"],
                "speed_kph_planned": run["speed-kph"] or None,
                "throttle": run["speed-throttle"] or None,
                "direction": run["direction"],
                "run_comment": run["comments"] or None,
            }
        )
    return TruthEvent(
        label="vehicle",
        source=extra["source"],
        t0=round(t0, 2),
        t1=round(t1, 2),
        t_cpa=round(q.t_cpa, 2),
        range_m=round(q.range_m, 2),
        extra=extra,
    )


def dont_care_events(
    te: Any, env: Any, bg: float, events: list[TruthEvent], passes: list[GpsPass], dur: float
) -> list[TruthEvent]:
    """Energetic stretches no labelled pass explains, as events nobody scores."""
    labelled = [(e.t0 - 2.0, e.t1 + 2.0) for e in events]
    gps_stretches = [(q.present[0], q.present[1]) for q in passes]
    out = []
    for i, j in spans_above(env >= DONTCARE_K * bg):
        a, b = float(te[i] - ENV_S / 2), float(te[j] + ENV_S / 2)
        if b - a < DONTCARE_MIN_S + ENV_S:
            continue
        if any(a < hi and lo < b for lo, hi in labelled):
            continue
        k = i + int(np.argmax(env[i : j + 1]))
        near_gps = any(a < hi + 10 and lo - 10 < b for lo, hi in gps_stretches)
        out.append(
            TruthEvent(
                label="unknown",
                source="unlabelled",
                t0=round(max(0.0, a), 2),
                t1=round(min(dur, b), 2),
                t_cpa=round(float(te[k]), 2),
                range_m=-1.0,
                extra={
                    "sensors": ["seismic"],
                    "detectable": False,
                    "dont_care": True,
                    "dataset": NAME,
                    "derived": "energy",
                    "peak_snr_db": round(20 * math.log10(env[k] / bg), 1),
                    "note": "energetic stretch not explained by a GPS-tracked pass"
                    + (
                        " (GPS vehicle nearby, closest approach hidden in a GPS gap)"
                        if near_gps
                        else ""
                    )
                    + "; source unknown (other traffic, people, test-set runs not in the "
                    "developer release); not scored; range unknown (-1)",
                },
            )
        )
    return out


def cut_events(
    events: list[TruthEvent], lo: float, hi: float, shift: float, length_s: float
) -> list[TruthEvent]:
    """The events inside [lo, hi], moved to a file that starts at ``shift`` seconds."""
    kept = []
    for e in sorted(events, key=lambda e: e.t0):
        if e.t1 <= lo or e.t0 >= hi:
            continue
        e.t0 = round(max(0.0, e.t0 - shift), 2)
        e.t1 = round(min(length_s, e.t1 - shift), 2)
        e.t_cpa = round(min(max(e.t_cpa - shift, e.t0), e.t1), 2)
        if "present" in e.extra:
            e.extra["present"] = [round(max(0.0, v - shift), 2) for v in e.extra["present"]]
        kept.append(e)
    return kept


def read_wav(source: Source, path: str) -> Any:
    try:
        from scipy.io import wavfile
    except ImportError:
        raise InputError("xtech-goodvibes needs scipy: pip install -e '.[dev]'") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, raw = wavfile.read(io.BytesIO(source.read(path)))
    return np.asarray(raw, dtype=np.float64)


def prepare_file(
    source: Source, runlog: RunLog, path: str, out: Path, skipped: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """Write the recording of one seismic WAV; its manifest entry, or None if skipped."""
    name = path.rsplit("/", 1)[1]
    meta_xml = ET.fromstring(source.read(path + ".xml")).attrib
    node = meta_xml["nodeId"]
    sensor_time = dt.datetime.fromisoformat(meta_xml["sensorTime"]).replace(tzinfo=dt.UTC)
    day = sensor_time.strftime("%Y-%m-%d")
    places = [p for p in runlog.placements if p["node-id"] == node and iso_day(p["date"]) == day]
    if not places:
        skipped.append((name, "no emplacement for this node and day"))
        return None
    place: Row = places[0]
    location = place["location"]
    rate = float(meta_xml["sampleRateActual"])
    counts = read_wav(source, path)
    if counts.ndim != 1 or len(counts) < rate * 10:
        skipped.append((name, f"{len(counts)} samples only"))
        return None
    t_start = sensor_time.timestamp()
    dur = len(counts) / rate
    lat, lon = float(place["lat"]), float(place["lon"])

    passes: list[GpsPass] = []
    gps_near = []
    for gps_log in sorted(runlog.logs_by_day.get((location, day), ())):
        found, _closest, near_t = find_passes(
            runlog.track(gps_log, day), gps_log, lat, lon, t_start, dur
        )
        gps_near.append(near_t)
        passes += found

    te, env = envelope(counts, rate)
    bg = float(np.median(env))
    events: list[TruthEvent] = []
    for q in sorted(passes, key=lambda q: q.t_cpa):
        if not (0.0 <= q.t_cpa <= dur) or not q.clear_min:
            continue  # closest approach outside this file or hidden in a GPS gap
        span = pass_span(q.t_cpa, te, env, bg)
        events.append(vehicle_event(q, runlog, location, day, t_start, span, dur))
    dont_care = dont_care_events(te, env, bg, events, passes, dur)
    n_veh = len(events)
    if n_veh:
        lo = max(0.0, min(e.t0 for e in events) - MARGIN_S)
        hi = min(dur, max(e.t1 for e in events) + MARGIN_S)
    else:
        # background: the longest stretch with no energetic stretch and the GPS vehicle
        # never within QUIET_GPS_M (both widened by QUIET_PAD_S), if long enough
        busy = [(e.t0 - QUIET_PAD_S, e.t1 + QUIET_PAD_S) for e in dont_care]
        for t in np.concatenate(gps_near) if gps_near else []:
            busy.append((t - QUIET_PAD_S, t + QUIET_PAD_S))
        lo, hi = longest_free(busy, dur)
        if hi - lo < QUIET_MIN_S:
            skipped.append(
                (
                    name,
                    f"no labelled pass; {len(dont_care)} unexplained energetic stretch(es); "
                    f"no quiet stretch of {QUIET_MIN_S:g} s",
                )
            )
            return None
        if hi - lo > QUIET_MAX_S:  # keep the middle part
            mid = (lo + hi) / 2
            lo, hi = mid - QUIET_MAX_S / 2, mid + QUIET_MAX_S / 2
        dont_care = []

    # cut: first/last labelled pass +- MARGIN_S, or the quiet stretch
    i0, i1 = math.floor(lo * rate), min(len(counts), math.ceil(hi * rate))
    shift = i0 / rate
    kept = cut_events(events + dont_care, lo, hi, shift, (i1 - i0) / rate)
    data = counts[i0:i1]

    stem = f"{location}_{day}_node{node}_{sensor_time.strftime('%H%M%S')}"
    if i0 > 0 or i1 < len(counts):
        stem += f"_cut{round(shift)}s"
    if n_veh == 0:
        stem += "_bg"
    info = {
        "source_repo": f"https://github.com/{REPO}",
        "source_commit": COMMIT,
        "source_path": path,
        "source_xml": path + ".xml",
        "units": "counts",
        "units_note": "raw signed 16-bit WAV samples of the node's seismic channel (Ch2); "
        "no calibration to ground velocity is published",
        "sensor": f"xTech Good Vibrations sensor node {node}, channel 2 (seismic)",
        "producer": meta_xml.get("producer"),
        "sample_rate_nominal": float(meta_xml["sampleRateNominal"]),
        "sample_rate_actual": rate,
        "wav_header_rate": int(name.rsplit("-", 1)[1].split("Hz")[0]),
        "node_time_first_sample_utc": meta_xml["sensorTime"],
        "cut_start_sample": i0,
        "cut_stop_sample": i1,
        "emplacement": place["placement"],
        "node_lat": lat,
        "node_lon": lon,
        "site": location,
    }
    ch = Channel(name="geo1", kind="seismic", rate=rate, data=data, scale=1.0, bits=16, info=info)
    meta = {
        "dataset": NAME,
        "noise_only": bool(n_veh == 0),
        "site": location,
        "session": f"{location}-{day}",
        "node": int(node),
        "split": split_of(location, HELDOUT_SITES),
        "truth_source": "GPS tracks + node emplacement (t_cpa, range); seismic energy (t0/t1)",
    }
    rec = Recording({"geo1": ch}, kept, t_start + shift, meta)
    fpath = write_clip(out, f"{stem}.npz", rec)
    if not np.array_equal(read_recording(fpath).channel("geo1").data[:, 0], data):
        raise RuntimeError(f"{fpath}: the samples read back differ from the WAV's")
    vehicles = sorted(
        {e.extra.get("vehicle") or "unidentified" for e in kept if e.label == "vehicle"}
    )
    entry = {
        "file": fpath.name,
        "kind": "vehicle" if n_veh else "background",
        "rate": rate,
        "duration_s": round(len(data) / rate, 3),
        "n_events": sum(e.label == "vehicle" for e in kept),
        "n_dont_care": sum(e.label == "unknown" for e in kept),
        "session": meta["session"],
        "site": location,
        "node": int(node),
        "vehicle": vehicles,
        "split": meta["split"],
        "source_path": path,
    }
    log.info(
        "%s: %.1f s, %d vehicle, %d dont-care",
        fpath.name,
        len(data) / rate,
        entry["n_events"],
        entry["n_dont_care"],
    )
    return entry


def prepare(source: Source, out: Path) -> None:
    runlog = RunLog(source)
    wavs = [p for p in source.files("data/signatures") if "-Ch2-" in p and p.endswith(".wav")]
    manifest = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(wavs):
        entry = prepare_file(source, runlog, path, out, skipped)
        if entry is not None:
            manifest.append(entry)
    write_manifest(
        out,
        {
            "dataset": NAME,
            "repository": f"https://github.com/{REPO}",
            "commit": COMMIT,
            "split_rule": "by site: every file of sites "
            + ", ".join(sorted(HELDOUT_SITES))
            + " is heldout, every file of site bprf is dev",
            "files": manifest,
            "skipped": [{"source": n, "reason": r} for n, r in skipped],
        },
    )


DATASET = Dataset(name=NAME, kind="vehicle", repository=REPO, commit=COMMIT, prepare=prepare)
