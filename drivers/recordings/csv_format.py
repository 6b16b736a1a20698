"""CSV and other delimited text: one sensor per file.

Accepted layouts (comma, semicolon, tab or whitespace separated; ``#`` lines are comments;
a header row is optional):

- value columns only (one per component): the rate must be given (``--rate``), or stated
  by a comment or a preamble line (``Sample rate: 500 Hz``, ``# fs = 4310.3``);
- a time column first, then value columns: the rate follows from the times. The time column
  is recognised by its header (``t``, ``time``, ``time_s``, ``seconds``, ``timestamp``,
  ``datetime``, ``epoch``) or, without a header, when no ``--rate`` is given and the first
  column increases steadily. Times are seconds (epoch seconds if > 1e8, else relative) or
  ISO-8601 timestamps; a header naming a unit (``time_ms``, ``millis``, ``t_us``, ...) or
  epoch values too large for seconds (loggers' milli-, micro- or nanoseconds) are scaled to
  seconds. A step that is a whole multiple of the sampling interval is a gap (its samples
  are marked invalid). Stamps that repeat, go back or are uneven but keep within 0.1 s (or
  3 samples) of one steady rate are when rows were logged: the samples are evenly spaced
  at that rate; further off, a step kept by half of them is the interval. Other uneven
  stamps are refused unless a rate is given, which then sets the spacing.
- a column headed as a label (``label``, ``class``, ``truth``, ...) is left out: it
  annotates the samples; so is a second column headed as a time (a logger's clock written
  twice);
- rows of 8 or more bare values (no header, no time) are packets of one sensor's samples,
  read row after row.

Values are physical units (m/s, V, nT). Files written here start with a ``# ugs {...}``
comment holding the channel's name, kind, scale and start time.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.kinds import KINDS
from drivers.recordings.common import (
    PACKET_SPAN,
    check_rate,
    default_name,
    file_kind,
    kind_assumed,
    make_channel,
    step_per_sample,
)
from drivers.recordings.waveforms import Channel, Recording

TIME_NAMES = {
    "t",
    "time",
    "time_s",
    "times",
    "seconds",
    "sec",
    "s",
    "timestamp",
    "datetime",
    "epoch",
    "date",
    "utc",
}
# Headers of columns that annotate the samples (a data set's ground truth) rather than hold
# them: fed to the detector they would be a PIR's motion flag or a magnetometer's axis.
ANNOTATION_NAMES = {
    "label",
    "labels",
    "class",
    "target",
    "truth",
    "ground_truth",
    "annotation",
    "event",
    "activity",
    "presence",
    "occupancy",
    "occupied",
}
# Headers of a first column that numbers the rows (pandas writes its index unnamed).
INDEX_NAMES = {
    "",
    "index",
    "idx",
    "i",
    "n",
    "no",
    "#",
    "sample",
    "samples",
    "count",
    "counter",
    "seq",
    "unnamed: 0",
}
# A time column's unit, named in its header as a suffix (``time_ms``, ``t[us]``) or alone.
TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "msec": 1e-3,
    "millis": 1e-3,
    "milliseconds": 1e-3,
    "us": 1e-6,
    "usec": 1e-6,
    "micros": 1e-6,
    "microseconds": 1e-6,
    "ns": 1e-9,
    "nanos": 1e-9,
    "nanoseconds": 1e-9,
}
# Epoch times as loggers write them: seconds since 1970 lie near 1.7e9, so a value past 1e11
# (the year 5138 in seconds) is milliseconds, past 1e14 microseconds, past 1e17 nanoseconds.
EPOCH_UNITS = ((1e17, 1e-9), (1e14, 1e-6), (1e11, 1e-3))
META_PREFIX = "# ugs "
_NUMBER = re.compile(
    r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE
)


DELIMITERS = ",;\t"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
"""How a UTF-16 text file starts (little- or big-endian)."""


def _split(line: str, delimiter: str | None) -> list[str]:
    """The cells of one row: the csv module's reading (quotes included), or whitespace."""
    if delimiter is None:
        return line.split()
    try:
        cells = next(csv.reader([line], delimiter=delimiter))
    except csv.Error:  # a stray carriage return inside a row: a damaged line
        cells = line.split(delimiter)
    return [cell.strip() for cell in cells]


