"""SAC (Seismic Analysis Code) binary files: one evenly sampled component per file.

A file is a 632-byte header (70 float32, 40 int32, then 8-character strings) in either
byte order, followed by NPTS float32 samples; header version 7 (NVHDR) appends a footer of
22 float64 that repeats DELTA, B and other times at full precision. SAC has no magic
bytes: a file is taken for SAC when NVHDR is 6 or 7 and LEVEN is a logical (0 or 1) in one
byte order (:func:`is_sac`); the reader then checks the rest of the header and the file
size and names what is wrong.

Samples are read as physical units, as float traces from other tools are. The kind comes
from the SEED instrument letter of the component name KCMPNM (``EHZ``: ``H``, seismic), as
miniSEED source codes are read. Several files of one station, location and instrument are
one sensor: its components side by side and consecutive files (hourly ones) joined in time,
gaps marked invalid.
"""

from __future__ import annotations

import logging
import math
import struct
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.kinds import KINDS
from drivers.recordings.common import (
    check_kind,
    check_samples,
    default_components,
    default_name,
    grid_span,
    in_order,
    make_channel,
    on_grid,
    pad_front,
    unique_name,
)
from drivers.recordings.waveforms import Channel, Recording, scale_of

log = logging.getLogger(__name__)

HEADER_BYTES = 632
FOOTER_BYTES = 22 * 8
UNDEFINED = -12345
INTS_AT = 70 * 4
"""Byte offset of the 40 integer header words."""
# Header words: float indices, then integer indices.
DELTA, B = 0, 5
NZYEAR, NZMSEC = 0, 5  # NZYEAR..NZMSEC: year, day of year, hour, minute, second, ms
NVHDR, NPTS, IFTYPE, LEVEN = 6, 9, 15, 35
VERSIONS = (6, 7)
SPECTRA = {2: "real/imaginary", 3: "amplitude/phase"}
"""IFTYPE values of spectra, which are not waveforms."""
# String fields: byte ranges in the header.
KSTNM, KHOLE, KCMPNM, KNETWK = (440, 448), (464, 472), (600, 608), (608, 616)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SacTrace:
    """What one SAC file holds, as stored."""

    samples: FloatArray
    version: int
    """NVHDR: 6, or 7 with the float64 footer."""
    delta: float
    """Sample interval (s): the footer's float64 for header version 7, else the header's."""
    precise: bool
    """Whether ``delta`` is the footer's float64 (else a float32)."""
    start_time: float
    """Epoch seconds (UTC) of the first sample, 0.0 when the header does not say."""
    network: str
    station: str
    location: str
    component: str
    """KCMPNM, the channel code (``EHZ``); empty when undefined."""

    @property
    def rate(self) -> float:
        return rate_from_delta(self.delta, np.float64 if self.precise else np.float32)


def _order(head: bytes) -> str | None:
    """The byte order in which the header version NVHDR is 6 or 7, if any."""
    for order in "<>":
        (version,) = struct.unpack_from(f"{order}i", head, INTS_AT + 4 * NVHDR)
        if version in VERSIONS:
            return order
    return None


def is_sac(head: bytes, size: int) -> bool:
    """Whether a file of ``size`` bytes that starts with ``head`` has a SAC header."""
    if size < HEADER_BYTES or len(head) < HEADER_BYTES:
        return False
    order = _order(head)
    if order is None:
        return False
    (leven,) = struct.unpack_from(f"{order}i", head, INTS_AT + 4 * LEVEN)
    return leven in (0, 1)


def _text(blob: bytes, span: tuple[int, int]) -> str:
    """A string field: NUL or space padded; ``-12345`` is SAC's undefined."""
    value = blob[span[0] : span[1]].decode("ascii", errors="replace").strip("\0 ")
    return "" if value.startswith(str(UNDEFINED)) else value


def rate_from_delta(delta: float, precision: type[np.floating[Any]] = np.float32) -> float:
    """1/DELTA, taken as the simplest decimal rate or interval that is stored as ``delta``.

    The header keeps DELTA as a float32, so a 250-Hz file reads 1/0.004 = 249.99998812 Hz;
    the writer meant 250 Hz (or an interval of 0.003 s: 333.33... Hz). Rates that are not
    whole stay as they are.
    """
    stored = precision(delta)
    for digits in range(1, 18):
        rate = float(f"{1.0 / float(stored):.{digits}g}")
        if precision(1.0 / rate) == stored:
            return rate
        interval = float(f"{float(stored):.{digits}g}")
        if interval > 0 and precision(interval) == stored:
            return 1.0 / interval
    return 1.0 / float(stored)


