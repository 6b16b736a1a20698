"""JSON as loggers write it: one sensor per file.

Accepted layouts (a JSON document, or JSON Lines: one value per line):

- an array of numbers, or of rows of numbers (one per component): the rate must be given
  (``--rate``);
- packets: objects each holding one array of samples (``data``, ``samples``, ``values`` ...;
  the only array of numbers in the object when it has another name), or one array per
  axis (``x``, ``y``, ``z``; ``mag_x`` ...), in order, written back to back; a top-level
  object may hold the packets in an array, or be one packet;
- records of one sample each (``{"timestamp": 1775337356666, "value": 2048}``, objects with
  no arrays, as a database or a message log exports them): the table they are, read as a
  CSV with the fields for columns (a time field by its name, labels left out).

The rate is ``--rate``, else a field of the object or its packets, or of an object in
them (``rate``, ``sample_rate``, ``fs`` ...; ``{"meta": {"fs": 500}}``), else the packets'
clock: a field named as a CSV time column is (``time_ms``, ``t_us``, ``timestamp``, ...:
``csv_format.time_unit``, epoch times told apart by size), whose typical step over ten
packets is their samples.
Without any of those the file is refused, and the message says what rates the packets'
number fields would give. Samples are taken as they are (raw counts stay counts; scale
does not matter to the detector).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import RecordingError
from drivers.recordings.common import (
    PACKET_SPAN,
    check_rate,
    default_name,
    file_kind,
    make_channel,
    step_per_sample,
)
from drivers.recordings.csv_format import header_kind, in_seconds, time_unit
from drivers.recordings.csv_format import read as read_table
from drivers.recordings.waveforms import Recording

SAMPLE_FIELDS = ("data", "samples", "values", "value", "counts", "raw", "adc", "signal", "y")
RATE_FIELDS = ("rate", "sample_rate", "sampling_rate", "samplerate", "fs", "rate_hz", "sps")
PACKET_KEYS = ("packets", "records", "messages", "data", "items")
BACK_SHARE = 0.1
"""A packet clock that goes back at more than this share of its steps does not give the
rate: the packets are not in its order (a clock set back once, as NTP may, is not that)."""


def read(path: Path, *, sensor: str | None, rate: float | None) -> Recording:
    doc = _load(path)
    packets = _packets(path, doc)
    if packets is None:
        data = _samples(path, doc, "the file")
        return _recording(path, data, sensor, check_rate(_needs_rate(path, rate), path), 0.0)
    if _records(packets):
        return _read_records(path, packets, sensor=sensor, rate=rate)
    keys = _sample_fields(path, packets[0])
    pieces = []
    for i, packet in enumerate(packets):
        missing = [k for k in keys if not isinstance(packet, dict) or k not in packet]
        if missing:
            raise RecordingError(f"{path}: packet {i + 1} has no {missing[0]!r} array")
        parts = [_samples(path, packet[k], f"packet {i + 1}'s {k!r}") for k in keys]
        if len({len(part) for part in parts}) > 1:
            lengths = ", ".join(f"{k} {len(part)}" for k, part in zip(keys, parts, strict=True))
            raise RecordingError(
                f"{path}: packet {i + 1}'s components differ in length ({lengths})"
            )
        pieces.append(np.hstack(parts))
    widths = {p.shape[1] for p in pieces}
    if len(widths) > 1:
        raise RecordingError(f"{path}: packets with {sorted(widths)} components each")
    data = np.concatenate(pieces)
    found_rate, start, how = _rate_of(path, doc, packets, [len(p) for p in pieces])
    if rate is None and found_rate is None:
        raise RecordingError(f"{path}: {how}")
    named = header_kind(keys, len(keys)) if len(keys) > 1 else None  # mag_x, mag_y, mag_z
    rec = _recording(path, data, sensor, check_rate(rate or found_rate, path), start, named)
    rec.meta["rate_from"] = "given" if rate is not None else "file"
    rec.meta["packets"] = len(packets)
    if rate is None and how:
        # An estimate from when the packets were stamped: say so, the rate matters.
        rec.meta["rate_note"] = how
    return rec


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if len(lines) < 2:
            raise RecordingError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        values = []
        for n, line in enumerate(lines, start=1):
            try:
                values.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise RecordingError(
                    f"{path}: not valid JSON, nor JSON Lines (line {n}: {err.msg})"
                ) from None
        return values


def _packets(path: Path, doc: Any) -> list[dict[str, Any]] | None:
    """The packets of the document, or None when it is a plain array of samples."""
    if isinstance(doc, list):
        if doc and all(isinstance(p, dict) for p in doc):
            return doc
        if any(isinstance(p, dict) for p in doc):
            raise RecordingError(f"{path}: an array that mixes objects and samples")
        return None
    if isinstance(doc, dict):
        for key in PACKET_KEYS:
            inner = doc.get(key)
            if isinstance(inner, list) and inner and all(isinstance(p, dict) for p in inner):
                return inner
        return [doc]
    raise RecordingError(f"{path}: a JSON {type(doc).__name__}, not samples")


def _records(packets: list[dict[str, Any]]) -> bool:
    """Whether the objects are records of one sample each (``{"timestamp": ..., "value":
    2048}``, as a database or a message log exports them): no arrays, only numbers (and
    strings: ISO times, labels), and more than one of them."""
    return (
        len(packets) >= 2
        and all(all(not isinstance(v, (list, dict)) for v in p.values()) for p in packets[:100])
        and any(_is_number(v) for v in packets[0].values())
    )


def _read_records(
    path: Path, records: list[dict[str, Any]], *, sensor: str | None, rate: float | None
) -> Recording:
    """Records of one sample each, read as the table they are: their fields the columns,
    in the first record's order, as the CSV reader reads a table (a time column by its name,
    labels left out). A message that names a line of the table names the record."""
    every = list(records[0])
    # Text beside the samples (a device id, a note) annotates them; a time may be text.
    text = [k for k, v in records[0].items() if isinstance(v, str) and time_unit(k) is None]
    fields = [k for k in every if k not in text]
    if not any(time_unit(k) is None for k in fields):
        raise RecordingError(
            f"{path}: records with no field of samples (fields: {', '.join(every)})"
        )
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    table.writerow(fields)
    for i, record in enumerate(records):
        if list(record) != every:
            raise RecordingError(
                f"{path}: record {i + 1} has the fields {', '.join(record)}, not those of "
                f"the first ({', '.join(every)})"
            )
        table.writerow(["null" if record[k] is None else record[k] for k in fields])
    try:
        rec = read_table(path, sensor=sensor, rate=rate, text=out.getvalue())
    except RecordingError as exc:
        # The table's line n + 1 is record n (its line 1 is the field names); its columns
        # are the records' fields.
        words = re.sub(r"\bline (\d+)", lambda m: f"record {int(m[1]) - 1}", str(exc))
        words = re.sub(
            r"\bcolumn (\d+)",
            lambda m: f"field {fields[int(m[1]) - 1]!r}" if int(m[1]) <= len(fields) else m[0],
            words,
        )
        words = words.replace(
            "a CSV of bare values needs its sample rate",
            "records without a time field need their sample rate",
        )
        raise RecordingError(words.replace("(or add a time column)", "(or a time field)")) from None
    rec.meta["format"] = "json"
    rec.meta["records"] = len(records)
    notes = (
        [str(rec.meta["read_note"]).replace("column", "field")] if "read_note" in rec.meta else []
    )
    if text:
        notes.append(f"field {', '.join(map(repr, text))} is text, not samples: left out")
    if notes:
        rec.meta["read_note"] = "; ".join(notes)
    return rec


COMPONENT_LETTERS = frozenset("xyzne123")
"""What the name of one axis's array ends in: ``x``, ``mag_y``, ``acc-z``, ``ch1``."""


