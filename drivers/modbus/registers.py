"""Register maps of the PIR and the magnetometer, and pure codecs over register lists.

Both devices sample at their own rate into a small FIFO and expose, in one contiguous block of
input registers, a 32-bit sample counter, a status word and the FIFO *newest sample first*.
One read of ``COUNTER .. COUNTER + 3 + W * words`` therefore returns the counter together
with the W most recent samples, whatever W the poller picks: the samples that are new since
the last poll follow from the counter difference, so poll jitter neither loses nor repeats a
sample, and the counter gives device-side timestamps. See docs/registers.md.

Everything here is a pure function over ints and lists, shared by the drivers and (to stay
register-compatible) the emulators in ``hil``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

COUNTER_MODULUS = 1 << 32
MAX_READ_REGISTERS = 125  # Modbus limit for one read of holding/input registers
MAP_VERSION = 1

# Input registers (function 04), PDU addresses (mbpoll -r takes address + 1).
IR_DEVICE_TYPE = 0
IR_MAP_VERSION = 1
IR_FIFO_DEPTH = 2
IR_SAMPLE_WORDS = 3
IR_COUNTER = 4  # two registers, high word first
IR_STATUS = 6
IR_FIFO = 7  # FIFO_DEPTH entries of SAMPLE_WORDS registers, newest first
IDENTITY_COUNT = 4  # IR 0..3
HEADER_WORDS = 3  # counter (2) + status, in front of the FIFO

# Holding registers (functions 03, 06, 16).
HR_SAMPLE_RATE = 0
HR_CONTROL = 1  # write CONTROL_CLEAR_RESTARTED to acknowledge a restart; reads 0
HR_MOTION_THRESHOLD = 2  # PIR only
CONTROL_CLEAR_RESTARTED = 1

# STATUS bits.
STATUS_ACQUIRING = 1 << 0
"""The device is sampling (clear: stalled, or not started)."""
STATUS_SENSOR_FAULT = 1 << 1
"""The sensor front end reports a fault (PIR element open, magnetometer bridge failure)."""
STATUS_OVERRANGE = 1 << 2
"""The newest sample sits at the end of the converter's range."""
STATUS_RESTARTED = 1 << 3
"""Set at power-up, cleared when the host writes CONTROL: the host re-applies its settings
and knows the counter began again at zero."""
STATUS_KNOWN_BITS = STATUS_ACQUIRING | STATUS_SENSOR_FAULT | STATUS_OVERRANGE | STATUS_RESTARTED

PIR_FLAG_MOTION = 1 << 0

DEVICE_TYPE_PIR = 0x5049  # "PI"
DEVICE_TYPE_MAGNETOMETER = 0x4D47  # "MG"


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """What differs between the two devices' maps."""

    kind: str
    device_type: int
    fifo_depth: int
    sample_words: int
    """Registers per FIFO entry."""
    channels: int
    rate_range: tuple[int, int]
    """Sample rates the device accepts in HR_SAMPLE_RATE, Hz (inclusive)."""
    holding_count: int
    """Holding registers the device has (HR 0 ..)."""

    @property
    def fifo_registers(self) -> int:
        return self.fifo_depth * self.sample_words

    @property
    def input_count(self) -> int:
        """Input registers the device has (IR 0 ..)."""
        return IR_FIFO + self.fifo_registers

    def block_count(self, window: int) -> int:
        """Registers to read from IR_COUNTER for the ``window`` newest samples."""
        return HEADER_WORDS + window * self.sample_words

    def decode_sample(self, words: Sequence[int]) -> list[int]:
        """One FIFO entry -> channel values."""
        if self.kind == "pir":
            return [to_int16(words[0]), words[1] & PIR_FLAG_MOTION]
        return [join_int32(words[2 * c], words[2 * c + 1]) for c in range(self.channels)]

    def encode_sample(self, values: Sequence[int]) -> list[int]:
        """Channel values -> one FIFO entry (values must already fit the device's range)."""
        if self.kind == "pir":
            flags = PIR_FLAG_MOTION if values[1] else 0
            return [from_int16(values[0]), flags]
        words: list[int] = []
        for value in values[: self.channels]:
            words.extend(split_int32(value))
        return words


PIR_MAP = RegisterMap(
    kind="pir",
    device_type=DEVICE_TYPE_PIR,
    fifo_depth=32,
    sample_words=2,
    channels=2,
    rate_range=(10, 100),
    holding_count=3,
)
MAGNETOMETER_MAP = RegisterMap(
    kind="magnetometer",
    device_type=DEVICE_TYPE_MAGNETOMETER,
    fifo_depth=20,
    sample_words=6,
    channels=3,
    rate_range=(10, 200),
    holding_count=2,
)
MAPS = {m.kind: m for m in (PIR_MAP, MAGNETOMETER_MAP)}
DEVICE_TYPES = {m.device_type: m.kind for m in MAPS.values()}

