"""What the PIR and magnetometer drivers share: polling a FIFO device and keeping its health.

A driver is one device on a :class:`~drivers.modbus.bus.ModbusBus`. On (re)connection it
checks the device type, sets the device's sample rate and clears its RESTARTED flag; then
every poll reads the counter, status and newest FIFO entries in one request, delivers the
samples that are new as a :class:`~drivers.block.SampleBlock` (gaps and timestamps from a
:class:`~drivers.modbus.fifo_stream.FifoStream`), and counts what went wrong for ``status()``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from drivers.backoff import Backoff
from drivers.block import BlockSink, SampleBlock
from drivers.config import PolledSensorConfig, bits_per_byte
from drivers.errors import ConfigError
from drivers.modbus.bus import ModbusBus
from drivers.modbus.fifo_stream import FifoStream
from drivers.modbus.handshake import (
    WrongDeviceError,
    acknowledge_restart,
    identify,
    set_sample_rate,
)
from drivers.modbus.registers import (
    IR_COUNTER,
    STATUS_ACQUIRING,
    STATUS_RESTARTED,
    STATUS_SENSOR_FAULT,
    FifoBlock,
    RegisterMap,
    decode_fifo_block,
    poll_window,
)
from drivers.modbus.transport import (
    BadReplyError,
    LinkDownError,
    ModbusExceptionError,
    ModbusLink,
    NoReplyError,
    link_for,
)

log = logging.getLogger(__name__)

DOWN_AFTER_TIMEOUTS = 3
"""Consecutive unanswered requests after which a device is down and only probed."""
LOG_REPEAT_S = 30.0
"""Least time between two log lines about the same sensor in the same state."""
MIN_TIMEOUT_S = 0.02
"""Least time a device is given to start answering, on top of the reply's time on the wire."""


