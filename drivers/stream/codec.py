"""The seismic digitizer's frame format (docs/seismic-protocol.md): pure functions over bytes.

``encode_frame`` builds one frame; ``decode`` takes whatever bytes arrived and returns the
complete, CRC-checked frames in them plus how many bytes were used, so the caller keeps the
rest for the next call. ``decode`` never raises: garbage is skipped (and counted), a frame
with a bad CRC is rejected and the search resumes one byte after its sync word, because a
corrupted length field must not make us skip the good frames behind it.

Samples of all the frames in one call are unpacked together with numpy, which is what makes
decoding cheap enough for a Raspberry-Pi-class unit.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt

SYNC = b"\xa5\x5a"
VERSION = 1
HEADER = struct.Struct("<2sBBHIBB")  # sync, version, format, seq, counter, samples, status
HEADER_SIZE = HEADER.size  # 12
CRC = struct.Struct("<I")
CRC_SIZE = CRC.size  # 4
OVERHEAD = HEADER_SIZE + CRC_SIZE
MAX_SAMPLES = 255
MAX_CHANNELS = 3

# Rate codes 1..14 (bits 3-7 of the format byte); 0 and 15..31 are invalid.
SAMPLE_RATES: tuple[int, ...] = (
    250, 300, 400, 500, 600, 800, 1000, 1200, 1600, 2000, 2400, 3000, 3200, 4000,
)  # fmt: skip
_RATE_CODES = {rate: code for code, rate in enumerate(SAMPLE_RATES, start=1)}

# Status flags (last header byte).
FLAG_CLIP = 0x01
"""At least one sample of this frame is at full scale (the ADC clipped)."""
FLAG_OVERFLOW = 0x02
"""The device's own buffer overflowed before this frame: its counter skips the lost samples."""
FLAG_BOOT = 0x04
"""First frame since the device powered up or reset: its counter started again."""
FLAGS_RESERVED = 0xF8

FULL_SCALE = {24: (-(1 << 23), (1 << 23) - 1), 32: (-(1 << 31), (1 << 31) - 1)}
MAX_FRAME = OVERHEAD + MAX_SAMPLES * MAX_CHANNELS * 4

Samples = npt.NDArray[np.int32]


@dataclass(slots=True)
class Frame:
    """One decoded frame: ``samples`` has shape ``(n, channels)``.

    (Not frozen: a frozen dataclass costs a microsecond more per frame, a quarter of decoding.)
    """

    seq: int
    counter: int
    """Device sample counter of ``samples[0]`` (32 bits, wraps)."""
    rate: int
    bits: int
    flags: int
    samples: Samples

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    def __len__(self) -> int:
        return int(self.samples.shape[0])


@dataclass(frozen=True, slots=True)
class DecodeResult:
    frames: list[Frame]
    consumed: int
    """Bytes of the input used up; the caller keeps ``buf[consumed:]`` for the next call."""
    resyncs: int = 0
    """Times a good frame was found again after bytes had to be skipped."""
    crc_errors: int = 0
    garbage_bytes: int = 0
    lost: bool = False
    """The input ended inside skipped bytes: pass it to the next call (see ``decode``)."""
    errors: list[str] = field(default_factory=list)
    """Why bytes were rejected, for a technician (at most a few lines per call)."""


def rate_code(rate: float) -> int:
    """The format-byte code of a sample rate; ValueError for a rate the protocol lacks."""
    code = _RATE_CODES.get(int(rate)) if float(rate).is_integer() else None
    if code is None:
        raise ValueError(
            f"{rate:g} Hz is not a digitizer rate (one of {', '.join(map(str, SAMPLE_RATES))})"
        )
    return code


def frame_size(n: int, channels: int, bits: int) -> int:
    return OVERHEAD + n * channels * (bits // 8)


def encode_frame(
    samples: npt.ArrayLike,
    *,
    seq: int,
    counter: int,
    rate: float,
    bits: int = 24,
    flags: int = 0,
) -> bytes:
    """One frame carrying ``samples`` (``(n, channels)`` or ``(n,)`` raw integers).

    ``seq`` and ``counter`` wrap at 16 and 32 bits as on the device. Raises ValueError for
    what the format cannot carry (shape, rate, width, values beyond full scale).
    """
    data = np.asarray(samples)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or not 1 <= data.shape[0] <= MAX_SAMPLES:
        raise ValueError(f"a frame carries 1-{MAX_SAMPLES} samples of shape (n, channels)")
    n, channels = data.shape
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"a frame carries 1-{MAX_CHANNELS} channels, not {channels}")
    if bits not in FULL_SCALE:
        raise ValueError("samples are 24 or 32 bits")
    if flags & ~0xFF or flags & FLAGS_RESERVED:
        raise ValueError(f"status flags {flags:#x} use reserved bits")
    if not np.issubdtype(data.dtype, np.integer):
        raise ValueError("samples are raw integers")
    lo, hi = FULL_SCALE[bits]
    if data.size and (int(data.min()) < lo or int(data.max()) > hi):
        raise ValueError(f"samples beyond {bits}-bit full scale ({lo}..{hi})")
    values = np.ascontiguousarray(data, dtype="<i4")
    payload = values.tobytes() if bits == 32 else values.view(np.uint8).reshape(-1, 4)[:, :3]
    fmt = channels | (0x04 if bits == 32 else 0) | (rate_code(rate) << 3)
    header = HEADER.pack(SYNC, VERSION, fmt, seq & 0xFFFF, counter & 0xFFFFFFFF, n, flags)
    body = header + (payload if isinstance(payload, bytes) else payload.tobytes())
    return body + CRC.pack(zlib.crc32(body))