assert all(m.block_count(m.fifo_depth) <= MAX_READ_REGISTERS for m in MAPS.values())


# -- 16/32-bit values over registers ----------------------------------------------------------


def to_int16(word: int) -> int:
    """A register read as two's complement."""
    word &= 0xFFFF
    return word - 0x10000 if word & 0x8000 else word


def from_int16(value: int) -> int:
    """A signed 16-bit value as the register holding it."""
    if not -0x8000 <= value <= 0x7FFF:
        raise ValueError(f"{value} does not fit a signed 16-bit register")
    return value & 0xFFFF


def join_uint32(high: int, low: int) -> int:
    """Two registers, high word first, as an unsigned 32-bit value."""
    return ((high & 0xFFFF) << 16) | (low & 0xFFFF)


def join_int32(high: int, low: int) -> int:
    """Two registers, high word first, as a signed 32-bit value."""
    value = join_uint32(high, low)
    return value - COUNTER_MODULUS if value & 0x80000000 else value


def split_int32(value: int) -> tuple[int, int]:
    """A signed or unsigned 32-bit value as (high, low) registers."""
    if not -0x80000000 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} does not fit 32 bits")
    value &= 0xFFFFFFFF
    return value >> 16, value & 0xFFFF


def counter_advance(previous: int, current: int) -> int:
    """Samples taken between two counter readings, across the 2**32 wrap."""
    return (current - previous) % COUNTER_MODULUS


# -- the FIFO block -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FifoBlock:
    """One read of IR_COUNTER.. decoded."""

    counter: int
    """Samples the device had taken when it answered (mod 2**32)."""
    status: int
    newest_first: npt.NDArray[np.int32]
    """Shape ``(window, channels)``: row 0 is sample ``counter - 1``."""


def decode_fifo_block(regmap: RegisterMap, registers: Sequence[int]) -> FifoBlock:
    """Decode ``HEADER_WORDS + W * sample_words`` registers read from IR_COUNTER."""
    extra = len(registers) - HEADER_WORDS
    if extra < 0 or extra % regmap.sample_words:
        raise ValueError(
            f"a {regmap.kind} FIFO block is {HEADER_WORDS} + n*{regmap.sample_words} "
            f"registers, got {len(registers)}"
        )
    window = extra // regmap.sample_words
    words = regmap.sample_words
    rows = [
        regmap.decode_sample(registers[HEADER_WORDS + i * words : HEADER_WORDS + (i + 1) * words])
        for i in range(window)
    ]
    data = np.array(rows, dtype=np.int32).reshape(window, regmap.channels)
    return FifoBlock(
        counter=join_uint32(registers[0], registers[1]),
        status=registers[2] & 0xFFFF,
        newest_first=data,
    )


def encode_fifo_block(
    regmap: RegisterMap, counter: int, status: int, newest_first: Sequence[Sequence[int]]
) -> list[int]:
    """The registers a device answers for a read of IR_COUNTER.. (the inverse of decode)."""
    registers = [*split_int32(counter % COUNTER_MODULUS), status & 0xFFFF]
    for sample in newest_first:
        registers.extend(regmap.encode_sample(sample))
    return registers


def new_samples(
    block: FifoBlock, previous_counter: int | None
) -> tuple[npt.NDArray[np.int32], int]:
    """The samples of ``block`` taken since ``previous_counter``, oldest first, and how many
    were taken but no longer in the window (lost to a FIFO overrun).

    ``previous_counter=None`` (first read) takes everything the window holds. The caller must
    have ruled out a counter that went backwards (device restart, stale reply) first.
    """
    window = block.newest_first.shape[0]
    if previous_counter is None:
        fresh = min(window, block.counter)
        return block.newest_first[:fresh][::-1].copy(), 0
    advance = counter_advance(previous_counter, block.counter)
    fresh = min(advance, window)
    return block.newest_first[:fresh][::-1].copy(), advance - fresh


# -- how much to read per poll -------------------------------------------------------------------


def poll_window(regmap: RegisterMap, sample_rate: float, poll_hz: float) -> int:
    """FIFO entries a poller reads each time: twice the samples expected between polls, plus
    one for phase, so a poll that comes one period late still loses nothing."""
    expected = sample_rate / poll_hz
    return max(1, min(regmap.fifo_depth, math.ceil(2 * expected) + 1))


def max_samples_per_poll(regmap: RegisterMap) -> float:
    """The most samples per poll the FIFO allows with one late poll's margin."""
    return regmap.fifo_depth / 2
