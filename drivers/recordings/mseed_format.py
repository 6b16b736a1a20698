"""MiniSEED (the seismology standard) via ``pymseed``: one trace per sensor component.

Source identifiers are ``FDSN:{net}_{sta}_{loc}_{band}_{source}_{subsource}``:

- band from the sample rate (SEED appendix A): a geophone is short-period (``G`` >= 1000 Hz,
  ``D`` >= 250, ``E`` >= 80, ``S`` >= 10), the PIR and magnetometer use the broadband letters
  (``F`` >= 1000, ``C`` >= 250, ``H`` >= 80, ``B`` >= 10, ``M`` > 1, ``L`` otherwise);
- source ``P`` geophone (``H``/``L``/``N`` read as seismic too), ``F`` magnetometer, ``Y``
  (non-specific instrument) for the PIR;
- subsource: the component (``Z``/``N``/``E``, PIR level ``I`` and motion flag ``M``).

A geophone at 500 Hz is ``DPZ``, the PIR at 50 Hz ``BYI``, the magnetometer ``BFN/BFE/BFZ``.
Samples are raw device counts (Steim-2, or plain int32 if differences exceed Steim-2's
30 bits); miniSEED 3 records carry an ``UGS`` extra header with the channel name, kind,
scale and units, so a file read back gives the same channels in the same physical units.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.kinds import KINDS
from drivers.recordings.common import (
    CONVENTIONAL_ORDER,
    grid_span,
    in_order,
    make_channel,
    on_grid,
    pad_front,
    unique_name,
)
from drivers.recordings.waveforms import Channel, Recording, scale_of, units_of

log = logging.getLogger(__name__)

SHORT_PERIOD_BANDS = ((1000.0, "G"), (250.0, "D"), (80.0, "E"), (10.0, "S"), (1.0001, "M"))
BROADBAND_BANDS = ((1000.0, "F"), (250.0, "C"), (80.0, "H"), (10.0, "B"), (1.0001, "M"))
SOURCE_CODE = {kind.name: kind.seed_codes[0] for kind in KINDS.values()}
"""The SEED instrument code written for each kind (from :mod:`drivers.kinds`)."""
KIND_OF_SOURCE = {code: kind.name for kind in KINDS.values() for code in kind.seed_codes}
EXTRA_KEY = "UGS"
NETWORK = "XX"
STATION = "UGS"
STEIM2_MAX_DIFF = 2**29


def steim2_fits(counts: npt.NDArray[np.integer[Any]]) -> bool:
    """Whether every step between consecutive samples (along axis 0) fits Steim-2's 30-bit
    differences; otherwise the samples are stored as plain 32-bit integers."""
    values = np.asarray(counts, dtype=np.int64)
    if values.shape[0] < 2:
        return True
    return int(np.abs(np.diff(values, axis=0)).max()) < STEIM2_MAX_DIFF


def band_code(kind: str, rate: float) -> str:
    known = KINDS.get(kind)
    table = SHORT_PERIOD_BANDS if known and known.short_period else BROADBAND_BANDS
    for lowest, code in table:
        if rate >= lowest:
            return code
    return "L"


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def channel_sourceids(
    ch: Channel, location: str, station: str = STATION, network: str = NETWORK
) -> list[str]:
    band = band_code(ch.kind, ch.rate)
    source = SOURCE_CODE.get(ch.kind, "Y")
    return [
        f"FDSN:{network}_{station}_{location}_{band}_{source}_{comp[:1] or 'X'}"
        for comp in ch.components
    ]


def extra_header(ch: Channel, offset: float = 0.0) -> str:
    return json.dumps(
        {
            EXTRA_KEY: {
                "name": ch.name,
                "kind": ch.kind,
                "scale": ch.scale,
                "offset": offset,
                "units": ch.units,
                "components": list(ch.components),
            }
        }
    )


def encode_records(
    sourceid: str,
    counts: npt.NDArray[np.int32],
    rate: float,
    start_ns: int,
    extra: str | None,
    *,
    record_length: int = 4096,
    format_version: int = 3,
) -> list[bytes]:
    """Complete miniSEED records for one contiguous run of samples."""
    from pymseed import DataEncoding, MS3TraceList

    counts = np.ascontiguousarray(counts, dtype=np.int32)
    encoding = DataEncoding.STEIM2 if steim2_fits(counts) else DataEncoding.INT32
    traces = MS3TraceList()
    traces.add_data(sourceid, counts, "i", rate, starttime=start_ns)
    return list(
        traces.generate(
            max_record_length=record_length,
            encoding=encoding,
            format_version=format_version,
            extra_headers=extra if format_version == 3 else None,
            flush_data=True,
        )
    )


def write(
    rec: Recording, path: Path, *, format_version: int = 3, record_length: int = 4096
) -> None:
    """Write every channel as integer counts; dropouts become gaps between segments."""
    station = str(rec.meta.get("station", STATION))[:8] or STATION
    records: list[bytes] = []
    per_kind: dict[str, int] = defaultdict(int)
    for ch in rec.channels.values():
        location = f"{per_kind[ch.kind]:02d}"
        per_kind[ch.kind] += 1
        counts = ch.to_counts()
        valid = ch.valid if ch.valid is not None else np.ones(len(ch), dtype=bool)
        padded = np.concatenate(([False], valid, [False]))
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        extra = extra_header(ch)
        for col, sid in enumerate(channel_sourceids(ch, location, station)):
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                start = _ns(rec.start_time + a / ch.rate)
                records += encode_records(
                    sid,
                    counts[a:b, col],
                    ch.rate,
                    start,
                    extra,
                    record_length=record_length,
                    format_version=format_version,
                )
    if not records:
        raise RecordingError(f"{path}: nothing to write (no valid samples)")
    path.write_bytes(b"".join(records))


@dataclass
class _Scan:
    extras: dict[str, dict[str, Any]]
    """Each trace's ``UGS`` extra header, by source id."""
    complete: int | None = None
    """Bytes of whole records, when a streamed file ends in a torn one (else None)."""