def _start_time(ints: npt.NDArray[np.int32], begin: float, path: Path | str) -> float:
    """Epoch seconds of the first sample: the reference time NZ* plus the begin offset B."""
    year, jday, hour, minute, sec, msec = (int(v) for v in ints[NZYEAR : NZMSEC + 1])
    if UNDEFINED in (year, jday, hour, minute, sec, msec):
        return 0.0
    if not (
        1 <= year <= 9999
        and 1 <= jday <= 366
        and 0 <= hour < 24
        and 0 <= minute < 60
        and 0 <= sec <= 60
        and 0 <= msec < 1000
    ):
        log.warning("%s: SAC reference time is not a valid date; times start at 0", path)
        return 0.0
    reference = datetime(year, 1, 1, tzinfo=UTC) + timedelta(
        days=jday - 1, hours=hour, minutes=minute, seconds=sec, milliseconds=msec
    )
    # SAC's begin time B is required, but some writers leave it undefined: take 0 then.
    offset = 0.0 if begin == UNDEFINED or not math.isfinite(begin) else begin
    return reference.timestamp() + offset


def decode(blob: bytes, path: Path | str) -> SacTrace:
    """The samples and header fields of an evenly sampled SAC file's content.

    Refused: a short or foreign header, LEVEN false, spectra, no samples, fewer bytes than
    the samples need, and a sample interval that is not positive.
    """
    if len(blob) < HEADER_BYTES:
        raise RecordingError(
            f"{path}: {len(blob)} bytes, shorter than a SAC header ({HEADER_BYTES} bytes)"
        )
    order = _order(blob)
    if order is None:
        raise RecordingError(f"{path}: not a SAC file (no header version 6 or 7 in either order)")
    floats = np.frombuffer(blob, dtype=f"{order}f4", count=70)
    ints = np.frombuffer(blob, dtype=f"{order}i4", count=40, offset=INTS_AT)
    if int(ints[LEVEN]) == 0:
        raise RecordingError(
            f"{path}: unevenly sampled SAC (LEVEN false) is not supported; resample the "
            "file to a fixed interval first"
        )
    if int(ints[IFTYPE]) in SPECTRA:
        kind = SPECTRA[int(ints[IFTYPE])]
        raise RecordingError(f"{path}: a SAC spectrum ({kind}), not a waveform")
    npts = int(ints[NPTS])
    if npts <= 0:
        raise RecordingError(f"{path}: the SAC header says {npts} samples (NPTS); nothing to read")
    end = HEADER_BYTES + 4 * npts
    if len(blob) < end:
        raise RecordingError(
            f"{path}: truncated SAC, file too short: the header says {npts} samples "
            f"({end} bytes) but the file ends after {len(blob)} (was the recording cut short?)"
        )
    delta, begin, precise = float(floats[DELTA]), float(floats[B]), False
    if int(ints[NVHDR]) == 7 and len(blob) >= end + FOOTER_BYTES:
        footer = np.frombuffer(blob, dtype=f"{order}f8", count=2, offset=end)
        if math.isfinite(footer[0]) and footer[0] > 0:
            delta, begin, precise = float(footer[0]), float(footer[1]), True
    if not (math.isfinite(delta) and delta > 0):
        raise RecordingError(
            f"{path}: the SAC header says the sample interval DELTA is {delta:g} s; it must "
            "be a positive number of seconds"
        )
    raw = np.frombuffer(blob, dtype=f"{order}f4", count=npts, offset=HEADER_BYTES)
    with np.errstate(invalid="ignore"):  # a signalling NaN: refused by name further on
        samples = raw.astype(np.float64)
    return SacTrace(
        samples=samples,
        version=int(ints[NVHDR]),
        delta=delta,
        precise=precise,
        start_time=_start_time(ints, begin, path),
        network=_text(blob, KNETWK),
        station=_text(blob, KSTNM),
        location=_text(blob, KHOLE),
        component=_text(blob, KCMPNM),
    )


def _check_size(blob: bytes, trace: SacTrace, path: Path) -> None:
    """A version-6 file holds exactly its samples; more bytes mean damage or not SAC."""
    expected = HEADER_BYTES + 4 * trace.samples.size
    if trace.version == 6 and len(blob) != expected:
        raise RecordingError(
            f"{path}: {len(blob)} bytes where the SAC header announces {expected} "
            f"({trace.samples.size} samples); a damaged file, or not SAC"
        )


def read_file(path: Path) -> SacTrace:
    """One SAC file, checked as :func:`decode` does and for its size."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    trace = decode(blob, path)
    _check_size(blob, trace, path)
    return trace


def kind_of_code(code: str) -> str | None:
    """The kind a SEED channel code names by its instrument letter (``EHZ``: ``H``), as
    miniSEED source codes are read; None for a blank or unknown one."""
    if len(code) != 3:
        return None
    return next((k.name for k in KINDS.values() if code[1] in k.seed_codes), None)


def _kind(trace: SacTrace, sensor: str | None, path: Path) -> str:
    if sensor is not None:
        return check_kind(sensor, path)
    kind = kind_of_code(trace.component)
    if kind is None and trace.component:
        log.warning(
            "%s: component %s names no known sensor; read as seismic (--sensor says otherwise)",
            path,
            trace.component,
        )
    return kind or "seismic"


@dataclass
class _Member:
    """One file of a sensor: its trace, kind and component letter."""

    path: Path
    trace: SacTrace
    kind: str
    letter: str


@dataclass
class _Sensor:
    """One sensor's files on one time grid."""

    members: list[_Member]
    start: float
    letters: list[str]
    data: FloatArray
    valid: npt.NDArray[np.bool_]


