"""The per-sensor chains: what each one detects, and their plain-Python twins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.config import DspConfig
from dsp.design import butter_sos
from dsp.filters import bank_block
from dsp.magnetic import MagChain, mag_block
from dsp.pir import PirChain, pir_block
from dsp.seismic import SeismicChain, ring_span
from dsp.seismic_kernel import K_PLATEAU, K_RISE, K_TRIGGER, seismic_block
from dsp.validity import FLAG_NAMES


def _pir_crossing(first_sign: float, rate: float = 50.0, seconds: float = 60.0) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = rng.standard_normal(int(seconds * rate)) * 0.015
    t = np.arange(int(2.0 * rate)) / rate
    i0 = int(30.0 * rate)
    # A dual element swings one way then the other as a warm body crosses.
    x[i0 : i0 + t.size] += first_sign * 0.4 * np.sin(2 * np.pi * 1.0 * t)
    return x


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_pir_crossing_and_its_direction(sign):
    chain = PirChain("pir1", 50.0, DspConfig())
    events, _ = chain.feed(_pir_crossing(sign))
    more, _ = chain.close()
    events += more
    assert len(events) == 1
    ev = events[0]
    assert ev.t0 == pytest.approx(30.0, abs=0.5)
    assert ev.features["pir_direction"] == sign
    assert ev.features["pir_lobes"] >= 2


def test_pir_quiet_noise_gives_nothing_and_drift_is_filtered():
    rng = np.random.default_rng(6)
    x = rng.standard_normal(50 * 600) * 0.015 + np.linspace(0.0, 0.5, 50 * 600)
    chain = PirChain("pir1", 50.0, DspConfig())
    events, flags = chain.feed(x)
    assert events == [] and flags == []


def _pir_counts(swing: np.ndarray, at_s: float, rate: float = 100.0) -> np.ndarray:
    """A 12-bit analog PIR: mid-rail, a few counts of noise, ``swing`` added at ``at_s``
    and held to the converter's ends."""
    rng = np.random.default_rng(7)
    x = 2048.0 + rng.standard_normal(int(60.0 * rate)) * 6.0
    i0 = int(at_s * rate)
    x[i0 : i0 + swing.size] += swing
    return np.clip(np.rint(x), 0.0, 4095.0)


def _flag_names(flags) -> set[str]:
    return {FLAG_NAMES[kind] for kind, _first, _end in flags}


def _feed_by_second(chain: PirChain, x: np.ndarray) -> tuple[list, list]:
    """As the service feeds it: one-second blocks (the clip level follows the noise
    learnt by the end of the block before)."""
    events, flags = [], []
    step = int(chain.rate)
    for i in range(0, x.size, step):
        ev, fl = chain.feed(x[i : i + step])
        events += ev
        flags += fl
    ev, fl = chain.close()
    return events + ev, flags + fl


def test_a_pir_swing_held_at_its_rails_is_clipped_not_dead():
    # A person close to the lens drives the output past both ends for ~1.5 s each.
    rate = 100.0
    t = np.arange(int(3.2 * rate)) / rate
    x = _pir_counts(-8000.0 * np.sin(2 * np.pi * t / 3.2), at_s=30.0)
    assert (x == 0.0).sum() > 1.2 * rate and (x == 4095.0).sum() > 1.2 * rate
    events, flags = _feed_by_second(PirChain("pir1", rate, DspConfig()), x)
    assert _flag_names(flags) == {"clipped"}
    assert len(events) == 1
    assert events[0].t0 == pytest.approx(30.0, abs=0.5)
    assert events[0].t1 > 33.0  # the swing back from the second rail is part of it


def test_a_pir_stuck_at_its_rail_is_a_flat_line():
    rate = 100.0
    x = _pir_counts(np.full(int(12.0 * rate), 5000.0), at_s=30.0)
    _, flags = _feed_by_second(PirChain("pir1", rate, DspConfig()), x)
    flat = [(f, e) for kind, f, e in flags if FLAG_NAMES[kind] == "flatline"]
    assert len(flat) == 1
    first, end = flat[0]
    assert first == pytest.approx(30.0 * rate, abs=2) and end == pytest.approx(42.0 * rate, abs=2)