def _components(packet: dict[str, Any], arrays: list[str]) -> list[str] | None:
    """The arrays that are one sensor's components side by side (``{"x": [...], "y": [...],
    "z": [...]}``, ``mag_x`` ..., ``ch1`` ...), or None: two or three arrays of single
    numbers of one length, named alike but for an axis letter or number at the end (after
    a separator, unless a number). ``x`` and ``y`` alone are a plot's time and value."""
    names = [a.lower().strip() for a in arrays]
    if not 2 <= len(names) <= 3 or set(names) == {"x", "y"}:
        return None
    stems = {n[:-1] for n in names}
    if len(stems) != 1 or any(n[-1] not in COMPONENT_LETTERS for n in names):
        return None
    stem = stems.pop()
    if stem and stem[-1] not in "_- ." and not all(n[-1].isdigit() for n in names):
        return None
    if any(isinstance(packet[a][0], list) for a in arrays):
        return None
    return arrays if len({len(packet[a]) for a in arrays}) == 1 else None


def _sample_fields(path: Path, packet: dict[str, Any]) -> list[str]:
    """The array of samples in a packet, or the arrays of its components."""
    arrays = [k for k, v in packet.items() if isinstance(v, list) and v and _numeric(v)]
    components = _components(packet, arrays)
    if components is not None:
        return components
    named = [k for k in arrays if k.lower() in SAMPLE_FIELDS]
    if len(named) == 1 or (len(arrays) == 1 and (named := arrays)):
        return named[:1]
    if not arrays:
        raise RecordingError(
            f"{path}: no array of samples in the first packet (fields: {', '.join(packet)})"
        )
    raise RecordingError(
        f"{path}: which array holds the samples? {', '.join(arrays)}: name it one of "
        f"{', '.join(SAMPLE_FIELDS)}"
    )


