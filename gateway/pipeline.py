"""The pipeline: the one thread that owns the detector's state.

Reader threads only call :meth:`Pipeline.submit`, which enqueues a block and returns. The
pipeline thread feeds each block to the streaming detector and stores every detection in
the outbox (durably, before any uplink sees it; the uplinks are woken by the outbox). Nothing
else touches the detector, so its hot path takes no locks.

The queue is bounded: if the pipeline falls behind by more than ``max_queued`` blocks, the
oldest blocks are dropped and counted, so memory stays flat and the newest data wins (a
wedged pipeline is then caught by the watchdog through :attr:`Pipeline.turns`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.block import SampleBlock
from dsp.detector import StreamingDetector, UnknownSensorError
from dsp.records import Detection
from gateway.detection_report import detection_fields, model_tag
from gateway.errors import StorageError
from gateway.outbox.store import Outbox, OutboxFullError

log = logging.getLogger(__name__)

IDLE_TURN_S = 0.5
"""The thread turns at least this often with no input, so its progress counter shows it is
alive even when every sensor is silent."""

LATENCY_WINDOW = 200
"""Recent detections kept for the latency figures in the status."""

DETECTOR_STATUS_S = 5.0
"""How often the pipeline thread copies the detector's status (noise floors, open events)
for the health report: only this thread may look inside the detector."""


@dataclass(frozen=True, slots=True)
class _Swap:
    """A control message: flush the current detector, then continue with ``detector``."""

    detector: StreamingDetector


BlockHook = Callable[[SampleBlock], None]
DetectionHook = Callable[[dict[str, Any], Detection], None]


class Pipeline:
    """Blocks in (any thread), durable reports out (one thread)."""

    def __init__(
        self,
        detector: StreamingDetector,
        outbox: Outbox,
        *,
        loc: Mapping[str, float] | None = None,
        clock_ok: Callable[[], bool | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        on_block: BlockHook | None = None,
        on_report: DetectionHook | None = None,
        max_queued: int = 2000,
    ) -> None:
        self._detector = detector
        self._outbox = outbox
        self._loc = dict(loc) if loc is not None else None
        self._clock_ok = clock_ok
        self._clock = clock
        self._on_block = on_block
        self._on_report = on_report
        self._queue: deque[SampleBlock | _Swap] = deque()
        self._max_queued = max_queued
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.turns = 0
        """Loop turns of the pipeline thread: the watchdog's sign of life."""
        self._counters = {
            "blocks": 0,
            "samples": 0,
            "blocks_dropped": 0,
            "detections": 0,
            "stored": 0,
            "store_errors": 0,
            "refused_full": 0,
            "flags": 0,
        }
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._last_error: str | None = None
        self._last_detection: dict[str, Any] | None = None
        self._detector_status: dict[str, Any] = {}
        self._detector_status_at = 0.0
        self._unknown_sensors: set[str] = set()

    # -- any thread ---------------------------------------------------------------------------

    def submit(self, block: SampleBlock) -> None:
        """Enqueue one block (called by reader threads; never blocks for long)."""
        with self._cond:
            if self._stopping:
                return
            if len(self._queue) >= self._max_queued:
                self._queue.popleft()
                self._counters["blocks_dropped"] += 1
            self._queue.append(block)
            self._cond.notify()

    def swap_detector(self, detector: StreamingDetector) -> None:
        """Continue with a new detector (after a reload): the old one is flushed first, in
        order with the blocks already queued."""
        with self._cond:
            self._queue.append(_Swap(detector))
            self._cond.notify()

    def model(self) -> dict[str, str]:
        """The classifier in use: its id and short hash (a reference read: the model of a
        detector never changes, a reload swaps the whole detector)."""
        model = self._detector.model
        return {"name": model.name, "hash": model.digest}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Take no more blocks, process what is queued, flush the detector and store what it
        still held. True if all that finished within ``timeout``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("pipeline did not finish within %.0f s; unprocessed blocks lost", timeout)
            return False
        return True

    def status(self) -> dict[str, Any]:
        with self._cond:
            counters = dict(self._counters)
            queued = len(self._queue)
            latencies = sorted(self._latencies)
            last = self._last_detection
            error = self._last_error
        status: dict[str, Any] = {
            "alive": self._thread is not None and self._thread.is_alive(),
            "queued_blocks": queued,
            **counters,
            "last_detection": last,
            "last_error": error,
            "model": self.model(),
            "detector": self._detector_status,
        }
        if latencies:
            status["latency_s"] = {
                "p50": round(latencies[len(latencies) // 2], 3),
                "p95": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))], 3),
                "max": round(latencies[-1], 3),
            }
        return status

    # -- the pipeline thread ------------------------------------------------------------------

    def _next(self) -> SampleBlock | _Swap | None:
        """The next queued item; None when idle for a turn or when stopping with nothing left."""
        with self._cond:
            if not self._queue and not self._stopping:
                self._cond.wait(IDLE_TURN_S)
            return self._queue.popleft() if self._queue else None

    def _run(self) -> None:
        while True:
            self.turns += 1
            self._copy_detector_status()
            item = self._next()
            if item is None:
                with self._cond:
                    if self._stopping and not self._queue:
                        break
                continue
            try:
                if isinstance(item, _Swap):
                    self._store_all(self._detector.flush())
                    self._detector = item.detector
                    log.info("detector replaced (its open events were flushed first)")
                else:
                    self._process(item)
            except Exception as exc:
                # A bug must not silence the unit: log it, keep the thread turning.
                log.exception("pipeline: unexpected error")
                with self._cond:
                    self._last_error = f"{type(exc).__name__}: {exc}"
        try:
            self._store_all(self._detector.flush())
        except Exception:
            log.exception("pipeline: flushing the detector at stop failed")

    def _copy_detector_status(self) -> None:
        now = time.monotonic()
        if now - self._detector_status_at < DETECTOR_STATUS_S:
            return
        self._detector_status_at = now
        try:
            self._detector_status = self._detector.status()
        except Exception:
            log.exception("pipeline: detector status failed")

    def _process(self, block: SampleBlock) -> None:
        if self._on_block is not None:
            self._on_block(block)
        try:
            detections = self._detector.feed(block.sensor, block.t0, block.physical(), block.gap)
        except UnknownSensorError:
            # A sensor the detector was built without (a driver a reload is replacing, still
            # delivering): there is nothing to feed.
            if block.sensor not in self._unknown_sensors:
                self._unknown_sensors.add(block.sensor)
                log.warning(
                    "pipeline: blocks of %s, which the detector has not, dropped", block.sensor
                )
            return
        flags = self._detector.pop_flags()
        for flag in flags:
            log.info(
                "%s: %s from %s for %.1f s",
                flag.sensor,
                flag.kind,
                time.strftime("%H:%M:%S", time.gmtime(flag.t0)),
                flag.t1 - flag.t0,
            )
        with self._cond:
            self._counters["blocks"] += 1
            self._counters["samples"] += len(block)
            self._counters["flags"] += len(flags)
        self._store_all(detections)

    def _store_all(self, detections: Sequence[Detection]) -> None:
        for detection in detections:
            self._store(detection)

    def _store(self, detection: Detection) -> None:
        fields = detection_fields(
            detection.cls,
            detection.conf,
            detection.t0,
            detection.t1,
            detection.sensors,
            features=detection.features,
            loc=self._loc,
            clock_ok=self._clock_ok(),
            model=model_tag(self._detector.model.name, self._detector.model.digest),
        )
        if detection.flags:
            fields["flags"] = list(detection.flags)
        with self._cond:
            self._counters["detections"] += 1
        try:
            report = self._outbox.store(fields)
        except OutboxFullError as exc:
            log.warning("outbox full: %s detection dropped (%s)", detection.cls, exc)
            with self._cond:
                self._counters["refused_full"] += 1
                self._last_error = str(exc)
            return
        except StorageError as exc:
            log.error("could not store a %s detection: %s", detection.cls, exc)
            with self._cond:
                self._counters["store_errors"] += 1
                self._last_error = str(exc)
            return
        latency = self._clock() - detection.t1
        with self._cond:
            self._counters["stored"] += 1
            self._latencies.append(latency)
            self._last_detection = {
                "id": report["id"],
                "class": report["class"],
                "conf": report["conf"],
                "t1": report["t1"],
            }
        log.info(
            "detection %s: %s conf %.2f by %s",
            report["id"],
            report["class"],
            report["conf"],
            ",".join(report["sensors"]),
        )
        if self._on_report is not None:
            self._on_report(report, detection)
