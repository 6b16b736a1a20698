"""SampleClock: timestamps from a device's sample counter, against simulated polls."""

from __future__ import annotations

import random

import pytest

from drivers.timebase import SampleClock

RATE = 100.0


class SimDevice:
    """A device whose sample k is taken at ``a + k * period * (1 + ppm/1e6)``."""

    def __init__(self, a: float = 1000.0, ppm: float = 0.0) -> None:
        self.a = a
        self.period = (1 / RATE) * (1 + ppm / 1e6)
        self.frozen_at: float | None = None
        self.frozen_for = 0.0

    def taken(self, t: float) -> int:
        if self.frozen_at is not None and t >= self.frozen_at:
            t = max(self.frozen_at, t - self.frozen_for)
        return max(0, int((t - self.a) // self.period) + 1)

    def time_of(self, k: int) -> float:
        return self.a + k * self.period


def poll(clock: SampleClock, device: SimDevice, t: float, rng: random.Random) -> int:
    rtt = rng.uniform(0.0005, 0.003)
    answered = t + rng.uniform(0, rtt)
    return clock.observe(t, t + rtt, device.taken(answered))


def test_converges_to_within_the_round_trip() -> None:
    rng = random.Random(1)
    device = SimDevice()
    clock = SampleClock(RATE)
    t = device.a + 0.5
    for _ in range(300):
        poll(clock, device, t, rng)
        t += 0.02 * rng.uniform(0.8, 1.2)
    errors = [abs(clock.time_of(k) - device.time_of(k)) for k in range(0, 1000, 50)]
    assert max(errors) < 0.002
    assert clock.reanchors == 0


def test_follows_a_drifting_device_clock() -> None:
    rng = random.Random(2)
    device = SimDevice(ppm=200.0)  # a poor crystal: 0.72 s per hour
    clock = SampleClock(RATE)
    t = device.a + 0.1
    for _ in range(20_000):  # ~7 minutes of polls
        poll(clock, device, t, rng)
        t += 0.02 * rng.uniform(0.8, 1.2)
    last = device.taken(t) - 1
    assert abs(clock.time_of(last) - device.time_of(last)) < 0.003
    assert clock.reanchors == 0
    ppm = clock.drift_ppm(t)
    assert ppm is not None and 150 < ppm < 250


def test_a_stall_becomes_a_gap_and_timestamps_stay_right() -> None:
    rng = random.Random(3)
    device = SimDevice()
    clock = SampleClock(RATE)
    t = device.a + 0.1
    for _ in range(50):
        poll(clock, device, t, rng)
        t += 0.02
    # The device stalls for 1.5 s, then carries on counting where it stopped.
    device.frozen_at, device.frozen_for = t, 1.5
    t += 1.5 + 0.05
    rtt = 0.001
    taken = device.taken(t)
    skip = clock.observe(t, t + rtt, taken)
    assert skip == pytest.approx(150, abs=2)
    # Sample (taken - 1) of the device is stream sample (taken - 1 + skip).
    true_time = device.a + (taken - 1) * device.period + 1.5
    assert abs(clock.time_of(taken - 1 + skip) - true_time) < 0.015
    assert clock.reanchors == 1


def test_host_clock_stepped_back_reanchors() -> None:
    rng = random.Random(4)
    device = SimDevice()
    clock = SampleClock(RATE)
    t = device.a + 0.1
    for _ in range(50):
        poll(clock, device, t, rng)
        t += 0.02
    # NTP steps the host clock back by 2 s: every later sample is "early" by 2 s.
    device.a -= 2.0
    assert poll(clock, device, t, rng) == 0
    assert clock.reanchors == 1
    k = device.taken(t) - 1
    assert abs(clock.time_of(k) - device.time_of(k)) < 0.015


def test_needs_a_poll_before_timestamps() -> None:
    clock = SampleClock(RATE)
    assert not clock.anchored
    with pytest.raises(RuntimeError):
        clock.time_of(0)
    with pytest.raises(ValueError):
        SampleClock(0)