def decode(buf: bytes | bytearray | memoryview, *, lost: bool = False) -> DecodeResult:
    """Every complete, valid frame in ``buf``; never raises.

    ``lost`` says that the bytes just before ``buf`` were being skipped (the previous
    result's ``lost``), so that one run of garbage split across calls counts one resync.

    Bytes before a good frame that are not part of one are garbage. A sync word whose header
    is impossible, or whose frame fails its CRC, is skipped by one byte so that a frame
    starting inside it is still found. The tail that may begin an unfinished frame (at most
    ``MAX_FRAME`` bytes) is left unconsumed.
    """
    data = buf if isinstance(buf, bytes | bytearray) else bytes(buf)
    view = memoryview(data)
    size = len(data)
    found: list[tuple[int, int, int, int, int, int, int, int]] = []
    resyncs = crc_errors = garbage = 0
    errors: list[str] = []
    pos = 0  # where the search continues
    skip_from = 0  # first byte not yet accounted for (frame or garbage)
    consumed = 0
    while True:
        at = data.find(SYNC, pos)
        if at < 0:
            # Keep a last byte that may be the first half of a sync word.
            consumed = size - 1 if size > skip_from and data[-1] == SYNC[0] else size
            break
        if at + HEADER_SIZE > size:
            consumed = at
            break
        _, version, fmt, seq, counter, n, flags = HEADER.unpack_from(data, at)
        channels, code = fmt & 0x03, fmt >> 3
        if (
            version != VERSION
            or channels == 0
            or not 1 <= code <= len(SAMPLE_RATES)
            or n == 0
            or flags & FLAGS_RESERVED
        ):
            pos = at + 1
            continue
        width = 4 if fmt & 0x04 else 3
        end = at + HEADER_SIZE + n * channels * width
        if end + CRC_SIZE > size:
            consumed = at
            break
        if zlib.crc32(view[at:end]) != CRC.unpack_from(data, end)[0]:
            crc_errors += 1
            if len(errors) < 3:
                errors.append(f"CRC error in frame seq {seq} ({end + CRC_SIZE - at} bytes)")
            pos = at + 1
            continue
        if at > skip_from or lost:
            garbage += at - skip_from
            resyncs += 1
            lost = False
        found.append((at + HEADER_SIZE, end, seq, counter, SAMPLE_RATES[code - 1], width, n, flags))
        pos = skip_from = end + CRC_SIZE
    if consumed > skip_from:
        garbage += consumed - skip_from
        lost = True
    if garbage and len(errors) < 3:
        errors.append(f"skipped {garbage} bytes that were not valid frames")
    return DecodeResult(
        frames=_unpack(view, found),
        consumed=consumed,
        resyncs=resyncs,
        crc_errors=crc_errors,
        garbage_bytes=garbage,
        lost=lost,
        errors=errors,
    )


def _unpack(
    view: memoryview, found: list[tuple[int, int, int, int, int, int, int, int]]
) -> list[Frame]:
    """Turn the payloads of all good frames into int32 arrays, one numpy pass per layout."""
    if not found:
        return []
    # Frames of one layout (width, channels) share one array; each frame gets a row slice.
    layouts: dict[tuple[int, int], list[int]] = {}
    for i, item in enumerate(found):
        width, n = item[5], item[6]
        layouts.setdefault((width, (item[1] - item[0]) // (width * n)), []).append(i)
    frames: list[Frame | None] = [None] * len(found)
    for (width, channels), members in layouts.items():
        payload = b"".join([view[found[i][0] : found[i][1]] for i in members])
        rows = _to_int32(payload, width).reshape(-1, channels)
        row = 0
        for i in members:
            _, _, seq, counter, rate, _, n, flags = found[i]
            frames[i] = Frame(seq, counter, rate, width * 8, flags, rows[row : row + n])
            row += n
    return cast(list[Frame], frames)


def _to_int32(payload: bytes, width: int) -> Samples:
    if width == 4:
        return np.frombuffer(payload, dtype="<i4").astype(np.int32, copy=False)
    raw = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3)
    # Put the three bytes in the top of a 32-bit word, then shift down arithmetically:
    # one copy and one shift, and the sign extends by itself.
    wide = np.zeros((raw.shape[0], 4), dtype=np.uint8)
    wide[:, 1:] = raw
    return (wide.view("<i4").reshape(-1) >> 8).astype(np.int32, copy=False)


class StreamDecoder:
    """``decode`` over a stream: keeps the unfinished tail between calls."""

    def __init__(self) -> None:
        self._pending = b""
        self._lost = False

    def feed(self, data: bytes) -> DecodeResult:
        buf = self._pending + data if self._pending else data
        result = decode(buf, lost=self._lost)
        self._pending = bytes(buf[result.consumed :])
        self._lost = result.lost
        return result

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget the tail (after the port was reopened: it will never be completed)."""
        self._pending = b""
        self._lost = False
