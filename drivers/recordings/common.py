"""Helpers shared by the file formats: naming, checking and assembling channels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.kinds import KINDS
from drivers.recordings.waveforms import Channel, scale_of, units_of

FloatArray = npt.NDArray[np.float64]


def default_components(kind: str, count: int) -> tuple[str, ...]:
    """Component names when a file does not say (the kind's descriptor): vertical geophone,
    PIR level (+ motion flag), magnetometer north/east/down; else ``1``, ``2``, ..."""
    known = KINDS.get(kind)
    if known is None:
        return tuple(str(i + 1) for i in range(count))
    return known.component_names(count)


def most_components(kind: str) -> int:
    """How many values per sample a sensor of ``kind`` delivers at most (0: not known)."""
    known = KINDS.get(kind)
    if known is None:
        return 0
    return len(known.columns) or known.max_components


def default_name(kind: str) -> str:
    """The name of a kind's first sensor (``geo1``), for files that do not name theirs."""
    known = KINDS.get(kind)
    return known.default_name if known else f"{kind[:3]}1"


def check_kind(kind: str | None, path: Path) -> str:
    if kind is None:
        return "seismic"
    if kind not in KINDS:
        raise RecordingError(f"{path}: unknown sensor kind {kind!r} (one of {', '.join(KINDS)})")
    return kind


def file_kind(path: Path, sensor: str | None, recorded: object) -> str:
    """The kind of a single-sensor file: what the file says it is, else ``sensor``; a
    ``sensor`` that contradicts the file is refused rather than relabelling the data."""
    if isinstance(recorded, str) and recorded:
        kind = check_kind(recorded, path)
        if sensor is not None and sensor != kind:
            raise RecordingError(f"{path}: no {sensor} channel in the file (has {kind})")
        return kind
    return check_kind(sensor, path)


def kind_assumed(sensor: str | None, recorded: object) -> bool:
    """Whether ``file_kind`` fell back on its default: neither the file nor the caller named
    the sensor's kind (a bare CSV of one column may be any sensor's)."""
    return sensor is None and not (isinstance(recorded, str) and recorded)


def check_rate(rate: float | None, path: Path, what: str = "sample rate") -> float:
    if rate is None or not np.isfinite(rate) or rate <= 0:
        raise RecordingError(f"{path}: {what} must be a positive number of Hz, not {rate!r}")
    return float(rate)


SAMPLE_RANGE = (1e-100, 1e100)
"""The magnitudes a signal may have in its file's units. Scale does not matter to the
detector, but its energies are squares and fourth powers of the samples in float64: beyond
1e100 they overflow, below 1e-100 they vanish. No unit of any sensor comes near either."""


def check_samples(data: FloatArray, path: Path, rate: float, name: str) -> None:
    """NaN or infinite samples are refused with the time of the first one, and so is a
    signal whose size is outside ``SAMPLE_RANGE`` (a file in units that make no sense)."""
    bad = ~np.isfinite(data)
    if np.any(bad):
        first = int(np.flatnonzero(bad.any(axis=1) if bad.ndim == 2 else bad)[0])
        raise RecordingError(
            f"{path}: {name} has {int(bad.sum())} NaN/infinite sample(s), the first at sample "
            f"{first} ({first / rate:.3f} s); repair or cut the file"
        )
    if data.size == 0:
        return
    smallest, largest = SAMPLE_RANGE
    peak = float(np.max(np.abs(data)))
    swing = float(np.max(np.abs(data - np.median(data, axis=0))))
    if peak > largest or 0.0 < swing < smallest:
        size = f"samples up to {peak:.3g}" if peak > largest else f"a signal of {swing:.3g}"
        raise RecordingError(
            f"{path}: {name} holds {size}, outside the {smallest:g} to {largest:g} the "
            f"detector computes in: write the file in other units"
        )


def make_channel(
    path: Path,
    name: str,
    kind: str,
    rate: float,
    data: npt.ArrayLike,
    *,
    scale: float | None = None,
    components: tuple[str, ...] | None = None,
    valid: npt.NDArray[np.bool_] | None = None,
    info: dict[str, Any] | None = None,
) -> Channel:
    """A checked channel: data must be non-empty and finite."""
    array = np.asarray(data, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.size == 0 or array.shape[0] == 0:
        raise RecordingError(f"{path}: no samples for {name}")
    most = most_components(kind)
    if most and array.shape[1] > most:
        raise RecordingError(
            f"{path}: {array.shape[1]} value columns for {name}, but a {kind} sensor gives at "
            f"most {most}; keep only its own columns (labels and counters are not samples; "
            "one file per sensor, or a CSV header naming each column's sensor: geo, pir, mag_x)"
        )
    check_samples(array, path, rate, name)
    comps = components or default_components(kind, array.shape[1])
    meta = {"file": str(path), "units": units_of(kind)}
    meta.update(info or {})
    return Channel(
        name=name,
        kind=kind,
        rate=rate,
        data=array,
        scale=float(scale if scale is not None else scale_of(kind)),
        valid=valid if valid is not None and not bool(np.all(valid)) else None,
        components=comps,
        info=meta,
    )


CONVENTIONAL_ORDER = ("Z", "N", "E", "1", "2", "3", "I", "M")
"""Component letters in seismology's order, for files that do not give their own."""

Piece = tuple[int, float, FloatArray]
"""One stretch of one component of a sensor: (column, start time in s, samples)."""


def in_order(letters: Iterable[str], order: Sequence[str] = CONVENTIONAL_ORDER) -> list[str]:
    """Component letters sorted by ``order``; letters it does not name go last, A-Z."""
    return sorted(letters, key=lambda c: (order.index(c) if c in order else len(order), c))


def grid_span(pieces: Sequence[Piece], rate: float) -> tuple[float, int]:
    """Start time and length in samples of the time grid that holds every piece."""
    start = min(t0 for _, t0, _ in pieces)
    end = max(t0 + x.size / rate for _, t0, x in pieces)
    return start, round((end - start) * rate)


def on_grid(
    pieces: Sequence[Piece], rate: float, columns: int, start: float, n: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """The pieces of one sensor on one grid of ``n`` samples from ``start``; a row is valid
    where a piece covers every column (gaps are zeros)."""
    data = np.zeros((n, columns))
    valid = np.zeros((n, columns), dtype=bool)
    for col, t0, x in pieces:
        i0 = round((t0 - start) * rate)
        i1 = min(n, i0 + x.size)
        data[i0:i1, col] = x[: i1 - i0]
        valid[i0:i1, col] = True
    return data, np.asarray(valid.all(axis=1))


def pad_front(
    data: FloatArray, valid: npt.NDArray[np.bool_], lead: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """A sensor that starts ``lead`` samples after the others, padded with invalid samples
    so that every channel of a recording starts together."""
    if lead <= 0:
        return data, valid
    return (
        np.concatenate((np.zeros((lead, data.shape[1])), data)),
        np.concatenate((np.zeros(lead, dtype=bool), valid)),
    )


def unique_name(wanted: str | None, kind: str, taken: set[str]) -> str:
    """``wanted`` if free, else ``geo1``, ``geo2`` ... by kind."""
    if wanted and wanted not in taken:
        return wanted
    prefix = KINDS[kind].name_prefix if kind in KINDS else kind[:3]
    k = 1
    while f"{prefix}{k}" in taken:
        k += 1
    return f"{prefix}{k}"


def invalid_runs(valid: npt.NDArray[np.bool_] | None) -> list[list[int]]:
    """``[[start, end), ...]`` sample ranges where ``valid`` is False."""
    if valid is None or bool(np.all(valid)):
        return []
    padded = np.concatenate(([True], valid, [True]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def valid_from_runs(n: int, runs: list[list[int]]) -> npt.NDArray[np.bool_] | None:
    if not runs:
        return None
    valid = np.ones(n, dtype=bool)
    for a, b in runs:
        valid[max(0, a) : min(n, b)] = False
    return valid


PACKET_SPAN = 10
"""Packets over which a packet clock's step is measured (``step_per_sample``)."""


def step_per_sample(t: npt.NDArray[np.float64], sizes: Sequence[int]) -> float:
    """A packet clock's step per sample, ``t`` stamping packets of ``sizes`` samples: the
    median over every run of ``PACKET_SPAN`` packets. Stamps of arrival come early and late
    by tens of milliseconds, and a node that paused leaves one long step; the median of many
    runs sees through both."""
    k = min(PACKET_SPAN, t.size - 1)
    ends = np.cumsum([0, *sizes])
    samples = (ends[k : t.size] - ends[: t.size - k]).astype(np.float64)
    return float(np.median((t[k:] - t[:-k]) / samples))