def _mag(seconds: float = 300.0, rate: float = 50.0, pass_at: float | None = 150.0):
    rng = np.random.default_rng(7)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    base = np.array([20000.0, 3000.0, 43000.0])
    drift = np.outer(t / 3600.0, [3.0, -2.0, 1.0])  # a few nT per hour
    x = base + drift + rng.standard_normal((n, 3)) * 0.4
    if pass_at is not None:
        # A car passing 10 m away: ~20 nT, a couple of seconds wide.
        x[:, 2] += 20.0 * np.exp(-(((t - pass_at) / 1.5) ** 2))
    return np.ascontiguousarray(x)


def test_magnetometer_sees_a_car_and_not_the_drift():
    chain = MagChain("mag1", 50.0, DspConfig())
    events, _ = chain.feed(_mag())
    assert len(events) == 1
    assert events[0].t0 == pytest.approx(148.0, abs=2.0)
    assert events[0].features["mag_log_peak_nt"] == pytest.approx(math.log10(20.0), abs=0.15)
    quiet = MagChain("mag1", 50.0, DspConfig())
    assert quiet.feed(_mag(pass_at=None))[0] == []


def _walkers_on_a_hum(rate: float = 500.0) -> np.ndarray:
    """Two walkers one after the other (20-48 s and 53-85 s) while a distant engine's hum
    (4 Hz) keeps the geophone's event open from 12 to 95 s: one event, two sources."""
    rng = np.random.default_rng(10)
    n = int(110 * rate)
    t = np.arange(n) / rate
    x = rng.standard_normal(n) * 5e-8
    x += 6e-8 * np.sin(2 * np.pi * 4.0 * t) * ((t > 12.0) & (t < 95.0))
    ring_t = np.arange(int(0.15 * rate)) / rate
    ring = np.exp(-ring_t / 0.03) * np.sin(2 * np.pi * 22.0 * ring_t)
    for start, end in ((20.0, 48.0), (53.0, 85.0)):
        mid, half = (start + end) / 2, (end - start) / 2
        for ts in np.arange(start, end, 0.55):
            i = int(ts * rate)
            x[i : i + ring.size] += 3e-6 * math.exp(-(((ts - mid) / half) ** 2) * 2.0) * ring
    return x


def test_an_open_event_is_cut_between_two_sources_as_it_goes():
    cfg = DspConfig()
    x = _walkers_on_a_hum()
    chain = SeismicChain("g", 500.0, cfg)
    pieces = []
    for a in range(0, x.size, 50):  # 0.1-s blocks, as a driver delivers them
        events, _ = chain.feed(x[a : a + 50])
        pieces += [(ev, (a + 50) / 500.0) for ev in events]
    pieces += [(ev, x.size / 500.0) for ev in chain.close()[0]]
    assert len(pieces) >= 2
    (first, out), second = pieces[0], pieces[1][0]
    assert 12.0 < first.t0 < 21.0  # the hum, then the first walker
    assert 47.0 < first.t1 < 54.0  # at the valley between the walkers
    assert first.features["cont"] == K_TRIGGER
    assert second.features["cont"] in (K_RISE, K_PLATEAU)
    assert second.t0 == first.t1 and second.t1 > 80.0
    assert second.features["rise_db"] > 10.0
    # It left within the hold plus half the loudness smoothing (and a frame, and the block),
    # long before the event ended.
    assert out - first.t1 <= cfg.seismic.hold_s + 0.5 + 0.1 + 0.1


def test_a_single_source_is_not_cut():
    rate = 500.0
    rng = np.random.default_rng(11)
    t = np.arange(int(90 * rate)) / rate
    x = rng.standard_normal(t.size) * 5e-8
    # A vehicle: engine lines under a smooth rise and fall, 20-70 s.
    env = np.exp(-(((t - 45.0) / 9.0) ** 2)) * ((t > 20.0) & (t < 70.0))
    x += 2e-6 * env * sum(np.sin(2 * np.pi * f * t) for f in (9.0, 18.0, 27.0))
    chain = SeismicChain("g", rate, DspConfig())
    events, _ = chain.feed(x)
    events += chain.close()[0]
    assert len(events) == 1
    assert events[0].features["cont"] == K_TRIGGER


