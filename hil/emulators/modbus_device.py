"""The emulated FIFO device behind the PIR and magnetometer emulators.

The device samples its :class:`~hil.emulators.source.WaveformSource` at its own rate
(paced by a :class:`~hil.emulators.pacer.Pacer`) into a FIFO behind a 32-bit counter, and
answers register reads and writes exactly as docs/registers.md describes. It is
transport-free: a :class:`~hil.emulators.modbus_server.ModbusEmulatorServer` puts one or
more devices on a serial line or a TCP port. Samples are taken lazily, when a request comes
or a fault changes, at the times the pacer says they were due, so the device needs no thread
of its own and its sample times (:meth:`sample_time`) are exact.

Faults it applies itself (the server applies those of the wire): ``stall`` freezes the
counter while the device still answers (as when its converter hangs), ``reboot`` restarts it
(counter from zero, default settings, RESTARTED set), ``reply_delay`` holds every answer back,
``modbus_exception`` answers requests with an exception. :meth:`sensor_fault` raises the
SENSOR_FAULT status bit.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import ClassVar

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.modbus.registers import (
    COUNTER_MODULUS,
    HR_CONTROL,
    HR_SAMPLE_RATE,
    MAP_VERSION,
    STATUS_ACQUIRING,
    STATUS_OVERRANGE,
    STATUS_RESTARTED,
    STATUS_SENSOR_FAULT,
    RegisterMap,
    split_int32,
)
from hil.emulators.faults import Faults
from hil.emulators.pacer import Pacer
from hil.emulators.source import Samples, WaveformSource

_BIT_FUNCTIONS = {1, 2, 5, 15}  # coils and discrete inputs: these devices have none


class EmulatedFifoDevice:
    """A Modbus device that samples into a FIFO; subclasses set ``REGMAP`` and the encoding."""

    REGMAP: ClassVar[RegisterMap]

    def __init__(
        self,
        source: WaveformSource,
        *,
        device_id: int = 1,
        speed: float = 1.0,
        counter_start: int = 0,
        faults: Faults | None = None,
    ) -> None:
        regmap = self.REGMAP
        lo, hi = regmap.rate_range
        if source.rate != int(source.rate) or not lo <= source.rate <= hi:
            raise ValueError(
                f"a {regmap.kind} samples at a whole number of Hz in {lo}-{hi}, not {source.rate:g}"
            )
        if not 1 <= device_id <= 247:
            raise ValueError("a Modbus device id is 1-247")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.check_source(source)
        self.source = source
        self.device_id = device_id
        self.speed = speed
        self.faults = faults or Faults()
        self.default_rate = int(source.rate)
        self._counter_start = counter_start % COUNTER_MODULUS
        self._lock = threading.RLock()
        self._sensor_fault = False
        self._position = 0  # next index into the source; survives reboots
        # (first source index, source index at pacer start, pacer start (monotonic), rate)
        self._segments: list[tuple[int, int, float, float]] = []
        self._power_up(self._counter_start)
        self.faults.on_change(lambda _faults: self.update())

    # -- what a subclass defines ----------------------------------------------------------

    def check_source(self, source: WaveformSource) -> None:
        """Refuse a source this device cannot play (wrong channel count)."""
        if source.channels != self.REGMAP.channels:
            raise ValueError(
                f"a {self.REGMAP.kind} source needs {self.REGMAP.channels} channels, "
                f"not {source.channels}"
            )

    def convert(self, raw: Samples) -> tuple[list[list[int]], bool]:
        """Source rows -> FIFO entries (registers), and whether the newest sits at the end of
        the converter's range."""
        return [self.REGMAP.encode_sample(row) for row in raw.tolist()], False

    def extra_holding(self) -> list[int]:
        """Holding registers after HR_CONTROL (device specific)."""
        return []

    def write_extra_holding(self, address: int, value: int) -> bool:
        """Apply a write to a device-specific holding register; False refuses the value."""
        return False

    def reset_settings(self) -> None:
        """Device-specific settings back to their power-up defaults."""
        return None

    # -- state ----------------------------------------------------------------------------

    def _power_up(self, counter: int) -> None:
        self.reset_settings()
        self._rate = self.default_rate
        self._counter = counter
        self._fifo: deque[list[int]] = deque(maxlen=self.REGMAP.fifo_depth)
        self._restarted = True
        self._overrange = False
        self._ended = False
        self._pacer = Pacer(self._rate, self.speed)
        self._taken_in_segment = 0
        self._paused = False
        self._new_segment()

    def _new_segment(self) -> None:
        start = time.monotonic() + self._pacer.seconds_until(0)
        base = self._position - self._taken_in_segment
        self._segments.append((self._position, base, start, self._rate * self.speed))

    @property
    def rate(self) -> int:
        """The sample rate the device runs at now (HR_SAMPLE_RATE)."""
        with self._lock:
            return self._rate

    @property
    def counter(self) -> int:
        """The device's sample counter (what IR_COUNTER reads), brought up to date."""
        self.update()
        with self._lock:
            return self._counter

    @property
    def taken(self) -> int:
        """Source samples taken so far (across reboots): the next source index."""
        self.update()
        with self._lock:
            return self._position

    def sample_time(self, index: int) -> float:
        """Host epoch seconds at which source sample ``index`` was taken. The device runs on
        the monotonic clock; its samples are placed on the wall clock as it stands when
        asked, so that a step of the wall clock against the monotonic one (which the
        driver's wall-clock stamps follow) does not read as a timing error."""
        wall_offset = time.time() - time.monotonic()
        with self._lock:
            for first, base, start, eff_rate in reversed(self._segments):
                if index >= first:
                    return wall_offset + start + (index - base + 1) / eff_rate
        raise ValueError(f"sample {index} was never taken")

    def sensor_fault(self, on: bool = True) -> None:
        """Raise (or clear) the SENSOR_FAULT status bit."""
        with self._lock:
            self._sensor_fault = on

    def update(self) -> None:
        """Take the samples that have fallen due, and apply stall/reboot faults."""
        with self._lock:
            if self.faults.take_reboot():
                self._take_due()
                self._power_up(0)
                return
            stalled = self.faults.stalled
            if stalled and not self._paused:
                self._take_due()
                self._pacer.pause()
                self._paused = True
            elif not stalled and self._paused:
                self._pacer.resume()
                self._paused = False
                self._new_segment()
            if not self._paused:
                self._take_due()

    def _take_due(self) -> None:
        if self._ended or self._paused:
            return
        due = self._pacer.due() - self._taken_in_segment
        if due <= 0:
            return
        depth = self.REGMAP.fifo_depth
        # Samples older than the FIFO are only counted: nobody can read them any more.
        skipped = max(0, due - depth)
        raw = self.source.read(self._position + skipped, due - skipped)
        taken = skipped + len(raw)
        if len(raw) < due - skipped:
            self._ended = True
        entries, clipped = self.convert(raw)
        self._fifo.extend(entries)
        if entries:
            self._overrange = clipped
        self._position += taken
        self._taken_in_segment += taken
        self._counter = (self._counter + taken) % COUNTER_MODULUS

    # -- registers ------------------------------------------------------------------------

    def status_word(self) -> int:
        with self._lock:
            status = 0 if (self._ended or self._paused) else STATUS_ACQUIRING
            if self._sensor_fault:
                status |= STATUS_SENSOR_FAULT
            if self._overrange:
                status |= STATUS_OVERRANGE
            if self._restarted:
                status |= STATUS_RESTARTED
            return status

    def input_registers(self) -> list[int]:
        """The whole input register image, as a read would see it now."""
        self.update()
        regmap = self.REGMAP
        with self._lock:
            image = [regmap.device_type, MAP_VERSION, regmap.fifo_depth, regmap.sample_words]
            image += [*split_int32(self._counter), self.status_word()]
            for entry in reversed(self._fifo):
                image += entry
        image += [0] * (regmap.input_count - len(image))
        return image

    def holding_registers(self) -> list[int]:
        with self._lock:
            return [self._rate, 0, *self.extra_holding()]

    def write_holding(self, address: int, value: int) -> bool:
        """Apply a write to one holding register; False means "illegal data value"."""
        with self._lock:
            if address == HR_SAMPLE_RATE:
                lo, hi = self.REGMAP.rate_range
                if not lo <= value <= hi:
                    return False
                if value != self._rate:
                    self._set_rate(value)
                return True
            if address == HR_CONTROL:
                if value & 1:
                    self._restarted = False
                return True
            return self.write_extra_holding(address, value)

    def _set_rate(self, rate: int) -> None:
        self.update()
        self._rate = rate
        self._pacer = Pacer(rate, self.speed)
        if self._paused:
            self._pacer.pause()
        self._taken_in_segment = 0
        self._new_segment()

    # -- pymodbus glue --------------------------------------------------------------------

    def sim_device(self) -> SimDevice:
        """This device for a pymodbus server (register blocks refreshed on every access)."""
        regmap = self.REGMAP
        bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
        return SimDevice(
            id=self.device_id,
            simdata=(
                bits,
                list(bits),
                [SimData(0, count=regmap.holding_count, datatype=DataType.REGISTERS)],
                [SimData(0, count=regmap.input_count, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    async def _action(
        self,
        function: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        result: ExcCodes | None = None
        if function == 4:
            image = self.input_registers()
        else:
            if values is not None:
                for offset, value in enumerate(values):
                    if not self.write_holding(address + offset, int(value)):
                        result = ExcCodes.ILLEGAL_VALUE
                        break
            image = self.holding_registers()
        # The server answers from ``registers`` once this returns: refresh what is read.
        registers[address - start : address - start + count] = image[address : address + count]
        delay = self.faults.delay
        if delay > 0:
            await asyncio.sleep(delay)
        return result
