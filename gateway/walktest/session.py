"""One walk test: the unit's sensors read through its config, the detector running on them,
everything recorded, and the technician's marks.

Reader threads only call :meth:`WalkTest.submit`; the thread that runs the walk test calls
:meth:`WalkTest.process`, which writes each block to the recording, feeds the detector and
the level meters, and returns the detections. :meth:`WalkTest.finish` closes the recording
and writes its truth file (the marks, in the format ``eval`` reads) and ``walktest.json``,
which ``ugs-gateway calibrate`` reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from drivers.block import SampleBlock
from drivers.recordings.mseed_writer import MiniSeedWriter
from drivers.recordings.waveforms import TRUTH_FORMAT, TRUTH_VERSION, jsonable
from dsp.classifier import Model
from dsp.detector import StreamingDetector
from dsp.records import Detection
from gateway.config import GatewayConfig
from gateway.field_recorder import station_code
from gateway.service import sensor_specs
from gateway.walktest.files import MANIFEST, TRUTH, WALKTEST_FORMAT, WALKTEST_VERSION
from gateway.walktest.levels import LevelMeter
from gateway.walktest.summary import PassOutcome, clock_time, outcomes, unmarked
from hil.marks import PASSES, Mark, truth_events

log = logging.getLogger(__name__)

QUIET_S = 5.0
"""A sensor that delivered nothing for this long is reported as quiet (dead?)."""
FLUSH_S = 10.0
"""The recording is flushed to disk at least this often (a walk test may end abruptly)."""


@dataclass
class Result:
    """What a finished walk test leaves behind."""

    directory: Path
    passes: list[PassOutcome]
    stray: list[Detection]
    incidents: list[str]
    files: list[str]
    manifest: dict[str, Any] = field(default_factory=dict)


class WalkTest:
    """Blocks and marks in; a recording, detections and levels out."""

    def __init__(
        self,
        config: GatewayConfig,
        directory: Path,
        *,
        model: Model | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.directory = directory
        self.clock = clock
        specs = sensor_specs(config.sensors)
        self.specs = {s.name: s for s in specs}
        self.detector = StreamingDetector(config.dsp, specs, model, keep_candidates=True)
        self.model = self.detector.model
        record = config.record
        self.writer = MiniSeedWriter(
            directory,
            station=record.station or station_code(config.node.id),
            network=record.network,
            rotate_s=record.rotate_s,
            flush_interval_s=FLUSH_S,
        )
        self.meters = {s.name: LevelMeter(s.kind) for s in specs}
        self.marks: list[Mark] = []
        self.detections: list[Detection] = []
        self.incidents: list[str] = []
        self.started = clock()
        self.first_t0: float | None = None
        self.last_t1: dict[str, float] = {}
        self.quiet: set[str] = set()
        self.blocks = 0
        self._queue: deque[SampleBlock] = deque()
        self._cond = threading.Condition()

    # -- any thread -----------------------------------------------------------------------

    def submit(self, block: SampleBlock) -> None:
        with self._cond:
            self._queue.append(block)
            self._cond.notify()

    # -- the walk test's thread --------------------------------------------------------------

    def process(self, timeout: float = 0.1) -> list[Detection]:
        """Run what the sensors delivered (waiting up to ``timeout`` for the first block);
        the new detections."""
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout)
            blocks = list(self._queue)
            self._queue.clear()
        found: list[Detection] = []
        for block in blocks:
            found += self._block(block)
        self._watch(self.clock())
        self.detections += found
        return found

    def _block(self, block: SampleBlock) -> list[Detection]:
        if block.sensor not in self.specs or not len(block):
            return []
        self.blocks += 1
        self.writer.append(block)
        if self.first_t0 is None or block.t0 < self.first_t0:
            self.first_t0 = block.t0
        self.last_t1[block.sensor] = max(self.last_t1.get(block.sensor, block.t1), block.t1)
        data = block.physical()
        self.meters[block.sensor].feed(data, block.rate)
        return self.detector.feed(block.sensor, block.t0, data, block.gap)

    def _watch(self, now: float) -> None:
        """Note sensors that stop delivering, and come back."""
        for name in self.specs:
            last = self.last_t1.get(name)
            silent = now - (last if last is not None else self.started)
            if silent > QUIET_S and name not in self.quiet:
                self.quiet.add(name)
                since = clock_time(last) if last is not None else "the start"
                self.incidents.append(f"{name} delivered nothing from {since}")
                log.warning("%s: no data for %.0f s", name, silent)
            elif silent <= QUIET_S and name in self.quiet:
                self.quiet.discard(name)
                self.incidents.append(f"{name} delivering again from {clock_time(now)}")

    def mark(self, kind: str, range_m: float | None = None, at: float | None = None) -> Mark:
        """A mark now (or ``at``): ``walk``, ``run``, ``vehicle``, ``nothing``."""
        mark = Mark(self.clock() if at is None else at, kind, range_m)
        self.marks.append(mark)
        return mark

    def set_range(self, range_m: float) -> Mark | None:
        """Give the latest pass its distance (None if no pass is open)."""
        for mark in reversed(self.marks):
            if mark.kind in PASSES:
                mark.range_m = range_m
                return mark
            if mark.kind == "nothing":
                return None
        return None

    def current(self) -> Mark | None:
        """The pass going on now, if any."""
        if self.marks and self.marks[-1].kind in PASSES:
            return self.marks[-1]
        return None

    def end_time(self) -> float:
        return max(self.last_t1.values(), default=self.clock())

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> Result:
        """Flush the detector, close the recording, write the truth file and
        ``walktest.json``; what came of each pass."""
        self.detections += self.detector.flush()
        self.writer.close()
        end = self.end_time()
        events = self.detector.sensor_events
        results = outcomes(
            self.marks,
            end,
            self.detections,
            events,
            self.detector.candidates,
            self.config.dsp.classifier,
        )
        stray = unmarked(self.marks, end, self.detections)
        files = sorted(p.name for p in self.writer.files())
        start = self.first_t0
        seen = {r.index: bool(r.seen_by) for r in results}
        if start is not None:
            truth = truth_events(self.marks, start, end)
            for ev in truth:
                ev.extra["detectable"] = seen.get(int(ev.extra["mark"]), True)
            header = {
                "format": TRUTH_FORMAT,
                "version": TRUTH_VERSION,
                "start_time": start,
                "duration_s": round(end - start, 3),
                "meta": {"walktest": True, "node": self.config.node.id},
                "events": [ev.to_json() for ev in truth],
            }
            (self.directory / TRUTH).write_text(
                json.dumps(jsonable(header), indent=1, allow_nan=False) + "\n"
            )
        else:
            self.incidents.append("no sensor delivered anything: nothing was recorded")
        manifest = {
            "format": WALKTEST_FORMAT,
            "version": WALKTEST_VERSION,
            "node": self.config.node.id,
            "site": self.config.node.site,
            "started": _iso(self.started),
            "ended": _iso(self.clock()),
            "start_time": start,
            "end_time": end if start is not None else None,
            "sensors": [
                {"name": s.name, "kind": s.kind, "rate": s.rate, "columns": s.channels}
                for s in self.specs.values()
            ],
            "model": {"name": self.model.name, "hash": self.model.digest},
            "dsp": self.config.dsp.model_dump(mode="json"),
            "marks": [m.to_json() for m in self.marks],
            "passes": [r.to_json() for r in results],
            "reports_outside_passes": len(stray),
            "detections": [_detection_json(d) for d in self.detections],
            "incidents": list(self.incidents),
            "files": files,
            "truth": TRUTH if start is not None else None,
        }
        (self.directory / MANIFEST).write_text(
            json.dumps(jsonable(manifest), indent=1, allow_nan=False) + "\n"
        )
        return Result(self.directory, results, stray, list(self.incidents), files, manifest)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _detection_json(d: Detection) -> dict[str, Any]:
    return {
        "class": d.cls,
        "conf": d.conf,
        "t0": round(d.t0, 3),
        "t1": round(d.t1, 3),
        "sensors": list(d.sensors),
        "snr_db": d.features.get("snr_db"),
    }
