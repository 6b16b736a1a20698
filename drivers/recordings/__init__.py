"""Recorded waveforms: the sensors' samples on disk, in the formats people have.

- ``waveforms``: the in-memory form every format meets in (:class:`Recording`,
  :class:`Channel`, the ground truth :class:`TruthEvent` and its ``.truth.json`` sidecar);
- ``mseed_format``, ``wav_format``, ``csv_format``, ``npz_format`` (with ``common``): one
  reader and writer per format (MiniSEED, WAV, CSV, NPZ); ``sac_format`` reads SAC and
  ``json_format`` a logger's JSON (arrays or packets of samples);
- ``mseed_writer``: the streaming MiniSEED writer the field recorder appends with.

Production code (the field recorder, ``analyze``) and the test bench (``hil``) use them alike.

``read_recording(paths)`` recognises the format from the file's content (the extension is
only a tie-breaker), checks it, and returns a :class:`~drivers.recordings.Recording` in physical
units; ``write_recording(rec, path)`` picks the format from the extension. Every problem with
a file is a :class:`~drivers.errors.RecordingError` naming the file, never a traceback.
See docs/recordings.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from drivers.errors import RecordingError
from drivers.kinds import KINDS
from drivers.recordings.waveforms import (
    TRUTH_SUFFIX,
    Channel,
    Recording,
    TruthEvent,
    read_truth,
    truth_path,
)

__all__ = [
    "Channel",
    "FileSpan",
    "Recording",
    "Session",
    "TruthEvent",
    "read_recording",
    "read_sessions",
    "read_truth",
    "recordings_in",
    "station_of",
    "truth_path",
    "write_recording",
]

log = logging.getLogger(__name__)

FORMATS = ("mseed", "wav", "csv", "npz")
EXTENSIONS = {
    ".mseed": "mseed",
    ".miniseed": "mseed",
    ".ms": "mseed",
    ".msd": "mseed",
    ".wav": "wav",
    ".wave": "wav",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".dat": "csv",
    ".npz": "npz",
    ".npy": "npz",
    ".sac": "sac",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
SNIFF_BYTES = 4096


def sniff(path: Path) -> str:
    """The format of a file from its first bytes: mseed, wav, npz, sac, json or csv."""
    from drivers.recordings import sac_format

    try:
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            size = os.fstat(fh.fileno()).st_size
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RecordingError(f"{path}: is a directory, not a recording") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise RecordingError(f"{path}: empty file")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") or head[:6] == b"\x93NUMPY":
        return "npz"
    if _is_mseed3(head) or _is_mseed2(head):
        return "mseed"
    if sac_format.is_sac(head, size):  # before text: SAC has no magic bytes to go by
        return "sac"
    if _is_text(head):
        # No table starts with a bracket or a brace: JSON (or JSON Lines) does.
        return "json" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"[", b"{") else "csv"
    kind = EXTENSIONS.get(path.suffix.lower())
    hint = f" (the name says {kind}, the content does not)" if kind else ""
    raise RecordingError(
        f"{path}: unknown format{hint}; expected MiniSEED, SAC, WAV, CSV, JSON or NPZ"
    )


def _is_mseed3(head: bytes) -> bool:
    return len(head) >= 40 and head[:2] == b"MS" and head[2] == 3


def _is_mseed2(head: bytes) -> bool:
    if len(head) < 48:
        return False
    seq = head[:6]
    return (
        all(c in b"0123456789 \x00" for c in seq)
        and head[6:7] in (b"D", b"R", b"Q", b"M")
        and head[7:8] in (b" ", b"\x00")
    )


def _is_text(head: bytes) -> bool:
    from drivers.recordings.csv_format import UTF16_BOMS

    if head[:2] in UTF16_BOMS:  # "Unicode text", as Windows spreadsheets save a table
        try:
            text = head[: len(head) // 2 * 2].decode("utf-16")
        except UnicodeDecodeError:
            return False
        return all(ch.isprintable() or ch in "\r\n\t" for ch in text)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at the sniff boundary is still text
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            # A spreadsheet export in a legacy 8-bit encoding ("µm/s" in a header): text
            # when nearly everything is plain ASCII.
            ascii_share = sum(32 <= b < 127 or b in b"\r\n\t" for b in head) / len(head)
            return ascii_share > 0.98 and b"\0" not in head
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text.lstrip("\ufeff"))


def read_recording(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    sensor: str | None = None,
    rate: float | None = None,
    scale: float | None = None,
) -> Recording:
    """Read one recording from one or more files.

    ``sensor`` names the kind of a single-sensor file (WAV, CSV, JSON, bare arrays, SAC; default
    seismic, or what a SAC component name says) and, for multi-sensor files, keeps only
    that kind. ``rate`` is required for files that do not carry one (bare CSV values, bare
    arrays), overrides a WAV header, must agree with NPZ, and is ignored for MiniSEED and
    SAC. ``scale`` (physical units per count) applies to integer
    samples whose file does not say (foreign MiniSEED and WAV). Several miniSEED files are
    merged by time (for example a day of hourly files), and so are SAC files of one sensor
    (its components and consecutive files); other files add their channels.
    The truth sidecar ``FILE.truth.json`` of the first file is loaded when present.
    """
    files = _checked_files(paths, sensor, rate)
    parts = _read_parts(files, sensor=sensor, rate=rate, scale=scale)
    rec = _joined(parts)
    _load_truth(rec, files[0])
    return rec


SESSION_GAP_S = 1.0
"""Files further apart in time than this (after the end of those before) start a new session."""


@dataclass
class FileSpan:
    """Where one file lies in a recording made of several: seconds from its start."""

    path: str
    start: float
    end: float


@dataclass
class Session:
    """Files recorded together, read as one recording."""

    files: list[Path]
    recording: Recording
    spans: list[FileSpan]


NOT_RECORDINGS = ("manifest.json", "manifest.gapped.json")
"""Files a folder of recordings often holds beside them that are not recordings: a prepared
data set's manifests (truth sidecars, ``FILE.truth.json``, are left out by their suffix)."""


