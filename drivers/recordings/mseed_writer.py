"""Streaming miniSEED recorder for field units: append blocks, rotate files, cap the disk.

Blocks of raw device counts are appended per sensor; full records (Steim-2, 512 bytes by
default) are written as soon as they fill, partial ones at ``flush(force=True)`` (every
``flush_interval_s`` of data, at rotation and at close). Files rotate at multiples of
``rotate_s`` of data time (hourly by default) and are named
``{net}.{sta}.{YYYYmmddTHHMMSSZ}.mseed`` after the start of their period. When the
directory's recordings exceed ``max_bytes``, the oldest files are deleted.

Crash safety: records are appended to a file opened ``O_APPEND`` and files are fsync'ed when
they are closed. A ``write()`` of whole records is not atomic: the kernel copies it page by
page and a fatal signal (SIGKILL, the OOM killer) or a power cut can stop it between two
pages, mid-record. So every record says ``"streamed": true`` in its extra header, which lets
readers take such a file up to its last whole record, and a writer that reopens a file cuts
a torn record off before it appends. A process killed at any moment therefore leaves every
earlier file intact and the current one readable up to its last whole record; restarting in
the same period appends to the same file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.block import SampleBlock
from drivers.durable import fsync_dir
from drivers.errors import RecordingError
from drivers.recordings.common import default_components
from drivers.recordings.mseed_format import (
    SOURCE_CODE,
    band_code,
    complete_length,
    steim2_fits,
)
from drivers.recordings.waveforms import scale_of, units_of

log = logging.getLogger(__name__)

CODE = re.compile(r"^[A-Z0-9]{1,8}$")
SUFFIX = ".mseed"


@dataclass
class _Stream:
    name: str
    kind: str
    rate: float
    components: tuple[str, ...]
    sourceids: list[str]
    extra: str
    traces: Any  # pymseed.MS3TraceList used as a rolling buffer
    wide: bool = False
    last: npt.NDArray[np.int32] | None = None
    samples: int = 0
    pending: int = 0


@dataclass
class _Stats:
    files_opened: int = 0
    files_deleted: int = 0
    bytes_written: int = 0
    records_written: int = 0
    write_errors: int = 0
    last_error: str | None = None
    deleted: list[str] = field(default_factory=list)


class MiniSeedWriter:
    """Record sample blocks into rotating, size-capped miniSEED files in ``directory``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        station: str = "UGS",
        network: str = "XX",
        rotate_s: float = 3600.0,
        max_bytes: int | None = None,
        record_length: int = 512,
        flush_interval_s: float = 60.0,
    ) -> None:
        if not CODE.match(station) or not CODE.match(network):
            raise RecordingError(
                f"station {station!r} and network {network!r} must be 1-8 capital letters/digits"
            )
        if rotate_s <= 0 or flush_interval_s <= 0:
            raise RecordingError("rotate_s and flush_interval_s must be positive")
        if max_bytes is not None and max_bytes <= 0:
            raise RecordingError("max_bytes must be positive")
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(
                f"{self.directory}: cannot create the recording directory ({exc.strerror or exc})"
            ) from None
        self.station = station
        self.network = network
        self.rotate_s = float(rotate_s)
        self.max_bytes = max_bytes
        self.record_length = record_length
        self.flush_interval_s = float(flush_interval_s)
        self._streams: dict[str, _Stream] = {}
        self._per_kind: dict[str, int] = {}
        self._fd: int | None = None
        self._path: Path | None = None
        self._period: int | None = None
        self._last_force: float | None = None
        self._stats = _Stats()

    # --- appending ---------------------------------------------------------------------

    def append(self, block: SampleBlock, *, components: Sequence[str] | None = None) -> None:
        """Append one driver block (raw counts, host-clock time of its first sample)."""
        self.append_samples(
            block.sensor,
            block.t0,
            block.rate,
            block.data,
            kind=block.kind,
            scale=block.scale,
            offset=block.offset,
            components=components,
        )

    def append_samples(
        self,
        name: str,
        t0: float,
        rate: float,
        data: npt.ArrayLike,
        *,
        kind: str = "seismic",
        scale: float | None = None,
        offset: float = 0.0,
        components: Sequence[str] | None = None,
    ) -> None:
        """Append raw integer samples ``(n,)`` or ``(n, components)`` starting at epoch
        ``t0``."""
        counts = np.asarray(data)
        if counts.ndim == 1:
            counts = counts[:, None]
        if counts.shape[0] == 0:
            return
        if not np.issubdtype(counts.dtype, np.integer):
            raise RecordingError(f"{name}: the recorder takes raw integer counts")
        counts = np.ascontiguousarray(counts, dtype=np.int32)
        stream = self._stream(name, kind, rate, counts.shape[1], scale, offset, components)
        period = int(t0 // self.rotate_s)
        if self._period is None or period > self._period:
            self._rotate(period)
        if self._last_force is None:
            self._last_force = t0
        start_ns = round(t0 * 1e9)
        if not stream.wide and _too_wide(stream.last, counts):
            # Steim-2 cannot hold this jump: flush what is buffered, continue as plain int32.
            self._write(self._pack(stream, force=True))
            stream.wide = True
        for col, sid in enumerate(stream.sourceids):
            stream.traces.add_data(
                sid, np.ascontiguousarray(counts[:, col]), "i", rate, starttime=start_ns
            )
        stream.last = counts[-1]
        stream.samples += counts.shape[0]
        stream.pending += counts.shape[0]
        if t0 - self._last_force >= self.flush_interval_s:
            self.flush(force=True)
            self._last_force = t0
        else:
            self._write(self._pack(stream, force=False))

    def _stream(
        self,
        name: str,
        kind: str,
        rate: float,
        ncomp: int,
        scale: float | None,
        offset: float,
        components: Sequence[str] | None,
    ) -> _Stream:
        stream = self._streams.get(name)
        if stream is not None:
            if len(stream.components) != ncomp or abs(stream.rate - rate) > 1e-9 * rate:
                raise RecordingError(
                    f"{name}: shape or rate changed mid-recording ({len(stream.components)} "
                    f"components at {stream.rate:g} Hz, now {ncomp} at {rate:g} Hz)"
                )
            return stream
        from pymseed import MS3TraceList

        comps = tuple(components) if components else default_components(kind, ncomp)
        if len(comps) != ncomp:
            raise RecordingError(f"{name}: {len(comps)} component names for {ncomp} columns")
        index = self._per_kind.get(kind, 0)
        self._per_kind[kind] = index + 1
        band = band_code(kind, rate)
        source = SOURCE_CODE.get(kind, "Y")
        sids = [
            f"FDSN:{self.network}_{self.station}_{index:02d}_{band}_{source}_{c[:1]}" for c in comps
        ]
        extra = json.dumps(
            {
                "UGS": {
                    "name": name,
                    "kind": kind,
                    "scale": scale if scale is not None else scale_of(kind),
                    "offset": offset,
                    "units": units_of(kind),
                    "components": list(comps),
                    "streamed": True,
                }
            }
        )
        stream = _Stream(name, kind, float(rate), comps, sids, extra, MS3TraceList())
        self._streams[name] = stream
        return stream

    # --- records and files ---------------------------------------------------------------

    def _pack(self, stream: _Stream, *, force: bool) -> list[bytes]:
        from pymseed import DataEncoding

        if stream.pending == 0:
            return []
        encoding = DataEncoding.INT32 if stream.wide else DataEncoding.STEIM2
        records = list(
            stream.traces.generate(
                max_record_length=self.record_length,
                encoding=encoding,
                format_version=3,
                extra_headers=stream.extra,
                flush_data=force,
                remove_packed=True,
            )
        )
        if force:
            stream.pending = 0
        return records

    def flush(self, *, force: bool = False) -> None:
        """Write every full record; with ``force`` also the partial ones, then fsync."""
        records: list[bytes] = []
        for stream in self._streams.values():
            records += self._pack(stream, force=force)
        self._write(records)
        if force and self._fd is not None:
            os.fsync(self._fd)
            self._enforce_cap()

    def _write(self, records: list[bytes]) -> None:
        if not records:
            return
        if self._fd is None:
            self._open()
        assert self._fd is not None
        payload = b"".join(records)
        view = memoryview(payload)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self._stats.write_errors += 1
            self._stats.last_error = f"{self._path}: {exc.strerror or exc}"
            log.error("recording: cannot write %s (%s)", self._path, exc.strerror or exc)
            return
        self._stats.bytes_written += len(payload)
        self._stats.records_written += len(records)

    def file_name(self, period: int) -> str:
        start = datetime.fromtimestamp(period * self.rotate_s, tz=UTC)
        return f"{self.network}.{self.station}.{start:%Y%m%dT%H%M%SZ}{SUFFIX}"

    def _rotate(self, period: int) -> None:
        if self._period is not None:
            self.flush(force=True)
            self._close_file()
        self._period = period
        self._path = self.directory / self.file_name(period)

    def _open(self) -> None:
        """Create (or reopen for appending) the current period's file at its first record,
        so a recorder stopped between files leaves no empty file behind."""
        path = self._path or self.directory / self.file_name(self._period or 0)
        try:
            _cut_torn_record(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise RecordingError(
                f"{path}: cannot open for recording ({exc.strerror or exc})"
            ) from None
        self._path = path
        self._stats.files_opened += 1
        with contextlib.suppress(OSError):  # the file itself is written either way
            fsync_dir(self.directory)
        self._enforce_cap()

    def _close_file(self) -> None:
        if self._fd is None:
            self._path = None
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
            self._path = None

    def files(self) -> list[Path]:
        """This station's recording files, oldest first."""
        prefix = f"{self.network}.{self.station}."
        return sorted(
            p
            for p in self.directory.iterdir()
            if p.name.startswith(prefix) and p.name.endswith(SUFFIX)
        )

    def _enforce_cap(self) -> None:
        if self.max_bytes is None:
            return
        files = self.files()
        sizes = {p: _size(p) for p in files}
        total = sum(sizes.values())
        for p in files:
            if total <= self.max_bytes:
                break
            if p == self._path:
                continue
            try:
                p.unlink()
            except OSError as exc:
                log.warning(
                    "recording: cannot delete %s to stay under the cap (%s)", p, exc.strerror or exc
                )
                continue
            total -= sizes[p]
            self._stats.files_deleted += 1
            self._stats.deleted = [*self._stats.deleted[-9:], p.name]
            log.info("recording: deleted %s to stay under %d bytes", p.name, self.max_bytes)

    def close(self) -> None:
        """Write everything buffered and close the current file."""
        if self._period is not None:
            self.flush(force=True)
            self._close_file()

    def __enter__(self) -> MiniSeedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """Plain-JSON state for the health report."""
        s = self._stats
        return {
            "directory": str(self.directory),
            "current_file": self._path.name if self._path else None,
            "streams": {
                n: {"samples": st.samples, "components": list(st.components), "rate": st.rate}
                for n, st in self._streams.items()
            },
            "files_opened": s.files_opened,
            "files_deleted": s.files_deleted,
            "bytes_written": s.bytes_written,
            "records_written": s.records_written,
            "write_errors": s.write_errors,
            "last_error": s.last_error,
            "checked_at": time.time(),
        }


def _too_wide(last: npt.NDArray[np.int32] | None, counts: npt.NDArray[np.int32]) -> bool:
    values = counts if last is None else np.concatenate((last[None, :], counts))
    return not steim2_fits(values)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _cut_torn_record(path: Path) -> None:
    """Truncate a file left with a torn last record, so new records follow whole ones."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        whole = complete_length(path)
    except RecordingError as exc:
        raise OSError(f"will not append to a damaged recording ({exc})") from None
    if whole is not None:
        log.warning("recording: %s ended in a torn record; cut it at %d bytes", path, whole)
        os.truncate(path, whole)
