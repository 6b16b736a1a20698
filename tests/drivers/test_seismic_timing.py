"""Stream index and timestamps from the digitizer's counter, with scripted arrival times."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.stream.codec import FLAG_BOOT
from drivers.stream.timing import Placement, StreamClock

RATE = 1000.0
N = 20  # samples per frame (20 ms)
T0 = 1_800_000_000.0  # host time of the device's sample 0


class Device:
    """Frames of a digitizer whose sample k is taken at ``T0 + k / true_rate``."""

    def __init__(self, clock: StreamClock, *, true_rate: float = RATE, counter: int = 0) -> None:
        self.clock = clock
        self.true_rate = true_rate
        self.counter = counter
        self.taken = 0  # samples taken since T0
        self.seq = 0

    def frame_end_time(self) -> float:
        return T0 + (self.taken + N) / self.true_rate

    def send(
        self, latency: float = 0.001, *, flags: int = 0, lost: bool = False
    ) -> Placement | None:
        arrival = self.frame_end_time() + latency
        counter, seq = self.counter, self.seq
        self.counter = (self.counter + N) % (1 << 32)
        self.seq = (self.seq + 1) % 65536
        self.taken += N
        if lost:
            return None
        return self.clock.place(counter, N, seq, flags, arrival)


def true_time(taken_before: int) -> float:
    return T0 + taken_before / RATE


def test_contiguous_frames_get_contiguous_indices_and_true_times() -> None:
    clock = StreamClock(RATE)
    device = Device(clock)
    placements = [device.send(latency=0.002) for _ in range(500)]
    assert [p.index for p in placements if p] == [N * i for i in range(500)]
    for i, p in enumerate(placements):
        assert p is not None and p.gap == 0 and not p.reanchored
        assert p.t0 == pytest.approx(true_time(N * i) + 0.002, abs=1e-6)
    assert (clock.reanchors, clock.gaps, clock.resets) == (0, 0, 0)


def test_a_late_first_frame_is_corrected_while_settling_without_counting() -> None:
    clock = StreamClock(RATE)
    device = Device(clock)
    device.send(latency=0.030)
    later = [device.send(latency=0.001) for _ in range(200)]
    assert later[-1] is not None
    assert later[-1].t0 == pytest.approx(true_time(N * 200) + 0.001, abs=1e-6)
    assert clock.reanchors == 0


def test_jittery_arrivals_do_not_move_the_anchor() -> None:
    rng = np.random.default_rng(3)
    clock = StreamClock(RATE)
    device = Device(clock)
    for _ in range(3000):  # 60 s
        p = device.send(latency=0.001 + float(rng.exponential(0.01)))
        assert p is not None
        # Anchored on the earliest arrival: never further off than the latency floor + jitter
        # seen while settling.
        assert abs(p.t0 - true_time(p.index)) < 0.005
    assert clock.reanchors == 0


def test_lost_frames_are_a_gap_of_exactly_the_samples_lost() -> None:
    clock = StreamClock(RATE)
    device = Device(clock)
    for _ in range(10):
        device.send()
    device.send(lost=True)
    device.send(lost=True)
    p = device.send()
    assert p is not None
    assert (p.index, p.gap) == (12 * N, 2 * N)
    assert p.t0 == pytest.approx(true_time(12 * N) + 0.001)
    assert (clock.gaps, clock.samples_lost, clock.frames_lost) == (1, 2 * N, 2)


def test_counter_wrap_is_not_a_gap() -> None:
    clock = StreamClock(RATE)
    device = Device(clock, counter=(1 << 32) - 3 * N - 7)
    placements = [device.send() for _ in range(10)]
    assert [p.index for p in placements if p] == [N * i for i in range(10)]
    assert (clock.gaps, clock.resets, clock.reanchors) == (0, 0, 0)


def test_device_reset_reanchors_and_estimates_the_loss_from_host_time() -> None:
    clock = StreamClock(RATE)
    device = Device(clock, counter=500_000)
    for _ in range(100):
        device.send()
    for _ in range(25):  # 0.5 s while it rebooted
        device.send(lost=True)
    device.counter = 0
    p = device.send(flags=FLAG_BOOT)
    assert p is not None and p.reset and p.reanchored
    assert p.gap == pytest.approx(25 * N, abs=2)
    assert abs(p.t0 - true_time(125 * N)) < 0.002
    assert (clock.resets, clock.reanchors) == (1, 1)
    # and it carries on contiguously from there
    q = device.send()
    assert q is not None and q.index == p.index + N and q.gap == 0


def test_counter_going_back_without_boot_flag_is_a_reset_too() -> None:
    clock = StreamClock(RATE)
    device = Device(clock, counter=10_000)
    for _ in range(10):
        device.send()
    device.counter = 40
    p = device.send()
    assert p is not None and p.reset and clock.resets == 1


def test_a_device_that_froze_is_reanchored_once_the_window_shows_it() -> None:
    clock = StreamClock(RATE, tolerance_s=0.05, window_s=2.0)
    device = Device(clock)
    for _ in range(200):  # 4 s
        device.send()
    # The device froze for 1 s: it resumes with its counter where it stopped.
    stalled = [device.send(latency=1.001) for _ in range(150)]  # 3 s after the stall
    assert clock.reanchors == 1
    assert clock.gaps == 0
    last = stalled[-1]
    assert last is not None
    assert abs(last.t0 - (true_time(last.index) + 1.0)) < 0.005
    moved = [p for p in stalled if p and p.reanchored]
    assert len(moved) == 1


def test_slow_device_clock_drift_is_bounded_by_the_tolerance() -> None:
    clock = StreamClock(RATE, tolerance_s=0.02)
    device = Device(clock, true_rate=RATE * (1 - 500e-6))  # 500 ppm slow: 0.5 ms/s
    worst = 0.0
    for _ in range(10_000):  # 200 s
        p = device.send()
        assert p is not None
        actual = T0 + p.index / device.true_rate + 0.001
        worst = max(worst, abs(p.t0 - actual))
    assert 3 <= clock.reanchors <= 6  # ~0.1 s of drift in 20 ms steps
    assert worst < 0.02 + 0.002
    assert clock.gaps == 0


def test_fast_device_clock_drift_is_bounded_too() -> None:
    clock = StreamClock(RATE, tolerance_s=0.02)
    device = Device(clock, true_rate=RATE * (1 + 500e-6))
    worst = 0.0
    for _ in range(10_000):
        p = device.send()
        assert p is not None
        worst = max(worst, abs(p.t0 - (T0 + p.index / device.true_rate + 0.001)))
    assert clock.reanchors >= 3
    assert worst < 0.02 + 0.002
    assert clock.gaps == 0


def test_host_clock_stepping_back_reanchors_at_once() -> None:
    clock = StreamClock(RATE)
    device = Device(clock)
    for _ in range(200):
        device.send()
    p = device.send(latency=-5.0)  # NTP stepped the host clock back 5 s
    assert p is not None and p.reanchored and not p.reset and p.gap == 0
    assert p.t0 == pytest.approx(true_time(p.index) - 5.0 + 0.001)
    assert clock.reanchors == 1


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        StreamClock(0)
