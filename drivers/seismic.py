"""Driver of the seismic digitizer (geophone), streaming frames over a serial port.

One reader thread per port: it reads whatever arrived, decodes it
(:mod:`drivers.stream.codec`), places each frame in index and time from the device's own
sample counter (:mod:`drivers.stream.timing`) and hands contiguous runs of samples to the
sink as :class:`~drivers.block.SampleBlock` s. Nothing raises out of that thread: lost ports
are reopened with backoff, bad bytes are counted, and every problem shows in :meth:`status`
with a message for the technician.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import serial

from drivers.block import BlockSink, SampleBlock
from drivers.config import StreamSensorConfig
from drivers.registry import register
from drivers.stream.codec import FLAG_CLIP, MAX_FRAME, DecodeResult, Frame, StreamDecoder
from drivers.stream.timing import Placement, StreamClock
from drivers.stream.transport import Opener, PortLostError, SerialTransport

log = logging.getLogger(__name__)

# A problem this recent makes the state "degraded" rather than "ok".
RECENT_PROBLEM_S = 10.0

# Frames arrive every 20 ms; reading them in batches of up to 0.1 s costs a fraction of the
# CPU (one wake-up, one decode, one block instead of five), and the detector's windows are
# seconds long. Timestamps do not suffer: they come from the device's sample counter. A batch
# is kept well below the 4 KiB a tty buffers, so fast digitizers read more often.
READ_BATCH_S = 0.1
READ_BATCH_BYTES = 1024


def read_interval(config: StreamSensorConfig) -> float:
    """Seconds between reads for this digitizer's byte rate."""
    kind = config.descriptor
    bytes_per_s = config.rate * config.channels * config.sample_bits / 8
    overhead = kind.frames_per_s * kind.frame_bytes  # headers and CRCs
    return min(READ_BATCH_S, READ_BATCH_BYTES / (bytes_per_s + overhead))