class ModbusSensor:
    """Base of the Modbus FIFO-device drivers; subclasses set ``REGMAP``."""

    REGMAP: ClassVar[RegisterMap]

    def __init__(
        self,
        config: PolledSensorConfig,
        sink: BlockSink,
        *,
        clock: Callable[[], float] = time.time,
        bus: ModbusBus | None = None,
    ) -> None:
        if config.kind != self.REGMAP.kind:
            raise ConfigError(
                f"{config.name}: a {config.kind} sensor cannot use the {self.REGMAP.kind} driver"
            )
        assert config.poll_hz is not None  # guaranteed by validation
        self.config = config
        self.name = config.name
        self._sink = sink
        self._clock = clock
        self.bus = bus if bus is not None else ModbusBus(link_for(config))
        self.poll_interval = 1.0 / config.poll_hz
        self._rng = random.Random()
        self._probe = Backoff(initial=0.5, maximum=10.0, rng=self._rng)
        self._lock = threading.Lock()  # status() readers vs the bus thread

        self._rate = float(config.rate)
        self._base_window = poll_window(self.REGMAP, self._rate, config.poll_hz)
        self._window = self._base_window
        self._stream = FifoStream(self._rate)
        self._due = time.monotonic()
        self._handshake_needed = True
        self._suspect = False  # the next reply may be a late one to an earlier request
        self._handshakes = 0
        self._failures = 0  # consecutive requests without a usable answer
        self._last_new: float | None = None  # monotonic time the counter last advanced
        self._stalled = False
        self._timeout_s = config.timeout_s
        self._state = "stopped"
        self._error: str | None = None
        self._logged_at = -LOG_REPEAT_S
        self._device_status = 0
        self._last_sample_t: float | None = None
        self._counts: dict[str, int] = dict.fromkeys(
            (
                "polls_ok", "timeouts", "exceptions", "crc_errors", "bad_replies", "gaps",
                "samples_lost", "reconnects", "samples", "stalls", "stale_replies", "restarts",
                "sink_errors",
            ),
            0,
        )  # fmt: skip

    # -- lifecycle (the same shape as every driver) ---------------------------------------

    def start(self) -> None:
        with self._lock:
            self._state = "starting"
            self._error = None
            self._due = time.monotonic()
        self.bus.attach(self)

    def stop(self, timeout: float = 5.0) -> None:
        self.bus.detach(self, timeout)
        with self._lock:
            self._state = "stopped"

    def status(self) -> dict[str, Any]:
        """Health for the status report: plain JSON types."""
        now = self._clock()
        with self._lock:
            age = None if self._last_sample_t is None else round(now - self._last_sample_t, 3)
            return {
                "name": self.name,
                "kind": self.config.kind,
                "transport": self.config.transport,
                "port": self.config.port,
                "device_id": self.config.device_id,
                "state": self._state,
                "error": self._error,
                **self._counts,
                "last_sample_age_s": age,
                "rate_hz": self._rate,
                "poll_hz": self.config.poll_hz,
                "timeout_s": round(self._timeout_s, 4),
                "device_status": self._device_status,
                "line_noise_bytes": self.bus.link.noise_bytes,
                "reader_cpu_s": round(self.bus.cpu_s, 4),
                "reanchors": self._stream.clock.reanchors,
                "clock_ppm": _rounded(self._stream.clock.drift_ppm(now)),
            }

    # -- what subclasses describe ---------------------------------------------------------

    def describe_status_bits(self, status: int) -> str | None:
        """A technician's reading of a standing device status, or None when it is fine."""
        if status & STATUS_SENSOR_FAULT:
            return f"device reports a sensor fault (status 0x{status:04x}): check the sensor head"
        if not status & STATUS_ACQUIRING:
            return f"device reports it is not sampling (status 0x{status:04x})"
        return None

    def configure_device(self, link: ModbusLink, timeout: float) -> None:
        """Extra settings written at each (re)connection; the base class sets the rate."""

    # -- the bus side ---------------------------------------------------------------------

    def due_at(self) -> float:
        return self._due

    def slack_s(self) -> float:
        if self._state in ("down", "stopped") or self._handshake_needed:
            return math.inf
        return self.REGMAP.fifo_depth / self._rate - self.poll_interval

    def link_down(self, reason: str) -> None:
        with self._lock:
            self._handshake_needed = True
            self._set_state("down", reason)

    def service(self, link: ModbusLink, budget_s: float) -> bool:
        try:
            return self._service(link, budget_s)
        except Exception as exc:
            # Anything unexpected is reported like a failed poll; the thread carries on.
            log.exception("%s: poll failed", self.name)
            with self._lock:
                self._fail(f"internal error: {exc}")
            return False

    def _service(self, link: ModbusLink, budget_s: float) -> bool:
        now = time.monotonic()
        try:
            if self._handshake_needed:
                self._handshake(link, self._timeout(budget_s, 8))
                self._suspect = False
            self._poll(link, budget_s)
        except NoReplyError as exc:
            # On RTU the late answer to this request may come as the reply to the next one.
            self._suspect = True
            with self._lock:
                self._counts["timeouts"] += 1
                self._fail(str(exc))
            return False
        except ModbusExceptionError as exc:
            with self._lock:
                self._counts["exceptions"] += 1
                self._answered_with_problem(str(exc), now)
            return True
        except BadReplyError as exc:
            self._suspect = True
            with self._lock:
                self._counts["crc_errors" if exc.crc else "bad_replies"] += 1
                self._answered_with_problem(str(exc), now)
            return True
        except WrongDeviceError as exc:
            with self._lock:
                self._answered_with_problem(str(exc), now, back_off=True)
            return True
        except LinkDownError as exc:
            self.link_down(str(exc))
            return False
        self._schedule(now)
        return True

    # -- connection handshake -------------------------------------------------------------

    def _handshake(self, link: ModbusLink, timeout: float) -> None:
        status = identify(link, self.config, self.REGMAP, timeout)
        set_sample_rate(link, self.config, timeout)
        self.configure_device(link, timeout)
        restarted = acknowledge_restart(link, self.config, status, timeout)
        with self._lock:
            if restarted and self._stream.counter is not None:
                # Restarted while we were away (or before we noticed): its counter began at 0.
                self._counts["restarts"] += 1
                self._stream.restarted()
            if self._handshakes:
                self._counts["reconnects"] += 1
            self._handshakes += 1
            self._handshake_needed = False
            self._probe.reset()
            self._window = self._base_window

    # -- one poll -------------------------------------------------------------------------

    def _poll(self, link: ModbusLink, budget_s: float) -> None:
        regmap = self.REGMAP
        stream = self._stream
        # The first read takes the whole FIFO: what it holds is the start of the stream.
        window = regmap.fifo_depth if stream.counter is None else self._window
        block, sent, received = self._read_block(link, window, budget_s)
        if block.status & STATUS_RESTARTED:
            self._restarted()
            return
        advance = stream.pending(block.counter)
        if advance is not None and window < advance and window < regmap.fifo_depth:
            # More samples than the window: read the whole FIFO at once and widen the window.
            self._window = min(regmap.fifo_depth, advance + 2)
            block, sent, received = self._read_block(link, regmap.fifo_depth, budget_s)
        elif advance is not None and advance < self._window // 2:
            self._window = max(self._base_window, self._window - 1)
        delivery = stream.take(block, sent, received, trusted=not self._suspect)
        self._suspect = False
        now = time.monotonic()
        with self._lock:
            self._poll_ok(block.status)
            if delivery is None:
                self._counts["stale_replies"] += 1
                return
            fresh = len(delivery.data)
            if fresh or self._last_new is None:
                self._last_new = now
                self._stalled = False
            elif now - self._last_new > self._stall_after():
                if not self._stalled:
                    self._counts["stalls"] += 1
                    self._stalled = True
                self._set_state(
                    "degraded",
                    f"no new samples for over {self._stall_after():g} s: the device stopped "
                    f"sampling (counter stuck at {block.counter})",
                )
            if delivery.gap:
                self._counts["gaps"] += 1
                self._counts["samples_lost"] += delivery.gap
            self._counts["samples"] += fresh
        if fresh:
            self._emit(delivery.index, delivery.data, delivery.gap)

    def _read_block(
        self, link: ModbusLink, window: int, budget_s: float
    ) -> tuple[FifoBlock, float, float]:
        count = self.REGMAP.block_count(window)
        timeout = self._timeout(budget_s, count)
        sent = self._clock()
        registers = link.read_input_registers(self.config.device_id, IR_COUNTER, count, timeout)
        received = self._clock()
        return decode_fifo_block(self.REGMAP, registers), sent, received

    def _emit(self, index: int, data: npt.NDArray[np.int32], gap: int) -> None:
        cal = self.config.calibration
        sample_block = SampleBlock(
            sensor=self.name,
            kind=self.config.kind,
            rate=self._rate,
            t0=self._stream.clock.time_of(index),
            index=index,
            data=data,
            gap=gap,
            scale=cal.scale,
            offset=cal.offset,
        )
        with self._lock:
            self._last_sample_t = self._stream.clock.time_of(index + len(sample_block) - 1)
        try:
            self._sink(sample_block)
        except Exception:
            log.exception("%s: the block sink failed", self.name)
            with self._lock:
                self._counts["sink_errors"] += 1

    def _restarted(self) -> None:
        # The handshake re-applies the settings, counts the restart and restarts the counter.
        log.warning("%s: device %d restarted", self.name, self.config.device_id)
        with self._lock:
            self._handshake_needed = True
            self._poll_ok(STATUS_ACQUIRING)

    # -- health bookkeeping (called with self._lock held) ---------------------------------

    def _poll_ok(self, status: int) -> None:
        self._counts["polls_ok"] += 1
        self._failures = 0
        self._device_status = status
        problem = self.describe_status_bits(status)
        if problem:
            self._set_state("degraded", problem)
        elif not self._stalled:
            self._set_state("ok", None)

    def _fail(self, message: str) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures >= DOWN_AFTER_TIMEOUTS:
            self._set_state("down", message)
            self._handshake_needed = True
            self._due = now + self._probe.next_delay()
        else:
            self._set_state("degraded", message)
            self._schedule(now)

    def _answered_with_problem(self, message: str, now: float, back_off: bool = False) -> None:
        self._failures = 0
        self._set_state("degraded", message)
        if back_off:
            self._due = now + self._probe.next_delay()
        else:
            self._schedule(now)

    def _set_state(self, state: str, error: str | None) -> None:
        if self._state == "stopped" and state != "starting":
            return
        now = time.monotonic()
        # Log every change of state, but a new message in the same state at most every
        # LOG_REPEAT_S: a flapping device must not flood the journal.
        if state != self._state or (error != self._error and now - self._logged_at >= LOG_REPEAT_S):
            if state in ("down", "degraded") and error:
                log.warning("%s: %s", self.name, error)
                self._logged_at = now
            elif state == "ok" and self._state in ("down", "degraded"):
                log.info("%s: ok again", self.name)
                self._logged_at = now
        self._state = state
        self._error = error

    # -- timing ---------------------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        # Dithered by +-20 %: polls that fall at varying phases of the sample grid pin the
        # timestamps down (drivers/timebase.py); a late poll does not try to catch up.
        due = self._due + self.poll_interval * self._rng.uniform(0.8, 1.2)
        self._due = due if due > now - self.poll_interval else now

    def _timeout(self, budget_s: float, registers: int) -> float:
        """Reply timeout: the configured one, capped by what the other devices on the bus
        can wait, but never less than the reply's time on the wire plus a margin."""
        wire = 0.0
        if self.config.transport == "modbus-rtu":
            frame_bytes = 8 + 5 + 2 * registers
            wire = frame_bytes * bits_per_byte(self.config) / self.config.baudrate
        timeout = max(MIN_TIMEOUT_S + wire, min(self.config.timeout_s, budget_s))
        self._timeout_s = timeout
        return timeout

    def _stall_after(self) -> float:
        return max(0.5, 5 * self.poll_interval, 5 / self._rate)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
