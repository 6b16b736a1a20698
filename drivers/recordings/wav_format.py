"""WAV (RIFF/WAVE): one sensor per file, its components as the file's channels.

Read: integer PCM of 8, 16, 24 or 32 bits, IEEE float (32/64), and WAVE_FORMAT_EXTENSIBLE
wrappers of both; the rate comes from the header. Integer samples are device counts (times
the channel's scale gives physical units); float samples are taken as physical units.

Written files are plain PCM at the device's width (24-bit geophone, 16-bit PIR, 32-bit
magnetometer), readable by any audio tool, plus an ``ugsm`` chunk (ignored by other readers)
holding JSON with the channel name, kind, scale, start time and dropout ranges, so a file
read back is the same channel.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.recordings.common import (
    default_name,
    file_kind,
    invalid_runs,
    kind_assumed,
    make_channel,
    valid_from_runs,
)
from drivers.recordings.waveforms import Channel, Recording

FORMAT_PCM = 1
FORMAT_FLOAT = 3
FORMAT_EXTENSIBLE = 0xFFFE
META_CHUNK = b"ugsm"
OPEN_SIZES = (0x7FFFFFFF, 0xFFFFFFFF)
"""Data chunk sizes a recorder writes first and patches when it closes the file: one that
stopped without closing (power lost, a node's logger cut off) leaves them in."""


def _chunks(raw: bytes, path: Path) -> tuple[dict[bytes, bytes], bool]:
    """The file's chunks by id, and whether its data chunk was left open (its size a
    placeholder: the data runs to the end of the file)."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise RecordingError(f"{path}: not a RIFF/WAVE file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if cid == b"data" and size in OPEN_SIZES and pos + 8 + size > len(raw):
            chunks.setdefault(cid, raw[pos + 8 :])
            return _checked(chunks, path), True
        body = raw[pos + 8 : pos + 8 + size]
        if len(body) < size:
            if cid == b"data":
                raise RecordingError(
                    f"{path}: truncated WAV: the data chunk should hold {size} bytes but the "
                    f"file ends after {len(body)} (was the recording cut short?)"
                )
            raise RecordingError(f"{path}: truncated WAV ({cid!r} chunk cut short)")
        chunks.setdefault(cid, body)
        pos += 8 + size + (size & 1)
    return _checked(chunks, path), False


def _checked(chunks: dict[bytes, bytes], path: Path) -> dict[bytes, bytes]:
    if b"fmt " not in chunks:
        raise RecordingError(f"{path}: WAV without a 'fmt ' chunk")
    if b"data" not in chunks:
        raise RecordingError(f"{path}: WAV without a 'data' chunk (truncated?)")
    return chunks


def _decode(
    fmt: bytes, data: bytes, path: Path, *, open_ended: bool = False
) -> tuple[npt.NDArray[Any], int, float, bool]:
    """Samples (n, channels), bits, rate, is_float. Data ``open_ended`` (a recorder stopped
    mid-write) may end in part of a frame, which is dropped."""
    if len(fmt) < 16:
        raise RecordingError(f"{path}: WAV 'fmt ' chunk too short")
    tag, nch, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    if nch == 0 or rate == 0 or bits == 0:
        raise RecordingError(f"{path}: WAV header says {nch} channels at {rate} Hz, {bits} bits")
    width = (bits + 7) // 8
    if align != nch * width:
        align = nch * width
    if open_ended:
        data = data[: len(data) - len(data) % align]
    if len(data) % align:
        raise RecordingError(
            f"{path}: truncated WAV: {len(data)} data bytes is not a whole number of "
            f"{nch}-channel {bits}-bit frames"
        )
    n = len(data) // align
    if n == 0:
        raise RecordingError(f"{path}: WAV holds no samples")
    if tag == FORMAT_FLOAT and width in (4, 8):
        arr = np.frombuffer(data, dtype="<f4" if width == 4 else "<f8").reshape(n, nch)
        return arr.astype(np.float64), bits, float(rate), True
    if tag != FORMAT_PCM:
        raise RecordingError(f"{path}: WAV encoding {tag:#x} is not PCM or float")
    if width == 1:
        arr = np.frombuffer(data, dtype=np.uint8).astype(np.int32) - 128
    elif width == 2:
        arr = np.frombuffer(data, dtype="<i2").astype(np.int32)
    elif width == 3:
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        arr = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        arr = np.where(arr >= 1 << 23, arr - (1 << 24), arr)
    elif width == 4:
        arr = np.frombuffer(data, dtype="<i4").astype(np.int32)
    else:
        raise RecordingError(f"{path}: {bits}-bit PCM is not supported (8/16/24/32)")
    return arr.reshape(n, nch), bits, float(rate), False


def read(path: Path, *, sensor: str | None, rate: float | None, scale: float | None) -> Recording:
    raw = path.read_bytes()
    chunks, open_ended = _chunks(raw, path)
    samples, bits, header_rate, is_float = _decode(
        chunks[b"fmt "], chunks[b"data"], path, open_ended=open_ended
    )
    meta: dict[str, Any] = {}
    if META_CHUNK in chunks:
        try:
            meta = dict(json.loads(chunks[META_CHUNK].rstrip(b"\0").decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            meta = {}
    kind = file_kind(path, sensor, meta.get("kind"))
    ch_rate = float(meta.get("rate") or header_rate)
    if rate is not None:
        # A geophone stored in an audio container often carries a made-up header rate.
        ch_rate = float(rate)
    ch_scale = float(scale or meta.get("scale") or 0.0) or None
    from drivers.recordings.waveforms import scale_of

    unit = ch_scale or scale_of(kind)
    data = samples if is_float else samples.astype(np.float64) * unit
    comps = tuple(meta.get("components") or ()) or None
    if comps is not None and len(comps) != data.shape[1]:
        comps = None
    name = str(meta.get("name") or "") or default_name(kind)
    valid = valid_from_runs(data.shape[0], list(meta.get("invalid") or []))
    ch = make_channel(
        path,
        name,
        kind,
        ch_rate,
        data,
        scale=unit,
        components=comps,
        valid=valid,
        info={"wav_bits": bits},
    )
    info: dict[str, Any] = {
        "format": "wav",
        "files": [str(path)],
        "kind_assumed": kind_assumed(sensor, meta.get("kind")),
    }
    if open_ended:
        info["read_note"] = (
            "its data size is the placeholder a recorder writes before it closes the file "
            f"(it never did): read the {len(data) / ch_rate:.1f} s it holds"
        )
    return Recording({name: ch}, [], float(meta.get("start_time") or 0.0), info)


def write(rec: Recording, path: Path, channel: Channel) -> None:
    width = {16: 2, 24: 3}.get(channel.device_bits, 4)
    counts = channel.to_counts(width * 8).astype("<i4")
    nch = counts.shape[1]
    if width == 4:
        body = counts.tobytes()
    elif width == 2:
        body = counts.astype("<i2").tobytes()
    else:
        body = counts.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    rate = round(channel.rate)
    if abs(rate - channel.rate) > 1e-9:
        raise RecordingError(f"{path}: WAV needs a whole-number rate, not {channel.rate:g} Hz")
    fmt = struct.pack("<HHIIHH", FORMAT_PCM, nch, rate, rate * nch * width, nch * width, width * 8)
    meta = json.dumps(
        {
            "name": channel.name,
            "kind": channel.kind,
            "rate": channel.rate,
            "scale": channel.scale,
            "start_time": rec.start_time,
            "components": list(channel.components),
            "invalid": invalid_runs(channel.valid),
        }
    ).encode()
    parts = [b"fmt ", struct.pack("<I", len(fmt)), fmt]
    parts += [META_CHUNK, struct.pack("<I", len(meta)), meta + (b"\0" if len(meta) & 1 else b"")]
    parts += [b"data", struct.pack("<I", len(body)), body + (b"\0" if len(body) & 1 else b"")]
    payload = b"WAVE" + b"".join(parts)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(payload)) + payload)