def test_kernel_twins_agree():
    cfg = DspConfig()
    rng = np.random.default_rng(8)
    geo = rng.standard_normal(500 * 20) * 1e-7
    geo[6000:6050] += 3e-5 * np.sin(np.arange(50))
    a, b = SeismicChain("g", 500.0, cfg), SeismicChain("g", 500.0, cfg)
    for chain, fn in ((a, seismic_block), (b, seismic_block.py_func)):
        chain._buffers(geo.size)
        fn(
            geo, 0, chain.hp, chain.down, chain.rs_ring, chain.rs_cnt, chain.sos, chain.layout,
            chain.zi, chain.prm, chain.vp, chain.st, chain.bst, chain.vs, chain.frame_ring,
            chain.bb_ring, chain._events, chain._flags,
        )  # fmt: skip
    np.testing.assert_allclose(a.frame_ring, b.frame_ring, rtol=1e-9, atol=1e-30)
    np.testing.assert_allclose(a.st, b.st, rtol=1e-9)

    # An event cut in pieces as it goes: the same pieces, the same valley state.
    geo = _walkers_on_a_hum()[: 500 * 70]
    a, b = SeismicChain("g", 500.0, cfg), SeismicChain("g", 500.0, cfg)
    rows = []
    for chain, fn in ((a, seismic_block), (b, seismic_block.py_func)):
        chain._buffers(geo.size)
        n_ev, _ = fn(
            geo, 0, chain.hp, chain.down, chain.rs_ring, chain.rs_cnt, chain.sos, chain.layout,
            chain.zi, chain.prm, chain.vp, chain.st, chain.bst, chain.vs, chain.frame_ring,
            chain.bb_ring, chain._events, chain._flags,
        )  # fmt: skip
        rows.append(chain._events[:n_ev].copy())
    assert rows[0].shape[0] >= 1
    np.testing.assert_array_equal(rows[0], rows[1])
    np.testing.assert_allclose(a.st, b.st, rtol=1e-9)

    pir = _pir_crossing(1.0)
    outs = []
    for fn in (pir_block, pir_block.py_func):
        c = PirChain("p", 50.0, cfg)
        c._events = np.zeros((pir.size + 2, 8))
        c._flags = np.zeros((pir.size + 8, 3), dtype=np.int64)
        n = fn(pir, 0, c.sos, c.zi, c.qp, c.vp, c.st, c.vs, c._events, c._flags)
        outs.append((n, c._events[: n[0]].copy()))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-9)

    mag = _mag(120.0, pass_at=60.0)
    outs = []
    for fn in (mag_block, mag_block.py_func):
        c = MagChain("m", 50.0, cfg)
        c._events = np.zeros((mag.shape[0] + 2, 5))
        c._flags = np.zeros((mag.shape[0] + 8, 3), dtype=np.int64)
        n = fn(mag, mag, 0, c.mp, c.vp, c.st, c.vs, c._events, c._flags)
        outs.append((n, c._events[: n[0]].copy()))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(outs[0][1], outs[1][1], rtol=1e-9)


def test_bank_twin_and_four_lane_path_agree_with_one_lane():
    sections = [butter_sos(2, band, 250.0, "bandpass") for band in ((2, 10), (10, 30), (30, 60),
                                                                   (60, 100), (5, 20))]  # fmt: skip
    sos = np.ascontiguousarray(np.concatenate(sections))
    layout = np.array([[2 * i, 2] for i in range(5)], dtype=np.int64)
    x = np.random.default_rng(9).standard_normal(3000)
    results = []
    for fn in (bank_block, bank_block.py_func):
        y = np.tile(x, (5, 1))
        fn(sos, layout, np.zeros((10, 2)), y)
        results.append(y)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12, atol=1e-15)
    # Row 4 went through the one-lane path, rows 0-3 through the four-lane one: each must be
    # the plain cascade of its own sections.
    for i in range(5):
        ref = x.copy()
        for s in range(2):
            z0 = z1 = 0.0
            b0, b1, b2, _, a1, a2 = sos[2 * i + s]
            out = np.empty_like(ref)
            for k, v in enumerate(ref):
                y0 = b0 * v + z0
                z0 = b1 * v - a1 * y0 + z1
                z1 = b2 * v - a2 * y0
                out[k] = y0
            ref = out
        np.testing.assert_allclose(results[0][i], ref, rtol=1e-10, atol=1e-14)


def test_magnetometer_ignores_a_one_sample_glitch_of_its_bus():
    # An I2C read that comes back as garbage for one sample: hundreds of counts on one axis.
    rng = np.random.default_rng(8)
    rate = 200.0
    x = np.array([120.0, -340.0, 515.0]) + rng.standard_normal((int(60 * rate), 3))
    x[int(40 * rate), 2] -= 900.0
    x[int(45 * rate), :] += 600.0
    chain = MagChain("mag1", rate, DspConfig())
    events, _ = chain.feed(x)
    assert events == []
    # A car, seen for half a second, still is.
    bump = 40.0 * np.exp(-0.5 * ((np.arange(x.shape[0]) / rate - 50.0) / 0.15) ** 2)
    x[:, 0] += bump
    chain = MagChain("mag1", rate, DspConfig())
    events, _ = chain.feed(x)
    assert len(events) == 1 and abs(events[0].t0 - 49.8) < 0.5