def _components(kind: str, letters: list[str]) -> tuple[str, ...]:
    """Component names from the channel codes' last letters: a lone component keeps its
    letter if the kind knows it (else the kind's default name), several keep their letters."""
    known = KINDS.get(kind)
    names = {c for comps in known.components.values() for c in comps} if known else set()
    if len(letters) == 1 and letters[0] not in names:
        return default_components(kind, 1)
    return tuple(letters)


def _order_letters(kind: str, letters: set[str]) -> list[str]:
    """The kind's own order when the letters are its components (N, E, Z for a
    magnetometer), else the conventional Z, N, E, 1, 2, 3."""
    known = KINDS.get(kind)
    own = known.component_names(len(letters)) if known else ()
    return in_order(letters, own) if set(own) == letters else in_order(letters)


def _assemble(members: list[_Member], label: str) -> _Sensor:
    """Every file of one sensor on one time grid; what no file covers is invalid."""
    rate = members[0].trace.rate
    for m in members[1:]:
        if abs(m.trace.rate - rate) > 1e-6 * rate:
            raise RecordingError(
                f"{label}: {m.path.name} is sampled at {m.trace.rate:g} Hz, "
                f"{members[0].path.name} at {rate:g} Hz; one sensor must keep its rate"
            )
    letters = _order_letters(members[0].kind, {m.letter for m in members})
    pieces = [(letters.index(m.letter), m.trace.start_time, m.trace.samples) for m in members]
    start, n = grid_span(pieces, rate)
    held = sum(m.trace.samples.size for m in members)
    if n > 4 * held + 1000:  # a month between two hourly files is not a gap to fill
        raise RecordingError(
            f"{label}: the files of one sensor lie far apart in time (gaps longer than the "
            "data they hold); analyse them separately"
        )
    data, valid = on_grid(pieces, rate, len(letters), start, n)
    return _Sensor(members, start, letters, data, valid)


def _groups(paths: list[Path], sensor: str | None) -> list[list[_Member]]:
    """Files of one sensor together: same network, station, location, channel code but
    its last letter, and kind. A file without a start time stands alone."""
    groups: dict[tuple[str, ...], list[_Member]] = defaultdict(list)
    alone: list[list[_Member]] = []
    for path in paths:
        trace = read_file(path)
        kind = _kind(trace, sensor, path)
        # Checked per file, so that a bad sample in a series is found in its own file.
        check_samples(trace.samples, path, trace.rate, trace.component or default_name(kind))
        member = _Member(path, trace, kind, trace.component[-1:])
        if not trace.start_time:
            alone.append([member])
            continue
        key = (trace.network, trace.station, trace.location, trace.component[:-1], kind)
        groups[key].append(member)
    order = list(KINDS)
    return sorted(
        [*groups.values(), *alone],
        key=lambda g: order.index(g[0].kind) if g[0].kind in order else len(order),
    )


def _channel(sensor: _Sensor, name: str, lead: int, scale: float | None) -> Channel:
    first = sensor.members[0]
    data, valid = pad_front(sensor.data, sensor.valid, lead)
    info = {
        "network": first.trace.network,
        "station": first.trace.station,
        "location": first.trace.location,
        "sac_components": sorted({m.trace.component for m in sensor.members}),
        "files": [str(m.path) for m in sensor.members],
    }
    return make_channel(
        first.path,
        name,
        first.kind,
        first.trace.rate,
        data,
        scale=scale or scale_of(first.kind),
        components=_components(first.kind, sensor.letters),
        valid=valid,
        info=info,
    )


def read(paths: list[Path], *, sensor: str | None, scale: float | None) -> Recording:
    """Read one or more SAC files together (see the module docstring for how they join).

    ``sensor`` names the kind of every file (else their component names do); ``scale``
    (units per count) only matters for writing the samples as counts later.
    """
    label = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"
    sensors = [_assemble(members, label) for members in _groups(paths, sensor)]
    known = [s.start for s in sensors if s.start]
    begin = min(known) if len(known) == len(sensors) else 0.0
    channels: dict[str, Channel] = {}
    for s in sensors:
        name = unique_name(None, s.members[0].kind, set(channels))
        lead = round((s.start - begin) * s.members[0].trace.rate) if begin else 0
        channels[name] = _channel(s, name, lead, scale)
    meta: dict[str, Any] = {"format": "sac", "files": [str(p) for p in paths]}
    stations = {ch.info["station"] for ch in channels.values()} - {""}
    if len(stations) == 1:
        meta["station"] = stations.pop()
    return Recording(channels=channels, truth=[], start_time=begin, meta=meta)
