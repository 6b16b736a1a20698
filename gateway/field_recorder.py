"""Field recording: what the sensors deliver, written to miniSEED on the unit.

``[record] mode = "continuous"`` writes every block into hourly files under a disk cap;
``mode = "snippets"`` keeps the last ``pre_s`` seconds in memory and writes one file per
detection covering ``t0 - pre_s`` .. ``t1 + post_s``. Both are read by ``ugs-gateway
analyze`` and played back by ``ugs-gateway hil --recording``: that is where developers' test
recordings come from.

The recorder has its own thread and a bounded queue: the pipeline only enqueues, so a slow
SD card never holds up detection; blocks that do not fit are dropped and counted.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from drivers.block import SampleBlock
from gateway.config_types import ConfigPath
from gateway.errors import RecordingError
from gateway.outbox.config import Size

if TYPE_CHECKING:
    from drivers.recordings.mseed_writer import MiniSeedWriter

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 4000
SNIPPET_WAIT_S = 30.0
"""A snippet is written once every sensor's data has passed its end, or this long after."""

LONGEST_EVENT_S = 180.0
"""Snippet mode keeps this much history beyond pre_s + post_s: a detection is only known once
its event has ended, and the snippet must still reach back to its start."""


class RecordConfig(BaseModel):
    """``[record]``: field recording to miniSEED (off by default)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Literal["off", "continuous", "snippets"] = "off"
    directory: ConfigPath | None = Field(
        default=None, description="where files go; default {node.state_dir}/recordings"
    )
    max_bytes: Size = Field(
        default=2 * 1024**3, description="recordings beyond this are deleted, oldest first"
    )
    rotate_s: float = Field(default=3600.0, ge=60.0, description="continuous: file length")
    pre_s: float = Field(default=10.0, ge=0, le=300, description="snippets: before the event")
    post_s: float = Field(default=10.0, ge=0, le=300, description="snippets: after the event")
    network: str = Field(default="XX", pattern=r"^[A-Z0-9]{1,8}$", description="SEED network")
    station: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9]{1,8}$",
        description="SEED station code; default from node.id",
    )

    def resolve_directory(self, state_dir: Path) -> Path:
        return self.directory if self.directory is not None else Path(state_dir) / "recordings"


def station_code(node_id: str) -> str:
    """A SEED station code (1-8 capital letters/digits) from a node id like ``ugs-0007``."""
    code = re.sub(r"[^A-Z0-9]", "", node_id.upper())
    return code[-8:] or "UGS"


@dataclass(frozen=True, slots=True)
class _Snippet:
    name: str
    t0: float
    t1: float


class FieldRecorder:
    """Writes blocks (and detection snippets) on its own thread."""

    def __init__(self, config: RecordConfig, *, state_dir: Path, node_id: str) -> None:
        self.config = config
        self.directory = config.resolve_directory(state_dir)
        self.station = config.station or station_code(node_id)
        self._queue: deque[SampleBlock | tuple[str, float, float]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self._errors = 0
        self._last_error: str | None = None
        self._snippets_written = 0
        # Snippet mode: recent blocks per sensor, and snippets waiting for their post-roll.
        self._recent: dict[str, deque[SampleBlock]] = {}
        self._waiting: list[_Snippet] = []
        self._writer: MiniSeedWriter | None = None
        if config.mode == "continuous":
            from drivers.recordings.mseed_writer import MiniSeedWriter

            self._writer = MiniSeedWriter(
                self.directory,
                station=self.station,
                network=config.network,
                rotate_s=config.rotate_s,
                max_bytes=config.max_bytes,
            )
        elif config.mode == "snippets":
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RecordingError(
                    f"{self.directory}: cannot create the recording directory "
                    f"({exc.strerror or exc})"
                ) from None

    # -- any thread ---------------------------------------------------------------------------

    def submit(self, block: SampleBlock) -> None:
        self._put(block)

    def detection(self, report_id: str, t0: float, t1: float) -> None:
        """Ask for a snippet around a detection (snippet mode; ignored otherwise)."""
        if self.config.mode == "snippets":
            self._put((report_id, t0, t1))

    def _put(self, item: SampleBlock | tuple[str, float, float]) -> None:
        with self._cond:
            if self._stopping:
                return
            if len(self._queue) >= QUEUE_BLOCKS:
                self._queue.popleft()
                self._dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        with self._cond:
            status: dict[str, Any] = {
                "mode": self.config.mode,
                "directory": str(self.directory),
                "queued": len(self._queue),
                "dropped_blocks": self._dropped,
                "errors": self._errors,
                "last_error": self._last_error,
            }
        if self.config.mode == "snippets":
            status["snippets_written"] = self._snippets_written
            status["snippets_waiting"] = len(self._waiting)
        elif self._writer is not None:
            status["writer"] = self._writer.status()
        return status

    # -- the recorder thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._stopping:
                    self._cond.wait(1.0)
                item = self._queue.popleft() if self._queue else None
                done = item is None and self._stopping
            if done:
                break
            try:
                if isinstance(item, SampleBlock):
                    self._block(item)
                elif item is not None:
                    self._request(*item)
                self._write_due_snippets(final=False)
            except Exception as exc:
                self._failed(exc)
        try:
            self._write_due_snippets(final=True)
            if self._writer is not None:
                self._writer.close()
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        with self._cond:
            self._errors += 1
            first = self._last_error is None
            self._last_error = f"{type(exc).__name__}: {exc}"
        # Every write error is counted; the log says it once, not a hundred times a second.
        if first:
            log.error("field recording failed: %s (recording goes on; see status)", exc)

    def _block(self, block: SampleBlock) -> None:
        if self._writer is not None:
            self._writer.append(block)
            return
        recent = self._recent.setdefault(block.sensor, deque())
        recent.append(block)
        keep_from = block.t1 - self.config.pre_s - self.config.post_s - LONGEST_EVENT_S
        while recent and recent[0].t1 < keep_from and not self._needed(recent[0]):
            recent.popleft()

    def _needed(self, block: SampleBlock) -> bool:
        return any(block.t1 > s.t0 and block.t0 < s.t1 for s in self._waiting)

    def _request(self, name: str, t0: float, t1: float) -> None:
        self._waiting.append(_Snippet(name, t0 - self.config.pre_s, t1 + self.config.post_s))

    def _write_due_snippets(self, *, final: bool) -> None:
        if not self._waiting:
            return
        latest = {name: recent[-1].t1 for name, recent in self._recent.items() if recent}
        newest = max(latest.values(), default=0.0)
        still: list[_Snippet] = []
        for snippet in self._waiting:
            passed = all(t >= snippet.t1 for t in latest.values())
            if final or passed or newest > snippet.t1 + SNIPPET_WAIT_S:
                self._write_snippet(snippet)
            else:
                still.append(snippet)
        self._waiting = still

    def _write_snippet(self, snippet: _Snippet) -> None:
        blocks = [
            b
            for recent in self._recent.values()
            for b in recent
            if b.t0 < snippet.t1 and b.t1 > snippet.t0
        ]
        if not blocks:
            return
        from drivers.recordings.mseed_writer import MiniSeedWriter

        target = self.directory / f"{snippet.name}.mseed"
        scratch = Path(tempfile.mkdtemp(prefix=".snippet-", dir=self.directory))
        try:
            writer = MiniSeedWriter(
                scratch, station=self.station, network=self.config.network, rotate_s=1e9
            )
            for block in blocks:
                writer.append(block)
            writer.close()
            (produced,) = writer.files()
            produced.replace(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._snippets_written += 1
        self._enforce_cap()
        log.info(
            "recorded %s (%.0f s of %d sensor(s))",
            target.name,
            snippet.t1 - snippet.t0,
            len({b.sensor for b in blocks}),
        )

    def _enforce_cap(self) -> None:
        files = sorted(self.directory.glob("*.mseed"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while files and total > self.config.max_bytes:
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)
