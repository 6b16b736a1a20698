"""Filter design and streaming filters against scipy.signal (test-only reference)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.design import (
    butter_sos,
    fir_lowpass,
    kaiser_beta,
    rational_ratio,
    resampling_filter,
    sos_response,
)
from dsp.filters import (
    polyphase,
    resample_block,
    resample_capacity,
    resampler_state,
    sosfilt_block,
)


def _resample_stream(h, up, down, x, block, fn=resample_block):
    hp = polyphase(h, up)
    ring, counters = resampler_state(hp)
    out = []
    for start in range(0, x.size, block):
        chunk = np.ascontiguousarray(x[start : start + block])
        cap = resample_capacity(chunk.size, up, down)
        y = np.empty(cap)
        mark_out = np.zeros(cap, dtype=bool)
        n = fn(hp, down, chunk, ring, counters, y, np.zeros(chunk.size, dtype=bool), mark_out)
        out.append(y[:n])
    return np.concatenate(out)


signal = pytest.importorskip("scipy.signal")

DESIGNS = [
    (2, 1.0, 250.0, "highpass"),
    (4, 20.0, 250.0, "lowpass"),
    (3, 7.0, 100.0, "lowpass"),
    (2, (2.0, 10.0), 250.0, "bandpass"),
    (2, (60.0, 100.0), 250.0, "bandpass"),
    (3, (0.2, 5.0), 50.0, "bandpass"),
    (1, 0.5, 50.0, "highpass"),
]


@pytest.mark.parametrize(("order", "freq", "fs", "kind"), DESIGNS)
def test_butter_matches_scipy_response(order, freq, fs, kind):
    ours = butter_sos(order, freq, fs, kind)
    ref = signal.butter(order, freq, btype=kind, fs=fs, output="sos")
    assert ours.shape == ref.shape
    freqs = np.linspace(0.01, fs / 2 * 0.999, 400)
    _, h_ref = signal.sosfreqz(ref, worN=freqs, fs=fs)
    np.testing.assert_allclose(sos_response(ours, freqs, fs), h_ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("order", "freq", "fs", "kind"), DESIGNS)
def test_butter_filtering_matches_scipy(order, freq, fs, kind):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    ours = butter_sos(order, freq, fs, kind)
    y = np.empty_like(x)
    sosfilt_block(ours, x, np.zeros((ours.shape[0], 2)), y)
    ref = signal.sosfilt(signal.butter(order, freq, btype=kind, fs=fs, output="sos"), x)
    np.testing.assert_allclose(y, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())


def test_sosfilt_block_matches_scipy_state_in_and_out():
    rng = np.random.default_rng(2)
    sos = signal.butter(2, (10.0, 30.0), btype="bandpass", fs=250.0, output="sos")
    zi = rng.standard_normal((sos.shape[0], 2))
    x = rng.standard_normal(1000)
    ref_y, ref_zf = signal.sosfilt(sos, x, zi=zi)
    state = zi.copy()
    y = np.empty_like(x)
    sosfilt_block(sos, x, state, y)
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(state, ref_zf, rtol=1e-12, atol=1e-12)


def test_sosfilt_block_streams_bit_identically_and_twin_agrees():
    rng = np.random.default_rng(3)
    sos = butter_sos(2, (2.0, 10.0), 250.0, "bandpass")
    x = rng.standard_normal(2000)
    whole = np.empty_like(x)
    sosfilt_block(sos, x, np.zeros((2, 2)), whole)
    state = np.zeros((2, 2))
    parts = []
    for chunk in np.array_split(x, [1, 8, 500, 501, 1999]):
        y = np.empty_like(chunk)
        sosfilt_block(sos, np.ascontiguousarray(chunk), state, y)
        parts.append(y)
    assert np.array_equal(np.concatenate(parts), whole)
    twin = np.empty_like(x)
    sosfilt_block.py_func(sos, x, np.zeros((2, 2)), twin)
    np.testing.assert_allclose(twin, whole, rtol=1e-13, atol=1e-15)


def test_fir_lowpass_matches_firwin():
    beta = kaiser_beta(60.0)
    ours = fir_lowpass(41, 0.45, beta)
    ref = signal.firwin(41, 0.45, window=("kaiser", beta))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rate_in", [250.0, 300.0, 500.0, 1000.0, 2000.0, 4000.0, 200.0])
def test_resampler_matches_upfirdn_in_any_blocks(rate_in):
    up, down = rational_ratio(rate_in, 250.0)
    assert rate_in * up / down == 250.0
    h = resampling_filter(rate_in, up, down, passband_hz=100.0)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(int(rate_in * 2) + 3)
    ref = signal.upfirdn(h, x, up, down)
    for block in (1, 7, 100, 4096):
        got = _resample_stream(h, up, down, x, block)
        assert got.size == -(-x.size * up // down)
        np.testing.assert_allclose(got, ref[: got.size], rtol=1e-10, atol=1e-12)


def test_resampler_keeps_the_band_and_rejects_aliases():
    up, down = rational_ratio(500.0, 250.0)
    h = resampling_filter(500.0, up, down, passband_hz=100.0)
    freqs = np.array([5.0, 50.0, 95.0])
    gain = np.abs(np.exp(-2j * np.pi * np.outer(freqs / 500.0, np.arange(h.size))) @ h) / up
    np.testing.assert_allclose(gain, 1.0, atol=0.01)
    # 160 Hz would alias to 90 Hz, inside the filter bank: it must be gone.
    stop = np.abs(np.exp(-2j * np.pi * 160.0 / 500.0 * np.arange(h.size)) @ h) / up
    assert stop < 1e-3


def test_resampler_twin_agrees_and_carries_marks():
    up, down = 5, 6
    h = resampling_filter(300.0, up, down, passband_hz=100.0)
    x = np.random.default_rng(5).standard_normal(600)
    y1 = _resample_stream(h, up, down, x, 600)
    y2 = _resample_stream(h, up, down, x, 600, fn=resample_block.py_func)
    np.testing.assert_allclose(y1, y2, rtol=1e-13, atol=1e-15)
    hp = polyphase(h, up)
    ring, counters = resampler_state(hp)
    marks = np.zeros(600, dtype=bool)
    marks[300:330] = True
    y = np.empty(resample_capacity(600, up, down))
    mark_out = np.zeros(y.size, dtype=bool)
    n = resample_block(hp, down, x, ring, counters, y, marks, mark_out)
    # Output k is completed by input floor(k * down / up).
    assert np.array_equal(np.flatnonzero(mark_out[:n]), np.arange(250, 275))