def test_a_slow_magnetometer_sees_a_car_that_fills_one_sample():
    # At 5.3 Hz a car passing beside the lane lifts one or two samples: a median of three
    # would take it for a bus glitch and drop it.
    rate = 5.3
    rng = np.random.default_rng(5)
    t = np.arange(int(60 * rate)) / rate
    x = 550.0 + 30.0 * rng.standard_normal(t.size)
    at = t[int(40 * rate)]
    x += 350.0 * np.exp(-0.5 * ((t - at) / 0.06) ** 2)
    chain = MagChain("mag1", rate, DspConfig())
    chain.prime(x[:, None])
    events, _ = chain.feed(x[:, None])
    more, _ = chain.close()
    events += more
    assert len(events) == 1 and abs(events[0].t0 - at) < 0.5


def test_a_ring_span_reads_what_an_index_gather_reads():
    ring = np.arange(40.0).reshape(10, 4)
    for start in (-13, -1, 0, 3, 9, 10, 27):
        for length in (0, 1, 4, 7, 10, 13, 19):
            expected = ring[np.arange(start, start + length) % 10]
            assert np.array_equal(ring_span(ring, start, start + length), expected)


def test_a_magnetometer_that_loses_every_other_sample_sees_a_car_from_its_start():
    # A 10.6-Hz logger whose clock drops every other sample for a few seconds (roadside
    # magnetometer windows do), and a car right after: a lost sample held over is no reason
    # to keep the trigger quiet for the chain's whole settle time.
    rate = 10.6
    rng = np.random.default_rng(3)
    t = np.arange(int(60 * rate)) / rate
    x = 428.0 + 5.0 * rng.standard_normal(t.size)
    x += 150.0 * np.exp(-0.5 * ((t - 45.5) / 0.15) ** 2)
    x[int(40 * rate) : int(45.3 * rate) : 2] = np.nan
    chain = MagChain("mag1", rate, DspConfig())
    chain.prime(x[: int(30 * rate), None])
    events, flags = chain.feed(x[:, None])
    more, _ = chain.close()
    events += more
    assert len(events) == 1 and events[0].t0 <= 45.7
    assert any(FLAG_NAMES[kind] == "nan" for kind, _, _ in flags)


def test_a_magnetometer_primed_on_a_short_window_full_of_cars_learns_the_noise_between():
    # 14 s of a 10.6-Hz roadside axis (noise 7 counts) with two cars swinging it by ~35
    # counts: they fill a third of what the chain primes on, which lifted its spread three
    # times over and hid them both. The bulk without them is the noise.
    rate = 10.6
    rng = np.random.default_rng(4)
    t = np.arange(int(14 * rate)) / rate
    x = -515.0 + 7.0 * rng.standard_normal(t.size)
    for at in (2.5, 9.0):
        u = (t - at) / 0.5
        x += 56.0 * u * np.exp(-0.5 * u**2)
    chain = MagChain("mag1", rate, DspConfig())
    chain.prime(x[:, None])
    events, _ = chain.feed(x[:, None])
    more, _ = chain.close()
    events += more
    assert [round(ev.t0) for ev in events] == [2, 8]
    assert chain.status()["noise_nt"] < 3.0


def test_a_coarse_magnetometer_primed_on_a_short_window_keeps_a_threshold_above_its_noise():
    # A converter whose quiet field reads one value, now and then its neighbour, and a slow
    # car filling much of the first 14 s: the bulk measured again without the car must keep
    # some spread, or the threshold would sit on the quiet level itself.
    rate = 10.6
    rng = np.random.default_rng(1)
    n = int(60 * rate)
    x = 100.0 + (rng.random(n) < 0.15) * rng.choice([-1.0, 1.0], n)
    t = np.arange(n) / rate
    x += np.round(40.0 * np.exp(-0.5 * ((t - 5.0) / 1.5) ** 2))
    chain = MagChain("mag1", rate, DspConfig())
    chain.prime(x[: int(14 * rate), None])
    assert chain.status()["noise_nt"] > 0.0
    events, _ = chain.feed(x[:, None])
    more, _ = chain.close()
    events += more
    assert len(events) == 1 and 2.0 < events[0].t0 < 3.5