def _delimiter(lines: list[str]) -> str | None:
    """The csv module's sniffer decides; when it cannot (rows of different lengths, which are
    then reported by line), the delimiter on most lines (a row cut short may hold none);
    else cells are whitespace-separated."""
    sample = lines[:20]
    try:
        return csv.Sniffer().sniff("\n".join(sample), delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    on = {d: sum(d in ln for ln in sample) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: on[d])  # ties: the order of DELIMITERS
    return best if on[best] > len(sample) / 2 else None


def _parse_time(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        pass
    text = cell.strip().replace("Z", "+00:00")
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        from datetime import UTC

        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


@dataclass
class _Table:
    """A CSV's data rows and how they are laid out, before any cell is parsed."""

    rows: list[tuple[int, str]]
    """(line number, text) of each data row."""
    delimiter: str | None
    header: list[str] | None
    """The header row's cells, lower-cased; None when the file has none."""
    ncols: int
    """The width most of the first rows have: one cut short is then reported by line."""
    meta: dict[str, Any]
    """What a ``# ugs {...}`` comment says (files written here)."""
    stated_rate: tuple[float, str] | None = None
    """The sample rate a comment or a preamble line states, with that line."""


def read(
    path: Path, *, sensor: str | None, rate: float | None, text: str | None = None
) -> Recording:
    """The recording in the CSV at ``path``, or in ``text`` (a table another format holds,
    named by ``path``)."""
    table = _table(path, text)
    stated = ""
    if rate is None and table.stated_rate is not None and not _time_headed_or_paired(table):
        # No time column, but the logger wrote its rate above the table: as if given.
        rate, line = table.stated_rate
        stated = f"read at {rate:g} Hz, as its line {line!r} says"
    has_time, unit = _time_column(path, table, rate)
    rows, delimiter, header, meta = table.rows, table.delimiter, table.header, table.meta
    parsed = _fast_parse(rows, delimiter, table.ncols)
    if parsed is None:  # something is wrong: find the first bad cell and say where
        parsed = _careful_parse(path, rows, delimiter, table.ncols, has_time)
    time_col = 0
    if table.ncols >= 2 and (header is None or header[0] in INDEX_NAMES) and _counts(parsed[:, 0]):
        parsed, time_col = parsed[:, 1:], 1
        has_time, unit = _time_after_row_numbers(path, parsed, header, rate)
    elif has_time and header is None:
        _refuse_samples_taken_for_time(path, parsed[:, 0])
    if has_time:
        first_cell = _split(rows[0][1], delimiter)[time_col]
        iso = not _NUMBER.match(first_cell)  # already in seconds
        written = parsed[:, 0]
        times, values = in_seconds(written, None if iso else unit), parsed[:, 1:]
        # Numbers taken as seconds as they stand: a logger's relative milliseconds read so
        # give a rate a thousand times too low, which is worth a hint if nothing can use it.
        as_written = not iso and times is written
    else:
        times, values = np.zeros(0), parsed
        as_written = False
    mixed = None if meta.get("kind") else _mixed_kinds(header, values.shape[1])
    if mixed is not None and header is not None and sensor is not None:
        # One kind asked of a table of several: its columns alone, as a file of its own.
        mine = [i for i, k in enumerate(mixed) if k in (sensor, None)]
        if not any(mixed[i] == sensor for i in mine):
            found = ", ".join(k for k in KINDS if k in mixed)
            raise RecordingError(f"{path}: no {sensor} column in the file (has {found})")
        lead = len(header) - values.shape[1]
        header = header[:lead] + [header[lead + i] for i in mine]
        values, mixed = values[:, mine], None
    named = meta.get("kind") or (None if sensor else header_kind(header, values.shape[1]))
    kind = file_kind(path, sensor, named) if mixed is None else next(k for k in mixed if k)
    labels = _label_columns(header, values, kind, lead=time_col + int(has_time))
    clocks = _clock_columns(header, values.shape[1], {i for i, _ in labels})
    clocked = ", ".join(name for _, name in clocks)
    if clocks and len(clocks) + len(labels) >= values.shape[1]:
        raise RecordingError(f"{path}: no samples: column {clocked} is another clock")
    dropped = ", ".join(name for _, name in labels)
    gone = {i for i, _ in labels + clocks}
    values = np.delete(values, sorted(gone), axis=1)
    if mixed is not None:
        mixed = [k for i, k in enumerate(mixed) if i not in gone]
    start = float(meta.get("start_time") or 0.0)
    valid = None
    note = ""
    if not has_time and header is None and values.shape[1] >= PACKET_MIN_WIDTH:
        # Far more values per row than any sensor has: each row is a packet of samples, as
        # a logger that writes one line per UDP message leaves them.
        note = f"each row holds {values.shape[1]} samples (a packet): read row after row"
        values = values.reshape(-1, 1)
    if has_time:
        data, valid, ch_rate, t_first, note = _placed_by_time(
            path, times, values, rows, rate, as_written
        )
        if t_first > 1e8:
            start = t_first
    else:
        data, ch_rate = values, check_rate(rate, path)
    name = str(meta.get("name") or "") or default_name(kind)
    comps = tuple(meta.get("components") or ()) or None
    if comps is not None and len(comps) != data.shape[1]:
        comps = None
    scale = float(meta["scale"]) if meta.get("scale") else None
    if mixed is None:
        channels = {
            name: make_channel(
                path, name, kind, ch_rate, data, scale=scale, components=comps, valid=valid
            )
        }
    else:
        channels = _channel_per_kind(path, mixed, ch_rate, data, valid)
    info: dict[str, object] = {
        "format": "csv",
        "files": [str(path)],
        "rate_from": "time" if has_time else "given",
        "time_as_written": as_written,
        "time_header": as_written and header is not None,
        "kind_assumed": mixed is None and kind_assumed(sensor, named),
    }
    read_notes = []
    if mixed is not None:
        names = ", ".join(f"{ch.name} ({ch.kind})" for ch in channels.values())
        read_notes.append(f"its columns are headed for sensors of several kinds: read as {names}")
    elif named and not meta.get("kind"):
        read_notes.append(f"its columns are headed for a {kind} sensor: read as --sensor {kind}")
    elif info["kind_assumed"]:
        # A bare column may be any sensor's; a PIR's analysed as a geophone is wrong silently.
        read_notes.append(f"no sensor kind in the file: read as {kind} (--sensor says otherwise)")
    if dropped:
        read_notes.append(f"column {dropped} is a label, not samples: left out")
    if clocked:
        read_notes.append(f"column {clocked} is another clock, not samples: left out")
    if read_notes:
        info["read_note"] = "; ".join(read_notes)
    if stated:
        info["rate_from"] = "stated"
        note = "; ".join(n for n in (stated, note) if n)
    if note:
        info["rate_note"] = note
    return Recording(channels, [], start, info)


def _channel_per_kind(
    path: Path,
    kinds: list[str | None],
    rate: float,
    data: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_] | None,
) -> dict[str, Channel]:
    """A channel per kind of sensor the columns are headed for, its columns side by side."""
    channels = {}
    for kind in KINDS:  # in the order the project lists kinds
        cols = [i for i, k in enumerate(kinds) if k == kind]
        if cols:
            name = default_name(kind)
            channels[name] = make_channel(path, name, kind, rate, data[:, cols], valid=valid)
    return channels


def _table(path: Path, text: str | None = None) -> _Table:
    """The file's data rows (comments, blank lines and a logger's preamble left out), its
    delimiter and header, and how wide its rows are."""
    if text is None:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-16" if raw[:2] in UTF16_BOMS else "utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # sniffed as text: a legacy 8-bit export
    meta: dict[str, Any] = {}
    rows: list[tuple[int, str]] = []
    notes: list[str] = []  # comments and a preamble: what a logger says about the run
    for lineno, line in enumerate(io.StringIO(text), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if stripped.startswith(META_PREFIX.strip()) and not meta:
                try:
                    meta = dict(json.loads(stripped[len(META_PREFIX.strip()) :]))
                except ValueError:
                    meta = {}
            elif len(notes) < 200:
                notes.append(stripped.lstrip("#").strip())
            continue
        rows.append((lineno, stripped))
    if not rows:
        raise RecordingError(f"{path}: no data rows in the file")
    kept = _without_preamble(rows)
    notes += [r for _, r in rows[: len(rows) - len(kept)]]
    rows = kept
    delimiter = _delimiter([r for _, r in rows])
    if delimiter and all(r.endswith(delimiter) for _, r in rows[:20]):
        # Loggers that print "value," per field end every line on the delimiter.
        rows = [(n, r[:-1] if r.endswith(delimiter) else r) for n, r in rows]
    header: list[str] | None = None
    first = _split(rows[0][1], delimiter)
    if not all(_NUMBER.match(c) for c in first) and not _looks_like_times(first):
        if _stated_rate([rows[0][1]]) is None:
            header = [c.lower() for c in first]
        else:
            notes.append(rows[0][1])  # "Sample rate: 500 Hz" just above bare values
        rows = rows[1:]
        if not rows:
            raise RecordingError(f"{path}: a header row but no data rows")
    if delimiter != "," and any("," in r for _, r in rows[:20]):
        # Spreadsheets in most of Europe write decimal commas ("0,25") between semicolons.
        rows = [(n, r.replace(",", ".")) for n, r in rows]
    widths = [len(_split(r, delimiter)) for _, r in rows[:20]]
    ncols = Counter(widths).most_common(1)[0][0]
    return _Table(rows, delimiter, header, ncols, meta, _stated_rate(notes))


STATED_HZ = (0.01, 1e6)
"""Rates a line may state: beyond them it speaks of something else (a baud rate, a clock)."""
RATE_KEYS = frozenset(
    {"samplerate", "samplingrate", "samplingfrequency", "samplefrequency", "fs", "sps", "rate"}
    | {"samplespersecond", "datarate", "outputdatarate", "odr"}
)
INTERVAL_KEYS = frozenset({"sampleinterval", "samplinginterval", "sampleperiod", "dt", "delta"})
RATE_UNITS = {"": 1.0, "hz": 1.0, "sps": 1.0, "s/s": 1.0, "samples/s": 1.0, "khz": 1e3}
INTERVAL_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6}
_STATED = re.compile(
    r"^(?P<key>[a-z][a-z _\-]*?)\s*(?:\((?P<bracket>[^)]*)\)|\[(?P<square>[^\]]*)\])?"
    r"\s*[:=,;\t]\s*(?P<num>[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?)[\s,;]*(?P<unit>[a-z\u00b5/]*)"
    r"[\s,;]*$"
)
"""``key: number unit`` (``=``, or a delimiter, for ``:``; the unit may be bracketed
after the key instead)."""


def _stated_rate(notes: list[str]) -> tuple[float, str] | None:
    """The sample rate a logger's comment or preamble line states (``Sample rate: 500 Hz``,
    ``# fs = 4310.3``, ``Sampling interval (ms): 2``), with the line; None when no line
    does, or two disagree."""
    found: dict[float, str] = {}
    for line in notes:
        m = _STATED.match(line.strip().lower())
        if m is None:
            continue
        key = re.sub(r"[^a-z]", "", m["key"])
        unit = (m["bracket"] or m["square"] or m["unit"] or "").strip()
        value = float(m["num"])
        if key in RATE_KEYS and unit in RATE_UNITS and value > 0:
            found.setdefault(value * RATE_UNITS[unit], line)
        elif key in INTERVAL_KEYS and unit in INTERVAL_UNITS and value > 0:
            found.setdefault(1.0 / (value * INTERVAL_UNITS[unit]), line)
    found = {r: line for r, line in found.items() if STATED_HZ[0] <= r <= STATED_HZ[1]}
    rates = list(found)
    if not rates or any(abs(r - rates[0]) > 1e-6 * rates[0] for r in rates):
        return None
    return rates[0], found[rates[0]]


def _time_headed_or_paired(table: _Table) -> bool:
    """Whether the first column is a time as far as the table's layout says: headed as a
    time, or, without a header, a first column beside one to seven others."""
    if table.header is not None:
        return time_unit(table.header[0]) is not None and table.ncols >= 2
    return 2 <= table.ncols < PACKET_MIN_WIDTH


def _time_column(path: Path, table: _Table, rate: float | None) -> tuple[bool, float | None]:
    """Whether the first column is a time, and its unit in seconds when the header names
    one; a file that gives no way to its rate is refused here, before it is parsed."""
    ncols = table.ncols
    # Seconds per time-column unit, when the header says it.
    unit = time_unit(table.header[0]) if table.header is not None else None
    # Without a header, a given rate makes the columns all values.
    has_time = (table.header is not None or rate is None) and _time_headed_or_paired(table)
    if not has_time and rate is None and table.header is None and ncols >= PACKET_MIN_WIDTH:
        raise RecordingError(
            f"{path}: each row holds {ncols} values, a packet of samples with no time: give "
            f"--rate HZ"
        )
    if not has_time and rate is None:
        raise RecordingError(
            f"{path}: a CSV of bare values needs its sample rate: give --rate HZ (or add a "
            f"time column)"
        )
    return has_time, unit


def _time_after_row_numbers(
    path: Path, rest: npt.NDArray[np.float64], header: list[str] | None, rate: float | None
) -> tuple[bool, float | None]:
    """A first column that numbers the rows (pandas' unnamed index, a logger's sample
    counter) is no time; a logger may write its clock next to it, first of ``rest``."""
    if header is not None:
        unit = time_unit(header[1])
        has_time = unit is not None and rest.shape[1] >= 2
    else:
        unit = None
        has_time = rest.shape[1] >= 2 and (rate is None or _clock_like(rest[:, 0]))
    if not has_time and rate is None:
        raise RecordingError(
            f"{path}: the first column counts samples (0, 1, 2, ...) and says nothing of "
            f"time: give --rate HZ"
        )
    return has_time, unit


def _placed_by_time(
    path: Path,
    times: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    rows: list[tuple[int, str]],
    rate: float | None,
    as_written: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None, float, float, str]:
    """The samples placed by their time column: data, valid, rate, first time, and how the
    times were read where that had to be guessed."""
    unit_note = ""
    if as_written and rate is not None:
        times, unit_note = _unit_from_rate(times, rate)
    note = unit_note
    logged = _logged_not_sampled(path, times, rows, rate)
    valid: npt.NDArray[np.bool_] | None
    if logged:
        # Stamps of when rows were logged: the samples are evenly spaced.
        note = "; ".join(n for n in (unit_note, logged[0]) if n)
        ch_rate = logged[1]
        data, valid, t_first = values, None, float(times[0])
    else:
        data, valid, ch_rate, t_first = _place_by_time(path, times, values)
    if rate is not None and abs(rate - ch_rate) > 0.01 * rate:
        raise RecordingError(
            f"{path}: the time column gives {ch_rate:.6g} Hz but --rate {rate:g} was given"
        )
    return data, valid, ch_rate, t_first, note


def _fast_parse(
    rows: list[tuple[int, str]], delimiter: str | None, ncols: int
) -> npt.NDArray[np.float64] | None:
    """numpy's C parser for the common, clean case (numeric cells only)."""
    try:
        arr = np.loadtxt([r for _, r in rows], delimiter=delimiter, ndmin=2, dtype=np.float64)
    except ValueError:
        return None
    if arr.shape != (len(rows), ncols) or not np.all(np.isfinite(arr)):
        return None
    return np.asarray(arr)


def _careful_parse(
    path: Path, rows: list[tuple[int, str]], delimiter: str | None, ncols: int, has_time: bool
) -> npt.NDArray[np.float64]:
    """Cell by cell, so that a bad cell is reported by line and column."""
    out = np.empty((len(rows), ncols))
    for i, (lineno, line) in enumerate(rows):
        cells = _split(line, delimiter)
        if len(cells) != ncols:
            like = next(n for n, r in rows if len(_split(r, delimiter)) == ncols)
            raise RecordingError(
                f"{path} line {lineno}: {len(cells)} column{'s' * (len(cells) != 1)}, "
                f"expected {ncols} as on line {like}"
            )
        for j, cell in enumerate(cells):
            if j == 0 and has_time:
                try:
                    t = _parse_time(cell)
                except ValueError:
                    raise RecordingError(
                        f"{path} line {lineno}: time {cell!r} is neither seconds nor an "
                        f"ISO-8601 timestamp"
                    ) from None
                if not math.isfinite(t):
                    raise RecordingError(
                        f"{path} line {lineno}: time {cell!r} is not a finite time; repair "
                        f"or cut the file"
                    )
                out[i, 0] = t
                continue
            try:
                v = float(cell)
            except ValueError:
                raise RecordingError(
                    f"{path} line {lineno}, column {j + 1}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise RecordingError(
                    f"{path} line {lineno}, column {j + 1}: {cell!r} is not a finite value; "
                    f"repair or cut the file"
                )
            out[i, j] = v
    return out


def time_unit(name: str) -> float | None:
    """Seconds per unit of a time column called ``name`` (1.0 when it names no unit), or
    None when ``name`` is not a time column's."""
    name = name.strip().strip("\"'").lower()
    bracket = re.fullmatch(r"(.*?)\s*[\[(]\s*(\w+)\s*[\])]", name)
    if bracket:  # "time [ms]", "t (s)"
        base, suffix = bracket.group(1), bracket.group(2)
        if (base in TIME_NAMES or not base) and suffix in TIME_UNITS:
            return TIME_UNITS[suffix]
        return None
    if name in TIME_NAMES:
        return 1.0
    if name in TIME_UNITS:
        return TIME_UNITS[name]
    base, _, suffix = name.rpartition("_")
    if base in TIME_NAMES and suffix in TIME_UNITS:
        return TIME_UNITS[suffix]
    return None


def in_seconds(t: npt.NDArray[np.float64], unit: float | None) -> npt.NDArray[np.float64]:
    """A time column in seconds: scaled by the unit its header names or, where it names
    none, by the magnitude of epoch times (a logger's milliseconds since 1970)."""
    if unit is not None and unit != 1.0:
        return t * unit
    first = float(t[0]) if t.size else 0.0
    for above, scale in EPOCH_UNITS:
        if first > above:
            return t * scale
    return t


def _is_data(row: str) -> bool:
    """Whether a row holds only numbers (or a time and numbers), however delimited."""
    cells = [c.strip().strip("\"'") for c in re.split(r"[,;\t ]+", row.strip()) if c.strip()]
    return bool(cells) and (all(_NUMBER.match(c) for c in cells) or _looks_like_times(cells))


def _without_preamble(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The rows from the header on: loggers write lines about the device and the run
    ("Device: GEOSCOPE", "Gain: 85") before the column names; the line just before the
    first row of numbers is the header, the lines above it are dropped."""
    first = next((i for i, (_, r) in enumerate(rows[:200]) if _is_data(r)), 0)
    if first < 2:
        return rows
    data = rows[first][1]
    delimiter = next((d for d in DELIMITERS if d in data), None)
    width = len(_split(data, delimiter))
    # Only lines shaped unlike the data: a row of the right width with a bad cell in it
    # stays, to be reported by line and column.
    if any(len(_split(r, delimiter)) == width for _, r in rows[: first - 1]):
        return rows
    return rows[first - 1 :]


def _counts(column: npt.NDArray[np.float64]) -> bool:
    """Whether a column numbers its rows: small whole numbers going up by exactly one."""
    if column.size < 3 or not 0 <= column[0] < 1e8:
        return False
    return bool(np.all(np.diff(column) == 1.0) and column[0] == np.floor(column[0]))


SAMPLES_BACK_SHARE = 0.3
SAMPLES_BACK_MIN_ROWS = 20
"""A headerless first column going back in this share of its steps or more, over at least
this many rows, is samples, not a time: a sensor's values go back in about half of theirs,
a clock hardly ever (a few rows say too little either way)."""


def _refuse_samples_taken_for_time(path: Path, column: npt.NDArray[np.float64]) -> None:
    """Refuse a headerless file whose first column, taken for its time by position, goes up
    and down as samples do (several sensors' values side by side, no time): it needs a rate,
    not a better clock."""
    if column.size < SAMPLES_BACK_MIN_ROWS:
        return
    back = float(np.mean(np.diff(column) < 0))
    if back >= SAMPLES_BACK_SHARE:
        raise RecordingError(
            f"{path}: a CSV of bare values needs its sample rate: give --rate HZ (its first "
            f"column goes back in {back:.0%} of its steps: samples, not a time)"
        )


def _looks_like_times(cells: list[str]) -> bool:
    try:
        _parse_time(cells[0])
    except ValueError:
        return False
    return all(_NUMBER.match(c) for c in cells[1:])


PACKET_MIN_WIDTH = 8
"""A headerless row of this many values or more, with no time column, is one packet of a
single sensor's samples (no sensor here has more than three components)."""
LOGGING_JITTER_S = 0.1
LOGGING_JITTER_SAMPLES = 3.0
"""Stamps that stray no further than the larger of these (seconds, sample intervals) from
one steady rate are a logger's clock (a PC stamping rows as a serial line delivers them, a
millisecond clock under a faster rate): the samples are evenly spaced at that rate. Nothing
the detector reports is finer than a tenth of a second, nor than a sample."""
LOGGING_SPAN_SHARE = 0.05
"""...and no further than this share of the span they cover: the rate read from them is then
right to a few per cent. A clock that stalls (a window's 207 rows stamped within 0.1 s, up
to 14 ms apart) keeps within the jitter allowed and says nothing of the rate."""


def _nominal_hz(rate: float) -> float:
    """A whole-Hz rate within 100 ppm is the one meant: epoch seconds in a float carry only
    ~0.2 us, and a logger's clock drifts."""
    return float(round(rate)) if abs(round(rate) - rate) <= 1e-4 * rate else rate


def _clock_like(column: npt.NDArray[np.float64]) -> bool:
    """Whether a headerless column beside a row counter is a logger's clock (epoch time,
    or time since it booted): going forward (a stamp may repeat or step back a little,
    never for long), as no sensor's samples do."""
    if column.size < 3 or not column[-1] > column[0]:
        return False
    return bool(np.mean(np.diff(column) < 0) < 0.01)


HEADER_KINDS = {
    "seismic": {"geo", "geophone", "seis", "seismic", "seismometer"},
    "pir": {"pir"},
    "magnetometer": {"mag", "magnetometer", "magnetic", "magx", "magy", "magz"},
}
"""The first word of a value column's header that says which kind of sensor wrote it
(``mag_x``, ``pir``, ``geo1``, ``Seismic (counts)``)."""


def _column_kinds(header: list[str] | None, width: int) -> list[str | None] | None:
    """The kind of sensor each value column's header names (None for a label), or None
    when a column's header names none."""
    if header is None or len(header) < width:
        return None
    kinds: list[str | None] = []
    for cell in header[-width:]:
        name = cell.strip("\"' ").lower()
        if name in ANNOTATION_NAMES:
            kinds.append(None)
            continue
        words = re.findall(r"[a-z]+", name)
        kind = next((k for k, w in HEADER_KINDS.items() if words and words[0] in w), None)
        if kind is None:
            return None
        kinds.append(kind)
    return kinds


def header_kind(header: list[str] | None, width: int) -> str | None:
    """The kind of sensor every value column's header names, if they all name one."""
    kinds = set(_column_kinds(header, width) or ()) - {None}
    return kinds.pop() if len(kinds) == 1 else None


def _mixed_kinds(header: list[str] | None, width: int) -> list[str | None] | None:
    """Per value column, the kind its header names, when the columns name two kinds or
    more (a unit's logger writing every sensor into one table); else None."""
    kinds = _column_kinds(header, width)
    return kinds if kinds is not None and len(set(kinds) - {None}) >= 2 else None


def _label_columns(
    header: list[str] | None, values: npt.NDArray[np.float64], kind: str, lead: int
) -> list[tuple[int, str]]:
    """The value columns that annotate the samples rather than hold them, as (index,
    name): headed as a label, or, in a file without a header, a last column of nothing but
    0 and 1 where the sensor has no on/off output of its own (a PIR's motion flag is one).
    ``lead``: the file's columns before the values (row number, time)."""
    width = values.shape[1]
    if width < 2:
        return []
    if header is not None and len(header) >= width:
        names = header[-width:]  # after a time or row-number column
        found = [(i, repr(h)) for i, h in enumerate(names) if h.strip("\"' ") in ANNOTATION_NAMES]
        return found if len(found) < width else []
    last = values[:, -1]
    if header is None and kind != "pir" and bool(np.all((last == 0.0) | (last == 1.0))):
        return [(width - 1, f"{lead + width} (only 0 and 1)")]
    return []


def _clock_columns(header: list[str] | None, width: int, labels: set[int]) -> list[tuple[int, str]]:
    """The value columns headed as a time (a logger writing its clock twice: ``time,
    time_ms, value``), as (index, name): fed to the detector, a clock is a ramp that never
    stops."""
    if header is None or len(header) < width:
        return []
    names = header[-width:]
    return [
        (i, repr(h)) for i, h in enumerate(names) if i not in labels and time_unit(h) is not None
    ]


NOMINAL_SHARE = 0.5
"""Stamps that wander off any steady rate (a logger's buffer replayed in bursts, pauses)
still give the rate when at least this share of their steps keep one interval."""


def _logged_not_sampled(
    path: Path, t: npt.NDArray[np.float64], rows: list[tuple[int, str]], rate: float | None
) -> tuple[str, float] | None:
    """``(note, rate)`` when the time column stamps when rows were logged, not when each
    sample was taken: some steps repeat, go back or are uneven, and the samples are
    taken as evenly spaced, at the rate the stamps keep overall (or ``rate``, when given).
    None when the stamps are a sampling clock, with whole gaps or none."""
    if t.size < 2:
        return None
    steps = np.diff(t)
    dt = float(np.median(steps))
    uneven = steps <= 0
    if dt > 0:
        uneven |= np.abs(steps / dt - np.rint(steps / dt)) > 0.1
    if not uneven.any():
        return None
    count = f"{int(uneven.sum())} of {steps.size} steps repeat, go back or are uneven"
    span = float(t[-1] - t[0])
    steady = (t.size - 1) / span if span > 0 else 0.0
    off = np.abs(t - t[0] - np.arange(t.size) / steady) if steady else np.full(t.size, np.inf)
    stray = float(np.max(off))
    if rate is not None:
        return (
            f"the time column is not a sampling clock ({count}): samples taken as evenly "
            f"spaced at the --rate given, {rate:g} Hz",
            rate,
        )
    packets = _packet_stamps(t)
    if packets is not None:
        return packets
    loose = stray > LOGGING_SPAN_SHARE * span
    if steady and not loose and stray <= max(LOGGING_JITTER_S, LOGGING_JITTER_SAMPLES / steady):
        steady = _nominal_hz(steady)
        return (
            f"the time column stamps when rows were logged ({count}, at most "
            f"{stray * 1000:.0f} ms off a steady rate): samples taken as evenly spaced at "
            f"{steady:.6g} Hz",
            steady,
        )
    nominal = dt > 0 and float(np.mean(np.abs(steps - dt) <= 0.1 * dt)) >= NOMINAL_SHARE
    if nominal:
        # Bursts and pauses, but a step the logger keeps most of the time: its interval.
        every = _nominal_hz(1.0 / dt)
        return (
            f"the time column is not a sampling clock ({count}, up to {stray:.3g} s off any "
            f"steady rate): samples taken as evenly spaced at its usual step, "
            f"{dt * 1000:.4g} ms ({every:.6g} Hz); give --rate HZ if that is not the "
            f"sensor's rate",
            every,
        )
    worst = int(np.argmax(off)) if steady else int(np.flatnonzero(uneven)[0]) + 1
    if not steady:
        how_far = "it never advances"
    elif loose:
        how_far = f"{t.size} rows within {span:.3g} s, up to {stray:.3g} s off a steady rate"
    else:
        how_far = f"up to {stray:.3g} s off any steady rate"
    raise RecordingError(
        f"{path} line {rows[worst][0]}: the time column is not a sampling clock ({count}, "
        f"{how_far}): if the samples are evenly spaced, give --rate HZ; else resample the "
        "file first"
    )


PACKET_SHARE = 0.8
"""Rows stamped a packet at a time: most steps repeat a stamp, and at least this share of
the packets (the last aside, which a clip may cut short) hold as many rows as is usual."""


def _packet_stamps(t: npt.NDArray[np.float64]) -> tuple[str, float] | None:
    """``(note, rate)`` when the rows carry the stamp of the packet they came in (a node
    sending 500 samples at a time, flattened to one row a sample): the rate is the packets'
    step per sample, as for a logger's JSON packets. None otherwise."""
    steps = np.diff(t)
    if float(np.mean(steps == 0.0)) < 0.5:
        return None
    starts = np.flatnonzero(np.r_[True, steps != 0.0])
    sizes = np.diff(np.r_[starts, t.size])
    if starts.size < 3 or np.any(np.diff(t[starts]) < 0.0):
        return None
    usual = int(np.median(sizes[:-1]))
    if usual < 2 or float(np.mean(sizes[:-1] == usual)) < PACKET_SHARE:
        return None  # a row a stamp, then a clock that stalls: no packets
    step = step_per_sample(t[starts], sizes.tolist())
    if not step > 0.0:
        return None
    return (
        f"the rows carry their packet's stamp ({usual} rows a stamp): samples taken as evenly "
        f"spaced at {1.0 / step:.6g} Hz (the median over runs of {PACKET_SPAN} packets); give "
        "--rate HZ if the node's own rate is known",
        1.0 / step,
    )


def _unit_from_rate(t: npt.NDArray[np.float64], rate: float) -> tuple[npt.NDArray[np.float64], str]:
    """Times written without a unit, in seconds, unless the ``--rate`` given is a thousand
    (or a million) times the rate they keep as seconds: they are then milli- (micro-)
    seconds, as a logger's clock since boot often is, with a note saying so."""
    span = float(t[-1] - t[0]) if t.size >= 2 else 0.0
    if span <= 0:
        return t, ""
    as_seconds = (t.size - 1) / span
    for scale, unit in ((1e-3, "milliseconds"), (1e-6, "microseconds")):
        if abs(rate * scale - as_seconds) <= 0.01 * rate * scale:
            return t * scale, f"the time column read in {unit}, as --rate {rate:g} says"
    return t, ""


def _place_by_time(
    path: Path,
    t: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None, float, float]:
    if t.size < 2:
        raise RecordingError(f"{path}: one row is not enough to know the sample rate")
    steps = np.diff(t)  # all positive whole multiples of one interval (_logged_not_sampled)
    k = np.rint(steps / float(np.median(steps)))
    index = np.concatenate(([0], np.cumsum(k).astype(np.int64)))
    n = int(index[-1]) + 1
    if n > 4 * t.size + 1000:
        raise RecordingError(f"{path}: the time column has gaps longer than the data itself")
    data = np.zeros((n, values.shape[1]))
    data[index] = values
    valid = np.zeros(n, dtype=bool)
    valid[index] = True
    # The whole span gives the rate far more precisely than one step (epoch seconds in a
    # float carry only ~0.2 us); a nominal whole-Hz rate within 100 ppm is what was meant.
    rate = _nominal_hz(float(index[-1] / (t[-1] - t[0])))
    return data, (None if valid.all() else valid), rate, float(t[0])


def write(rec: Recording, path: Path, channel: Channel) -> None:
    meta = {
        "name": channel.name,
        "kind": channel.kind,
        "rate": channel.rate,
        "scale": channel.scale,
        "start_time": rec.start_time,
        "components": list(channel.components),
        "units": channel.units,
    }
    t = channel.times()
    keep = channel.valid if channel.valid is not None else np.ones(len(channel), dtype=bool)
    cols = np.column_stack((t[keep], channel.data[keep]))
    header = "time_s," + ",".join(channel.components)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(META_PREFIX + json.dumps(meta) + "\n")
        fh.write(header + "\n")
        np.savetxt(fh, cols, delimiter=",", fmt="%.12g")