def _scan(path: Path) -> _Scan:
    """Walk every record once: catches truncation and garbage, and collects each trace's
    ``UGS`` extra header.

    A file the streaming writer appends to (``"streamed": true`` in its extra header) may end
    in a torn record when the recorder was killed or lost power mid-write: the kernel writes
    a large ``write()`` page by page and a fatal signal can stop it between pages. Such a
    file is read up to its last whole record, with a warning. Any other damage is an error.
    """
    from pymseed import MiniSEEDError, MS3Record

    extras: dict[str, dict[str, Any]] = {}
    count = good = 0
    try:
        for msr in MS3Record.from_file(str(path)):
            count += 1
            good += msr.reclen
            sid = msr.sourceid
            if sid in extras:
                continue
            extras[sid] = {}
            if msr.formatversion == 3 and msr.extralength:
                try:
                    extras[sid] = dict(json.loads(msr.extra).get(EXTRA_KEY) or {})
                except (ValueError, AttributeError):
                    extras[sid] = {}
    except MiniSEEDError as exc:
        torn = count > 0 and "ncomplete" in str(exc)
        if torn and any(extra.get("streamed") for extra in extras.values()):
            log.warning(
                "%s: the recorder stopped mid-write; reading its %d whole records", path, count
            )
            return _Scan(extras, complete=good)
        where = f" after {count} good record(s)" if count else ""
        hint = " (was the recorder stopped mid-write?)" if torn else ""
        raise RecordingError(f"{path}: bad miniSEED{where}: {exc}{hint}") from None
    if not count:
        raise RecordingError(f"{path}: no miniSEED records in the file")
    return _Scan(extras)


def complete_length(path: Path) -> int | None:
    """Bytes of whole records in a streamed file that ends in a torn one, else None."""
    return _scan(path).complete


@dataclass
class _Trace:
    """One sensor assembled from its component traces."""

    name: str
    kind: str
    rate: float
    t_start: float
    data: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_]
    components: tuple[str, ...]
    scale: float
    info: dict[str, Any]


Member = tuple[str, str, Any]  # (component letter, source id, pymseed trace id)