@register("seismic")
class SeismicDriver:
    """Reads one digitizer; see docs/seismic-protocol.md for what is on the wire."""

    kind = "seismic"

    def __init__(
        self,
        config: StreamSensorConfig,
        sink: BlockSink,
        *,
        clock: Callable[[], float] = time.time,
        drift_tolerance_s: float = 0.05,
        drift_window_s: float = 2.0,
        stale_after_s: float | None = None,
        opener: Opener = serial.serial_for_url,
    ) -> None:
        if config.kind != self.kind:
            raise ValueError(f"{config.name} is a {config.kind} sensor, not {self.kind}")
        self.config = config
        self.name = config.name
        self._sink = sink
        self._clock = clock
        self.rate = config.rate
        self.stale_after_s = stale_after_s or max(1.0, 4 * config.timeout_s)
        self._transport = SerialTransport(
            config.port,
            baudrate=config.baudrate,
            parity=config.parity,
            stopbits=config.stopbits,
            poll_s=min(0.1, config.timeout_s),
            opener=opener,
        )
        self._decoder = StreamDecoder()
        self._timing = StreamClock(
            self.rate, tolerance_s=drift_tolerance_s, window_s=drift_window_s
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "starting"
        self._error: str | None = None
        self._error_at = 0.0
        self._problem_at = -RECENT_PROBLEM_S  # monotonic time of the last problem
        self._mismatch: str | None = None
        self._last_data = time.monotonic()  # last bytes, or the open: counts timeouts
        self._last_frame = time.monotonic()  # last accepted frame, or the open: staleness
        self._last_t1: float | None = None
        self._cpu_s = 0.0
        self._joining = True  # until the first frame after opening the port
        self._join_skipped = 0
        self.counts = dict.fromkeys(
            (
                "frames_ok", "crc_errors", "resyncs", "garbage_bytes", "join_bytes", "timeouts",
                "clipped_frames", "mismatched_frames", "samples", "blocks", "sink_errors",
            ),
            0,
        )  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: driver already started")
        self._thread = threading.Thread(target=self._run, name=f"seismic-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._transport.cancel()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s: reader thread did not stop within %.1f s", self.name, timeout)
        self._state = "stopped"

    def status(self) -> dict[str, Any]:
        """Health of this sensor as plain JSON types."""
        timing = self._timing
        now = self._clock()
        offset = timing.offset_s
        return {
            "name": self.name,
            "kind": self.kind,
            "transport": self.config.transport,
            "port": self.config.port,
            "state": self._current_state(),
            "error": self._error,
            "error_age_s": round(now - self._error_at, 3) if self._error else None,
            **self.counts,
            "gaps": timing.gaps,
            "frames_lost": timing.frames_lost,
            "samples_lost": timing.samples_lost,
            "reanchors": timing.reanchors,
            "resets": timing.resets,
            "reconnects": self._transport.reconnects,
            "last_sample_age_s": None if self._last_t1 is None else round(now - self._last_t1, 3),
            "clock_offset_s": None if offset is None else round(offset, 4),
            "rate_hz": self.rate,
            "channels": self.config.channels,
            "reader_cpu_s": round(self._cpu_s, 4),
        }

    # -- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        cpu0 = time.thread_time()
        transport = self._transport
        batched = read_interval(self.config)
        next_read = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    if not transport.is_open and not self._reconnect():
                        break
                    wait = next_read - time.monotonic()
                    if wait > 0 and self._stop.wait(wait):
                        break
                    data = transport.read()
                    if transport.counts_waiting:
                        next_read = time.monotonic() + batched
                    arrival = self._clock()
                    if data:
                        self._last_data = time.monotonic()
                        self._handle(self._decoder.feed(data), arrival)
                    else:
                        self._silence()
                except PortLostError as exc:
                    self._problem(str(exc))
                except Exception as exc:
                    # A bug or a surprise from a library: report it, and keep the thread alive.
                    log.exception("%s: reader failed", self.name)
                    self._problem(f"internal error: {exc!r}")
                    self._stop.wait(0.5)
                finally:
                    self._cpu_s = time.thread_time() - cpu0
        finally:
            transport.close()

    def _reconnect(self) -> bool:
        self._decoder.reset()
        was_open = self._transport.opens > 0
        while not self._stop.is_set():
            try:
                self._transport.open()
                break
            except Exception as exc:
                self._problem(str(exc))
                self._stop.wait(self._transport.backoff.next_delay())
        if self._stop.is_set():
            return False
        if was_open:
            self._problem_at = time.monotonic()
            log.info("%s: %s reopened", self.name, self.config.port)
        self._last_data = self._last_frame = time.monotonic()
        self._joining, self._join_skipped = True, 0
        return True

    def _silence(self) -> None:
        if time.monotonic() - self._last_data >= self.config.timeout_s:
            self.counts["timeouts"] += 1
            self._last_data = time.monotonic()
            if self._last_t1 is not None:
                self._set_error(
                    f"no data from {self.config.port} for {self.config.timeout_s:g} s: "
                    "digitizer stalled or cable loose?"
                )

    def _handle(self, result: DecodeResult, arrival: float) -> None:
        counts = self.counts
        counts["resyncs"] += result.resyncs
        garbage = result.garbage_bytes
        if self._joining:
            # Opening a port mid-stream lands inside a frame: skipping its tail is expected,
            # not a problem with the line.
            if not result.crc_errors and self._join_skipped + garbage <= MAX_FRAME:
                self._join_skipped += garbage
                counts["join_bytes"] += garbage
                garbage = 0
            if result.frames:
                self._joining = False
        if result.crc_errors or garbage:
            counts["crc_errors"] += result.crc_errors
            counts["garbage_bytes"] += garbage
            log.debug("%s: %s", self.name, "; ".join(result.errors))
            hint = (
                "noise on the line?"
                if counts["frames_ok"]
                else "wrong baudrate, or not a digitizer on this port?"
            )
            self._problem(
                f"bad bytes from {self.config.port}: {counts['crc_errors']} frame(s) failed "
                f"their CRC, {counts['garbage_bytes']} byte(s) skipped so far ({hint})"
            )
        run: list[Frame] = []
        first: Placement | None = None
        for frame in result.frames:
            if not self._accept(frame):
                continue
            placement = self._timing.place(
                frame.counter, len(frame), frame.seq, frame.flags, arrival
            )
            if placement.gap or placement.reanchored:
                self._problem_at = time.monotonic()
                if placement.reset:
                    self._set_error(f"digitizer on {self.config.port} restarted (counter reset)")
            contiguous = first is not None and not placement.gap and not placement.reanchored
            if not contiguous and run:
                assert first is not None
                self._emit(first, run)
                run = []
            if not run:
                first = placement
            run.append(frame)
        if run:
            assert first is not None
            self._emit(first, run)

    def _accept(self, frame: Frame) -> bool:
        counts = self.counts
        if frame.rate != self.rate or frame.channels != self.config.channels:
            counts["mismatched_frames"] += 1
            self._mismatch = (
                f"{self.config.port} sends {frame.channels} channel(s) at {frame.rate} Hz but "
                f"the config says channels = {self.config.channels}, sample_rate = "
                f"{self.rate:g}: make them match (config or digitizer settings)"
            )
            self._problem(self._mismatch)
            return False
        self._mismatch = None
        self._last_frame = time.monotonic()
        counts["frames_ok"] += 1
        if frame.flags & FLAG_CLIP:
            counts["clipped_frames"] += 1
        return True

    def _emit(self, first: Placement, frames: list[Frame]) -> None:
        data = (
            frames[0].samples if len(frames) == 1 else np.concatenate([f.samples for f in frames])
        )
        calibration = self.config.calibration
        block = SampleBlock(
            sensor=self.name,
            kind=self.kind,
            rate=self.rate,
            t0=first.t0,
            index=first.index,
            data=data,
            gap=first.gap,
            scale=calibration.scale,
            offset=calibration.offset,
        )
        self.counts["samples"] += len(block)
        self.counts["blocks"] += 1
        self._last_t1 = block.t1
        try:
            self._sink(block)
        except Exception as exc:
            self.counts["sink_errors"] += 1
            if self.counts["sink_errors"] == 1 or self.counts["sink_errors"] % 1000 == 0:
                log.error("%s: sink refused a block: %r", self.name, exc)

    # -- state -------------------------------------------------------------------------------

    def _problem(self, message: str) -> None:
        self._problem_at = time.monotonic()
        self._set_error(message)

    def _set_error(self, message: str) -> None:
        if message != self._error:
            log.warning("%s: %s", self.name, message)
        self._error = message
        self._error_at = self._clock()

    def _current_state(self) -> str:
        if self._state == "stopped" or self._stop.is_set():
            return "stopped"
        now = time.monotonic()
        if not self._transport.is_open:
            return "starting" if self._transport.opens == 0 and self._error is None else "down"
        if now - self._last_frame > self.stale_after_s:
            return "down"
        if self._mismatch is not None or now - self._problem_at < RECENT_PROBLEM_S:
            return "degraded"
        return "starting" if self._last_t1 is None else "ok"