def recordings_in(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """``paths`` with each folder among them replaced by the recordings in it, in name order:
    its files whose extension names a format (``EXTENSIONS``), not truth sidecars,
    manifests, hidden files or its subfolders. A folder holding none is an error that says
    so."""
    files: list[Path] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(
            f
            for f in path.iterdir()
            if f.is_file()
            and not f.name.startswith(".")  # hidden: a copying host's own (._c0.wav)
            and f.suffix.lower() in EXTENSIONS
            and not f.name.endswith(TRUTH_SUFFIX)
            and f.name not in NOT_RECORDINGS
        )
        if not found:
            names = ", ".join(sorted(EXTENSIONS))
            text = f"{path}: a folder with no recording in it (files named {names})"
            subfolders = [f for f in path.iterdir() if f.is_dir() and not f.name.startswith(".")]
            if subfolders:
                # A data set kept one event to a folder: say how to name them all.
                text += f"; its {len(subfolders)} subfolders are not read: give {path / '*'}"
            raise RecordingError(text)
        files += found
    return files


def read_sessions(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    sensor: str | None = None,
    rate: float | None = None,
    scale: float | None = None,
    on_unreadable: Callable[[Path, RecordingError], None] | None = None,
) -> list[Session]:
    """The files as the recordings of separate sessions, in time order: files whose spans
    overlap or follow on within ``SESSION_GAP_S`` are one recording, as ``read_recording``
    reads them (sensors side by side, miniSEED and SAC series joined); files apart in time,
    such as triggered clips of one sensor minutes or days apart, each make their own.
    Files without a start time are one session when they hold different sensors, and
    each its own when the same sensor is in several of them (a folder of one geophone's
    bare clips: nothing says when each was taken). Files of different stations (SAC's
    KNETWK and KSTNM, miniSEED's source identifiers) are different units: never one
    session, even at the same time (a folder of every node's traces of one event), and a
    file that holds several stations is a session per station. Each session carries the
    truth sidecar of the first of its files (in the order given) that has one.

    A file that cannot be read raises its error, unless ``on_unreadable`` is given: then
    the file is handed to it with its error and left out (a damaged clip among a folder of
    clips), and only a set of files none of which can be read raises."""
    files = _checked_files(paths, sensor, rate)
    # Each file alone first, for where it lies in time; a session of several is then read
    # as read_recording reads them (a sensor's miniSEED or SAC series joined again, the
    # other files taken as already read).
    alone: list[tuple[list[Path], Recording]] = []
    errors: list[RecordingError] = []
    for p in files:
        try:
            alone.append(([p], _read_parts([p], sensor=sensor, rate=rate, scale=scale)[0][1]))
        except RecordingError as exc:
            if on_unreadable is None:
                raise
            errors.append(exc)
            on_unreadable(p, exc)
    if not alone:
        raise (
            errors[0]
            if len(errors) == 1
            else RecordingError(f"none of the {len(errors)} files could be read")
        )
    files = [names[0] for names, _ in alone]
    given = {p: i for i, p in enumerate(files)}
    groups = [group for unit in _by_station(alone) for group in _by_time(unit)]
    groups.sort(key=lambda group: min(rec.start_time for _, rec in group))
    sessions = []
    for group in groups:
        read = {names[0]: rec for names, rec in group}
        own = sorted(read, key=given.__getitem__)
        first = min(rec.start_time for rec in read.values())
        # Before joining: joining pads the channels of the files read alone.
        spans = [_span(p, read[p], first) for p in own]
        if len(group) == 1:
            rec = group[0][1]
        else:
            rec = _joined(_read_parts(own, sensor=sensor, rate=rate, scale=scale, read=read))
        with_truth = [f for f in own if truth_path(f).exists()]
        if with_truth:
            _load_truth(rec, with_truth[0])
        sessions += [Session(own, unit, spans) for unit in _per_station(rec)]
    return sessions


def _span(path: Path, rec: Recording, first: float) -> FileSpan:
    offset = rec.start_time - first if rec.start_time and first else 0.0
    return FileSpan(str(path), offset, offset + rec.duration)


def _checked_files(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    sensor: str | None,
    rate: float | None,
) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise RecordingError("no recording file given")
    files = [Path(p) for p in items]
    if sensor is not None and sensor not in KINDS:
        raise RecordingError(f"unknown sensor kind {sensor!r} ({', '.join(KINDS)})")
    if rate is not None and not rate > 0:
        raise RecordingError(f"--rate must be a positive number of Hz, not {rate!r}")
    if len(files) > 1:
        # A recorder stopped just as it started a file leaves it empty: skip such files
        # in a series rather than refuse the whole series.
        empty = [p for p in files if p.is_file() and p.stat().st_size == 0]
        for p in empty:
            log.warning("%s: empty file, skipped", p)
        files = [p for p in files if p not in empty] or files
    return files


def _read_parts(
    files: list[Path],
    *,
    sensor: str | None,
    rate: float | None,
    scale: float | None,
    read: dict[Path, Recording] | None = None,
) -> list[tuple[list[Path], Recording]]:
    """Each file's recording, except that miniSEED files are read as one and so are SAC
    files (their readers join a sensor's series), with the files each came from; ``read``
    holds files already read alone."""
    formats = [sniff(p) for p in files]
    mseed = [p for p, f in zip(files, formats, strict=True) if f == "mseed"]
    sac = [p for p, f in zip(files, formats, strict=True) if f == "sac"]
    parts: list[tuple[list[Path], Recording]] = []
    if mseed:
        from drivers.recordings import mseed_format

        if rate is not None:
            log.info("--rate is ignored for miniSEED, which carries its own rate")
        parts.append((mseed, mseed_format.read(mseed, sensor=sensor, scale=scale)))
    if sac:
        if rate is not None:
            log.info("--rate is ignored for SAC, which carries its own rate")
        parts.append((sac, _read_sac(sac, sensor=sensor, scale=scale)))
    for p, fmt in zip(files, formats, strict=True):
        if fmt in ("mseed", "sac"):
            continue
        done = (read or {}).get(p)
        parts.append(([p], done or _read_one(p, fmt, sensor=sensor, rate=rate, scale=scale)))
    return parts


def _channel_station(ch: Channel) -> tuple[str, str] | None:
    """The network and station codes a channel was read with (SAC's KNETWK and KSTNM, a
    miniSEED source identifier's), or None."""
    if ch.info.get("station"):
        return str(ch.info.get("network", "")), str(ch.info["station"])
    for sid in ch.info.get("seed_ids", ()):
        net, _, rest = str(sid).removeprefix("FDSN:").partition("_")
        station = rest.partition("_")[0]
        if station:
            return net, station
    return None


def station_of(rec: Recording) -> tuple[str, str] | None:
    """The network and station codes that a file names for all its channels, or None when
    it names none, or several."""
    codes = {_channel_station(ch) for ch in rec.channels.values()} - {None}
    return codes.pop() if len(codes) == 1 else None


def _per_station(rec: Recording) -> list[Recording]:
    """``rec`` as one recording per station its channels name (a network's day file holds
    every node), on the same clock: a node that started later keeps its invalid lead, as
    when it was read beside the others. Channels that name none go together."""
    units: dict[tuple[str, str] | None, dict[str, Channel]] = {}
    for name, ch in rec.channels.items():
        units.setdefault(_channel_station(ch), {})[name] = ch
    if len(set(units) - {None}) < 2:
        return [rec]
    return [replace(rec, channels=chans, truth=list(rec.truth)) for chans in units.values()]


def _by_station(
    parts: list[tuple[list[Path], Recording]],
) -> list[list[tuple[list[Path], Recording]]]:
    """The files of each station apart: nodes tens of metres apart are not one unit's
    sensors. With one station named or none, all of them together (a unit's SAC geophone
    and its PIR's CSV, which names no station)."""
    stations = [station_of(rec) for _, rec in parts]
    if len(set(stations) - {None}) < 2:
        return [parts]
    units: dict[tuple[str, str] | None, list[tuple[list[Path], Recording]]] = {}
    for part, station in zip(parts, stations, strict=True):
        units.setdefault(station, []).append(part)
    return list(units.values())


def _by_time(
    parts: list[tuple[list[Path], Recording]],
) -> list[list[tuple[list[Path], Recording]]]:
    if len(parts) < 2:
        return [parts]
    if not all(rec.start_time > 0 for _, rec in parts):
        # Nothing says when these were recorded. Different sensors are taken as recorded
        # together; the same sensor in several files (a folder of one geophone's bare
        # clips) cannot have been, so each file is its own session.
        names = [name for _, rec in parts for name in rec.channels]
        return [parts] if len(names) == len(set(names)) else [[part] for part in parts]
    groups: list[list[tuple[list[Path], Recording]]] = []
    end = -float("inf")
    for part in sorted(parts, key=lambda item: item[1].start_time):
        rec = part[1]
        if rec.start_time > end + SESSION_GAP_S:
            groups.append([])
        groups[-1].append(part)
        end = max(end, rec.start_time + rec.duration)
    return groups


def _joined(parts: list[tuple[list[Path], Recording]]) -> Recording:
    if len(parts) == 1:
        return parts[0][1]
    return _merge([rec for _, rec in parts], [names[0] for names, _ in parts])


def _load_truth(rec: Recording, first: Path) -> None:
    sidecar = truth_path(first)
    if sidecar.exists():
        rec.truth, header = read_truth(sidecar)
        if not rec.meta.get("scenario") and isinstance(header.get("meta"), dict):
            rec.meta = {**header["meta"], **rec.meta}


def _read_one(
    path: Path, fmt: str, *, sensor: str | None, rate: float | None, scale: float | None
) -> Recording:
    try:
        if fmt == "wav":
            from drivers.recordings import wav_format

            return wav_format.read(path, sensor=sensor, rate=rate, scale=scale)
        if fmt == "npz":
            from drivers.recordings import npz_format

            return npz_format.read(path, sensor=sensor, rate=rate)
        if fmt == "json":
            from drivers.recordings import json_format

            return json_format.read(path, sensor=sensor, rate=rate)
        from drivers.recordings import csv_format

        return csv_format.read(path, sensor=sensor, rate=rate)
    except MemoryError:
        raise RecordingError(f"{path}: too large to load into memory") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _read_sac(paths: list[Path], *, sensor: str | None, scale: float | None) -> Recording:
    from drivers.recordings import sac_format

    try:
        return sac_format.read(paths, sensor=sensor, scale=scale)
    except MemoryError:  # a series with a long gap between two files, or a huge file
        raise RecordingError(f"{paths[0]}: too large to load into memory") from None


def _follow_ons(parts: list[Recording]) -> list[Recording]:
    """The parts, with the files of one sensor that follow on in time (a logger's
    consecutive files) joined into one channel, what lies between them invalid."""
    import numpy as np

    out: list[Recording] = []
    for part in sorted(parts, key=lambda p: p.start_time):
        at = next((i for i in reversed(range(len(out))) if _continues(out[i], part)), None)
        if at is None:
            out.append(part)
            continue
        before = out[at]
        (old,) = before.channels.values()
        (new,) = part.channels.values()
        gap = max(0, round((part.start_time - before.start_time) * old.rate) - len(old))
        data = np.concatenate((old.data, np.zeros((gap, old.data.shape[1])), new.data))
        valid = np.concatenate(
            (
                np.ones(len(old), bool) if old.valid is None else old.valid,
                np.zeros(gap, bool),
                np.ones(len(new), bool) if new.valid is None else new.valid,
            )
        )
        joined = replace(old, data=data, valid=None if valid.all() else valid)
        files = [*before.meta.get("files", []), *part.meta.get("files", [])]
        out[at] = replace(before, channels={old.name: joined}, meta={**before.meta, "files": files})
    return out


def _continues(before: Recording, part: Recording) -> bool:
    """Whether ``part`` is the next file of the one sensor ``before`` holds."""
    if len(before.channels) != 1 or len(part.channels) != 1:
        return False
    (old,) = before.channels.values()
    (new,) = part.channels.values()
    same = (old.name, old.kind, old.data.shape[1]) == (new.name, new.kind, new.data.shape[1])
    if not same or abs(old.rate - new.rate) > 1e-6 * old.rate:
        return False
    end = before.start_time + len(old) / old.rate
    return -0.5 / old.rate <= part.start_time - end <= SESSION_GAP_S


MERGE_SLACK_S = 3600.0
"""How much longer than its longest file a recording of files side by side may be: beyond
it, the files are sessions apart in time, and padding each to the whole span would take
gigabytes (a day of a 4-kHz clip is 3 GB)."""


def _merge(parts: list[Recording], names: list[Path]) -> Recording:
    """Channels of several single-file recordings side by side, aligned on start time."""
    import numpy as np

    from drivers.recordings.common import unique_name

    known = [p.start_time for p in parts if p.start_time > 0]
    start = min(known) if len(known) == len(parts) else 0.0
    if start:
        span = max(p.start_time + p.duration for p in parts) - start
        if span > max(p.duration for p in parts) + MERGE_SLACK_S:
            last = max(range(len(parts)), key=lambda i: parts[i].start_time)
            first = min(range(len(parts)), key=lambda i: parts[i].start_time)
            raise RecordingError(
                f"{names[last]} starts {(parts[last].start_time - start) / 3600:.1f} h after "
                f"{names[first]}: files this far apart are not one recording (analyze reads "
                "them as separate sessions)"
            )
        parts = _follow_ons(parts)
    channels: dict[str, Channel] = {}
    for part in parts:
        for ch in part.channels.values():
            lead = round((part.start_time - start) * ch.rate) if start else 0
            if lead > 0:
                ch.data = np.concatenate((np.zeros((lead, ch.data.shape[1])), ch.data))
                valid = ch.valid if ch.valid is not None else np.ones(len(ch) - lead, bool)
                ch.valid = np.concatenate((np.zeros(lead, dtype=bool), valid))
            name = unique_name(ch.name, ch.kind, set(channels))
            ch.name = name
            channels[name] = ch
    files = [f for p in parts for f in p.meta.get("files", [])]
    return Recording(channels, [], start, {"format": "mixed", "files": files})


def write_recording(
    rec: Recording,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    channel: str | None = None,
    mseed_version: int = 3,
) -> Path:
    """Write ``rec`` in the format named by ``fmt`` or the extension (default NPZ).

    WAV and CSV hold one sensor: ``channel`` picks it (default: the first seismic channel).
    The truth is not written here; see ``Recording.write_truth``.
    """
    out = Path(path)
    kind = fmt or EXTENSIONS.get(out.suffix.lower(), "npz")
    if kind not in FORMATS:
        if kind == "sac":
            raise RecordingError(f"{out}: SAC is read, not written; write {', '.join(FORMATS)}")
        raise RecordingError(f"{out}: unknown output format {kind!r} ({', '.join(FORMATS)})")
    if not rec.channels:
        raise RecordingError(f"{out}: the recording has no channels to write")
    try:
        if kind == "npz":
            from drivers.recordings import npz_format

            npz_format.write(rec, out)
        elif kind == "mseed":
            from drivers.recordings import mseed_format

            mseed_format.write(rec, out, format_version=mseed_version)
        else:
            ch = _single_channel(rec, channel, out)
            if kind == "wav":
                from drivers.recordings import wav_format

                wav_format.write(rec, out, ch)
            else:
                from drivers.recordings import csv_format

                csv_format.write(rec, out, ch)
    except OSError as exc:
        raise RecordingError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return out


def _single_channel(rec: Recording, name: str | None, out: Path) -> Channel:
    if name is not None:
        try:
            return rec.channel(name)
        except KeyError as exc:
            raise RecordingError(f"{out}: {exc.args[0]}") from None
    chosen = (
        rec.by_kind("seismic")[0] if rec.by_kind("seismic") else next(iter(rec.channels.values()))
    )
    dropped = [n for n in rec.channels if n != chosen.name]
    if dropped:
        log.warning(
            "%s holds one sensor: writing %s, leaving out %s", out, chosen.name, ", ".join(dropped)
        )
    return chosen