def _numeric(values: list[Any]) -> bool:
    first = values[0]
    if isinstance(first, list):
        return bool(first) and all(_is_number(v) for v in first)
    return _is_number(first)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _samples(path: Path, values: Any, what: str) -> np.ndarray:
    try:
        data = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise RecordingError(f"{path}: {what} is not an array of numbers") from None
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0:
        raise RecordingError(f"{path}: {what} holds no samples (shape {data.shape})")
    return data


def _needs_rate(path: Path, rate: float | None) -> float:
    if rate is None:
        raise RecordingError(f"{path}: a JSON array of bare samples needs its rate: give --rate HZ")
    return rate


def _rate_of(
    path: Path, doc: Any, packets: list[dict[str, Any]], sizes: list[int]
) -> tuple[float | None, float, str]:
    """``(rate or None, start time, words)`` from the file's own fields: the words say how
    a packet clock gave the rate, or why no rate was found."""
    holders = ([doc] if isinstance(doc, dict) else []) + packets[:1]
    # One level down as well: {"meta": {"sampling_rate": 500}, "samples": [...]}.
    holders += [v for h in list(holders) for v in h.values() if isinstance(v, dict)]
    for holder in holders:
        for key, value in holder.items():
            if key.lower() in RATE_FIELDS and _is_number(value) and value > 0:
                return float(value), 0.0, ""
    hints = []
    for key in packets[0]:
        times = [p.get(key) for p in packets]
        if len(packets) < 2 or not all(_is_number(t) for t in times):
            continue
        t = np.asarray(times, dtype=np.float64)
        unit = time_unit(key)  # a clock named as a CSV time column is read as one
        if unit is not None:
            back = int(np.sum(np.diff(t) < 0))
            if back > BACK_SHARE * (t.size - 1):
                # Packets not in the order of their clock (shuffled, reversed): its steps
                # say nothing of the rate, and back to back the samples are not in order.
                hints.append(
                    f"{key!r} goes back at {back} of its {t.size - 1} steps: out of order?"
                )
                continue
            seconds = in_seconds(t, unit)
            step = step_per_sample(seconds, sizes)
            if not step > 0:
                continue
            return (
                1.0 / step,
                float(seconds[0]) if seconds[0] > 1e8 else 0.0,
                f"{1.0 / step:.6g} Hz from the packets' {key!r} ({sizes[0]} samples every "
                f"{step * sizes[0] * 1e3:.4g} ms, the median over runs of {PACKET_SPAN} packets); "
                "give --rate HZ if the node's own rate is known",
            )
        step = step_per_sample(t, sizes)
        if not step > 0:
            continue
        hints += [
            f"{1.0 / (step * scale):.6g} Hz if {key!r} counts {name}"
            for name, scale in (("microseconds", 1e-6), ("milliseconds", 1e-3))
            if 1.0 <= 1.0 / (step * scale) <= 100_000.0
        ]
    hint = f" (the packets' {'; '.join(hints)})" if hints else ""
    return None, 0.0, f"no sample rate in the file: give --rate HZ{hint}"


def _recording(
    path: Path,
    data: np.ndarray,
    sensor: str | None,
    rate: float,
    start: float,
    named: str | None = None,
) -> Recording:
    kind = file_kind(path, sensor, named)
    name = default_name(kind)
    ch = make_channel(path, name, kind, rate, data)
    return Recording({name: ch}, [], start, {"format": "json", "files": [str(path)]})
