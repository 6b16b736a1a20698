"""FifoStream: successive FIFO reads become one stream where every sample is either
delivered once, in order, or counted in a gap."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.fifo_stream import FifoStream
from drivers.modbus.registers import (
    COUNTER_MODULUS,
    PIR_MAP,
    STATUS_ACQUIRING,
    decode_fifo_block,
    encode_fifo_block,
)

PERIOD = 0.01  # 100 Hz


def read(counter: int, window: int, taken: int):  # type: ignore[no-untyped-def]
    """What a PIR answers after taking ``taken`` samples in all (sample k has level k % 30000)
    with its counter at ``counter``; the read happens 1 ms after sample taken-1."""
    rows = [((taken - 1 - j) % 30000 if taken - 1 - j >= 0 else 0, 0) for j in range(window)]
    block = decode_fifo_block(PIR_MAP, encode_fifo_block(PIR_MAP, counter, STATUS_ACQUIRING, rows))
    sent = 1000.0 + (taken - 1) * PERIOD + 0.001
    return block, sent, sent + 0.0005


@settings(max_examples=60)
@given(
    start=st.integers(0, COUNTER_MODULUS - 1),
    steps=st.lists(st.tuples(st.integers(0, 60), st.integers(1, 32)), min_size=1, max_size=40),
)
def test_every_sample_is_delivered_once_or_counted_lost(
    start: int, steps: list[tuple[int, int]]
) -> None:
    stream = FifoStream(1 / PERIOD)
    taken = 40  # the device has been running: its FIFO is full
    first_window = 32
    block, sent, received = read((start + taken) % COUNTER_MODULUS, first_window, taken)
    delivered = [stream.take(block, sent, received)]
    for advance, window in steps:
        taken += advance
        block, sent, received = read((start + taken) % COUNTER_MODULUS, window, taken)
        delivered.append(stream.take(block, sent, received))
    # Stream index i holds device sample (taken_at_first_read - 32) + i.
    origin = 40 - first_window
    expected_index = 0
    for d in delivered:
        assert d is not None
        assert d.index == expected_index + d.gap
        levels = d.data[:, 0].tolist()
        assert levels == [(origin + d.index + i) % 30000 for i in range(len(levels))]
        expected_index = d.index + len(levels)
    assert expected_index == taken - origin
    assert stream.clock.reanchors == 0


def test_a_counter_that_goes_back_is_a_late_reply() -> None:
    stream = FifoStream(100)
    block, sent, received = read(500, 5, 500)
    assert stream.take(block, sent, received) is not None
    late, sent, received = read(498, 5, 498)
    assert stream.take(late, sent + 0.03, received + 0.03, trusted=False) is None
    assert stream.pending(498) is None and stream.pending(503) == 3


def test_restart_continues_the_stream_after_a_time_gap() -> None:
    stream = FifoStream(100)
    block, sent, received = read(500, 5, 500)
    first = stream.take(block, sent, received)
    assert first is not None and len(first.data) == 5
    stream.restarted()
    # The device came back 2 s later and has taken 10 samples since.
    block, sent, received = read(10, 12, 710)
    after = stream.take(block, sent, received)
    assert after is not None
    assert len(after.data) == 10
    # 200 samples' worth of time passed, 10 of them are here: a gap of ~200.
    assert abs(after.gap - 200) <= 2
    assert np.isclose(stream.clock.time_of(after.index + 9), sent - 0.001, atol=0.006)