def read(paths: list[Path], *, sensor: str | None, scale: float | None) -> Recording:
    """Read one or more miniSEED files (for example consecutive hourly files) together."""
    from pymseed import MiniSEEDError, MS3TraceList

    extras: dict[str, dict[str, Any]] = {}
    complete: dict[Path, int | None] = {}
    for p in paths:
        scan = _scan(p)
        complete[p] = scan.complete
        for sid, extra in scan.extras.items():
            extras.setdefault(sid, extra)
    traces = MS3TraceList()
    try:
        for p in paths:
            whole = complete[p]
            if whole is None:
                traces.add_file(str(p), unpack_data=True)
            else:
                with p.open("rb") as f:
                    traces.add_buffer(f.read(whole), unpack_data=True)
    except MiniSEEDError as exc:
        raise RecordingError(f"{paths[0]}: cannot decode miniSEED: {exc}") from None
    label = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    groups = _group(traces, label)
    built: list[_Trace] = []
    for key, members in groups.items():
        extra = extras.get(members[0][1], {})
        kind = str(extra.get("kind") or KIND_OF_SOURCE.get(key[4], ""))
        if sensor is not None and kind and kind != sensor:
            continue
        if not kind:
            if sensor is None:
                log.warning(
                    "%s: skipping %s (instrument code %r is not a known sensor)",
                    label,
                    ".".join(key),
                    key[4],
                )
                continue
            kind = sensor
        trace = _assemble(label, kind, members, extra, scale)
        if trace is not None:
            built.append(trace)
    if not built:
        kinds = sorted({KIND_OF_SOURCE.get(k[4], k[4]) for k in groups})
        what = f"no {sensor} channel" if sensor else "no sensor channel"
        raise RecordingError(f"{label}: {what} in the file (has {', '.join(kinds) or 'none'})")
    start = min(t.t_start for t in built)
    order = list(KINDS)
    built.sort(key=lambda t: (order.index(t.kind) if t.kind in KINDS else len(order), t.name))
    channels: dict[str, Channel] = {}
    for t in built:
        data, valid = pad_front(t.data, t.valid, round((t.t_start - start) * t.rate))
        final = unique_name(t.name or None, t.kind, set(channels))
        channels[final] = make_channel(
            paths[0],
            final,
            t.kind,
            t.rate,
            data,
            scale=t.scale,
            components=t.components,
            valid=valid,
            info=t.info,
        )
    return Recording(
        channels=channels,
        truth=[],
        start_time=start,
        meta={"format": "mseed", "files": [str(p) for p in paths]},
    )


def _group(traces: Any, label: str) -> dict[tuple[str, ...], list[Member]]:
    """Components of one sensor: same network, station, location, band and source code."""
    from pymseed import sourceid2nslc

    groups: dict[tuple[str, ...], list[Member]] = defaultdict(list)
    for tid in traces:
        sid = tid.sourceid
        try:
            net, sta, loc, chan = sourceid2nslc(sid)
        except Exception:
            log.warning("%s: skipping trace with unusual source id %s", label, sid)
            continue
        if len(chan) != 3:
            log.warning("%s: skipping trace %s (channel code is not 3 letters)", label, sid)
            continue
        groups[(net, sta, loc, chan[0], chan[1])].append((chan[2], sid, tid))
    return groups


def _assemble(
    label: str, kind: str, members: list[Member], extra: dict[str, Any], scale: float | None
) -> _Trace | None:
    """Segments of every component on one time grid; gaps are zeros marked invalid."""
    # The file's own order when it says; else the conventional Z, N, E (1, 2, 3) order.
    letters = in_order({m[0] for m in members}, extra.get("components") or CONVENTIONAL_ORDER)
    members.sort(key=lambda m: letters.index(m[0]))
    segs = []
    rate = 0.0
    for comp, sid, tid in members:
        for seg in tid:
            if seg.sampletype not in ("i", "f", "d"):
                continue
            if rate and abs(seg.samprate - rate) > 1e-6 * rate:
                raise RecordingError(
                    f"{label}: {sid} changes sample rate ({rate:g} -> {seg.samprate:g} Hz)"
                )
            rate = float(seg.samprate)
            segs.append((comp, seg.starttime / 1e9, np.array(seg.np_datasamples), seg.sampletype))
    if not segs or rate <= 0:
        return None
    comps = tuple(dict.fromkeys(c for c, *_ in segs))
    ch_scale = float(extra.get("scale") or scale or scale_of(kind))
    offset = float(extra.get("offset") or 0.0)
    pieces = [
        (comps.index(comp), t0, (x - offset) * ch_scale if stype == "i" else x.astype(np.float64))
        for comp, t0, x, stype in segs
    ]
    t_start, n = grid_span(pieces, rate)
    data, valid = on_grid(pieces, rate, len(comps), t_start, n)
    info = {
        "seed_ids": [sid for _, sid, _ in members],
        "units": str(extra.get("units") or units_of(kind)),
    }
    return _Trace(
        str(extra.get("name") or ""),
        kind,
        rate,
        t_start,
        data,
        valid,
        comps,
        ch_scale,
        info,
    )
