"""NPZ (numpy zip): the project's own lossless multi-sensor layout, and bare arrays.

Layout written here (``format`` = ``ugs-recording``, version 1):

- ``__ugs__``: a 0-d string array holding JSON: ``format``, ``version``, ``start_time``,
  ``meta`` (scenario, seed ...) and ``channels``: a list of ``{name, kind, rate, scale,
  components, bits, info}`` in order;
- ``<name>.data``: float64 ``(n, components)`` in physical units;
- ``<name>.valid``: bool ``(n,)``, only when some samples are invalid (dropouts).

Anything else is read as a *bare* file: ``.npy``, or an ``.npz`` whose array is named
``data`` (or is the only array), ``(n,)`` or ``(n, components)``, with the rate from
``--rate`` or a scalar ``rate``/``fs``/``sample_rate`` entry; values are physical units.
"""

from __future__ import annotations

import io
import json
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from drivers.errors import RecordingError
from drivers.recordings.common import check_kind, check_rate, default_name, make_channel
from drivers.recordings.waveforms import Channel, Recording, jsonable

HEADER_KEY = "__ugs__"
FORMAT = "ugs-recording"
VERSION = 1
RATE_KEYS = ("rate", "fs", "sample_rate", "sampling_rate")


def write(rec: Recording, path: Path) -> None:
    arrays: dict[str, Any] = {}
    channels = []
    for ch in rec.channels.values():
        arrays[f"{ch.name}.data"] = np.ascontiguousarray(ch.data, dtype=np.float64)
        if ch.valid is not None:
            arrays[f"{ch.name}.valid"] = ch.valid
        channels.append(
            {
                "name": ch.name,
                "kind": ch.kind,
                "rate": ch.rate,
                "scale": ch.scale,
                "components": list(ch.components),
                "bits": ch.bits,
                "info": ch.info,
            }
        )
    header = {
        "format": FORMAT,
        "version": VERSION,
        "start_time": rec.start_time,
        "meta": rec.meta,
        "channels": channels,
    }
    arrays[HEADER_KEY] = np.array(json.dumps(jsonable(header), allow_nan=False))
    # np.savez adds ".npz" to names without it: write through a file object instead.
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        raw = path.read_bytes()
        if raw[:6] == b"\x93NUMPY":
            return {"data": np.load(io.BytesIO(raw), allow_pickle=False)}
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise RecordingError(f"{path}: damaged or truncated numpy file ({exc})") from None
    except (ValueError, SyntaxError, tokenize.TokenError) as exc:
        # numpy parses an array's header as a Python literal: damage there is a syntax error.
        raise RecordingError(f"{path}: cannot read numpy arrays ({exc})") from None


def read(path: Path, *, sensor: str | None, rate: float | None) -> Recording:
    arrays = _load(path)
    if HEADER_KEY in arrays:
        return _read_ours(path, arrays, sensor, rate)
    return _read_bare(path, arrays, sensor, rate)


def _read_ours(
    path: Path, arrays: dict[str, np.ndarray], sensor: str | None, rate: float | None
) -> Recording:
    try:
        header = json.loads(str(arrays[HEADER_KEY]))
        specs = list(header["channels"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordingError(f"{path}: unreadable {FORMAT} header ({exc})") from None
    if header.get("format") != FORMAT or int(header.get("version", 0)) > VERSION:
        raise RecordingError(
            f"{path}: {header.get('format')} version {header.get('version')} "
            f"is not a layout this version reads"
        )
    channels: dict[str, Channel] = {}
    for spec in specs:
        name, kind = str(spec["name"]), str(spec["kind"])
        if sensor is not None and kind != sensor:
            continue
        ch_rate = float(spec["rate"])
        if rate is not None and abs(rate - ch_rate) > 1e-6 * ch_rate:
            raise RecordingError(
                f"{path}: {name} was recorded at {ch_rate:g} Hz; --rate {rate:g} contradicts "
                f"the file (leave --rate out)"
            )
        if f"{name}.data" not in arrays:
            raise RecordingError(f"{path}: channel {name} has no {name}.data array")
        data = arrays[f"{name}.data"]
        if not np.issubdtype(data.dtype, np.number) or data.ndim not in (1, 2):
            raise RecordingError(f"{path}: {name}.data is not a 1-D or 2-D numeric array")
        valid = arrays.get(f"{name}.valid")
        ch = make_channel(
            path,
            name,
            kind,
            ch_rate,
            data,
            scale=float(spec["scale"]),
            components=tuple(spec.get("components") or ()) or None,
            valid=None if valid is None else valid.astype(bool),
            info=dict(spec.get("info") or {}),
        )
        ch.bits = spec.get("bits")
        channels[name] = ch
    if not channels:
        have = sorted({str(s["kind"]) for s in specs})
        raise RecordingError(f"{path}: no {sensor} channel in the file (has {', '.join(have)})")
    return Recording(
        channels, [], float(header.get("start_time") or 0.0), dict(header.get("meta") or {})
    )


def _read_bare(
    path: Path, arrays: dict[str, np.ndarray], sensor: str | None, rate: float | None
) -> Recording:
    file_rate = None
    for key in RATE_KEYS:
        if key in arrays and arrays[key].size == 1:
            file_rate = float(arrays[key].reshape(-1)[0])
    candidates = {
        k: v
        for k, v in arrays.items()
        if v.ndim in (1, 2) and v.size > 1 and np.issubdtype(v.dtype, np.number)
    }
    if "data" in candidates:
        data = candidates["data"]
    elif len(candidates) == 1:
        data = next(iter(candidates.values()))
    elif not candidates and any(v.size <= 1 and v.ndim in (1, 2) for v in arrays.values()):
        # A logger that stopped before its first sample still writes its (empty) array.
        shapes = ", ".join(f"{k} {' x '.join(map(str, v.shape))}" for k, v in arrays.items())
        raise RecordingError(f"{path}: holds no samples (arrays: {shapes})")
    else:
        names = ", ".join(sorted(arrays)) or "none"
        raise RecordingError(
            f"{path}: not a ugs-gateway recording and no single 'data' array to read "
            f"(arrays: {names})"
        )
    if rate is None:
        rate = file_rate
    if rate is None:
        raise RecordingError(f"{path}: a bare array needs its sample rate: give --rate HZ")
    kind = check_kind(sensor, path)
    if data.ndim == 2 and data.shape[0] < data.shape[1]:
        data = data.T  # (components, n) as some tools save it
    name = default_name(kind)
    ch = make_channel(path, name, kind, check_rate(rate, path), data)
    return Recording({name: ch}, [], 0.0, {"format": "npz", "files": [str(path)]})
