"""Register codecs of docs/registers.md: pure functions, checked by properties and vectors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.registers import (
    COUNTER_MODULUS,
    HEADER_WORDS,
    IR_COUNTER,
    IR_FIFO,
    IR_STATUS,
    MAGNETOMETER_MAP,
    MAPS,
    MAX_READ_REGISTERS,
    PIR_MAP,
    counter_advance,
    decode_fifo_block,
    encode_fifo_block,
    from_int16,
    join_int32,
    join_uint32,
    new_samples,
    poll_window,
    split_int32,
    to_int16,
)

int16 = st.integers(-0x8000, 0x7FFF)
int32 = st.integers(-0x80000000, 0x7FFFFFFF)
uint32 = st.integers(0, 0xFFFFFFFF)
word = st.integers(0, 0xFFFF)


def test_vectors_match_the_documented_word_order() -> None:
    # High word first: -2 000 000 000 = 0x88CA6C00.
    assert split_int32(-2_000_000_000) == (0x88CA, 0x6C00)
    assert join_int32(0x88CA, 0x6C00) == -2_000_000_000
    assert join_uint32(0x0001, 0x0002) == 65538
    assert to_int16(64302) == -1234
    assert from_int16(-1) == 0xFFFF
    # The live values sit where the docs say mbpoll finds them.
    assert (IR_COUNTER, IR_STATUS, IR_FIFO) == (4, 6, 7)


@given(int16)
def test_int16_round_trip(value: int) -> None:
    word_ = from_int16(value)
    assert 0 <= word_ <= 0xFFFF
    assert to_int16(word_) == value


@given(int32)
def test_int32_round_trip(value: int) -> None:
    high, low = split_int32(value)
    assert 0 <= high <= 0xFFFF and 0 <= low <= 0xFFFF
    assert join_int32(high, low) == value
    assert join_uint32(high, low) == value % COUNTER_MODULUS


@given(word, word)
def test_every_register_pair_is_a_value(high: int, low: int) -> None:
    assert split_int32(join_int32(high, low)) == (high, low)
    assert split_int32(join_uint32(high, low)) == (high, low)


@pytest.mark.parametrize("bad", [0x8000, -0x8001, 1 << 20])
def test_out_of_range_16_bit_values_are_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        from_int16(bad)


@given(uint32, st.integers(0, 10_000))
def test_counter_advance_across_the_wrap(start: int, taken: int) -> None:
    assert counter_advance(start, (start + taken) % COUNTER_MODULUS) == taken


@settings(max_examples=50)
@given(st.sampled_from(list(MAPS.values())), uint32, word, st.data())
def test_fifo_block_round_trip(regmap, counter: int, status: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    window = data.draw(st.integers(0, regmap.fifo_depth))
    if regmap is PIR_MAP:
        rows = data.draw(
            st.lists(st.tuples(int16, st.integers(0, 1)), min_size=window, max_size=window)
        )
    else:
        rows = data.draw(st.lists(st.tuples(int32, int32, int32), min_size=window, max_size=window))
    registers = encode_fifo_block(regmap, counter, status, rows)
    assert len(registers) == regmap.block_count(window) <= MAX_READ_REGISTERS
    assert all(0 <= r <= 0xFFFF for r in registers)
    block = decode_fifo_block(regmap, registers)
    assert block.counter == counter and block.status == status
    assert block.newest_first.shape == (window, regmap.channels)
    assert block.newest_first.tolist() == [list(r) for r in rows]


@given(st.sampled_from(list(MAPS.values())), st.integers(0, 200))
def test_malformed_block_lengths_are_refused(regmap, extra: int) -> None:  # type: ignore[no-untyped-def]
    length = HEADER_WORDS + extra
    registers = [0] * length
    if extra % regmap.sample_words:
        with pytest.raises(ValueError):
            decode_fifo_block(regmap, registers)
    else:
        assert (
            decode_fifo_block(regmap, registers).newest_first.shape[0]
            == extra // regmap.sample_words
        )
    with pytest.raises(ValueError):
        decode_fifo_block(regmap, [0, 0])


@given(uint32, st.integers(0, 100), st.integers(1, 32))
def test_new_samples_follow_the_counter_across_the_wrap(
    previous: int, advance: int, window: int
) -> None:
    counter = (previous + advance) % COUNTER_MODULUS
    # Sample number k (mod 2**32) holds value k & 0x7FFF, newest first.
    rows = [((counter - 1 - j) % COUNTER_MODULUS & 0x7FFF, 0) for j in range(window)]
    block = decode_fifo_block(PIR_MAP, encode_fifo_block(PIR_MAP, counter, 1, rows))
    fresh, lost = new_samples(block, previous)
    assert lost == max(0, advance - window)
    assert len(fresh) + lost == advance
    expected = [((previous + lost + i) % COUNTER_MODULUS) & 0x7FFF for i in range(len(fresh))]
    assert fresh[:, 0].tolist() == expected


def test_first_read_takes_what_the_fifo_holds() -> None:
    rows = [(i, 0) for i in (3, 2, 1)]
    block = decode_fifo_block(PIR_MAP, encode_fifo_block(PIR_MAP, 2, 1, rows))
    fresh, lost = new_samples(block, None)
    assert fresh[:, 0].tolist() == [2, 3] and lost == 0  # only two samples were ever taken


@given(st.sampled_from(list(MAPS.values())), st.integers(10, 200), st.floats(10, 200))
def test_poll_window_covers_a_late_poll(regmap, rate: int, poll_hz: float) -> None:  # type: ignore[no-untyped-def]
    window = poll_window(regmap, rate, poll_hz)
    assert 1 <= window <= regmap.fifo_depth
    if 2 * rate / poll_hz + 1 <= regmap.fifo_depth:
        assert window >= 2 * rate / poll_hz


def test_pir_and_magnetometer_samples_decode_as_documented() -> None:
    assert PIR_MAP.decode_sample([64302, 0xFFFF]) == [-1234, 1]  # only bit 0 is MOTION
    words = MAGNETOMETER_MAP.encode_sample([-48000, 123456, -2_000_000_000])
    assert words == [0xFFFF, 0x4480, 0x0001, 0xE240, 0x88CA, 0x6C00]
    assert MAGNETOMETER_MAP.decode_sample(words) == [-48000, 123456, -2_000_000_000]
    assert np.int32(MAGNETOMETER_MAP.decode_sample(split_int32(-1) * 3)[0]) == -1


def test_exception_codes_are_named_by_pymodbus() -> None:
    from drivers.modbus.transport import exception_name

    assert exception_name(2) == "illegal data address"
    assert exception_name(10) == "gateway path unavailable"
    assert exception_name(99) == "unknown exception"
