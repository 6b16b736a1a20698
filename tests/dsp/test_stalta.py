"""Recursive STA/LTA against ObsPy's C implementation (test-only reference)."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.stalta import recursive_stalta, stalta_state


def _signal(n: int = 20000) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal(n)
    x[8000:8400] += 12 * np.sin(np.arange(400) * 0.3)
    return x


def test_one_pass_matches_obspy():
    trigger = pytest.importorskip("obspy.signal.trigger")
    x = _signal()
    nsta, nlta = 50, 1000
    ref = trigger.recursive_sta_lta(x, nsta, nlta)
    out = np.empty(x.size - 1)
    # ObsPy starts its recursion at the second sample and zeroes the first nlta ratios.
    recursive_stalta(x[1:], stalta_state(), out, float(nsta), float(nlta))
    np.testing.assert_allclose(out[nlta - 1 :], ref[nlta:], rtol=1e-12)


def test_streams_identically_where_obspy_restarts():
    trigger = pytest.importorskip("obspy.signal.trigger")
    x = _signal()
    whole = np.empty_like(x)
    recursive_stalta(x, stalta_state(), whole, 50.0, 1000.0)
    state = stalta_state()
    parts = []
    for start in range(0, x.size, 4096):
        block = np.ascontiguousarray(x[start : start + 4096])
        out = np.empty_like(block)
        recursive_stalta(block, state, out, 50.0, 1000.0)
        parts.append(out)
    assert np.array_equal(np.concatenate(parts), whole)
    # ObsPy per block restarts: its ratio right after a block boundary is wrong.
    restarted = trigger.recursive_sta_lta(x[4096:8192], 50, 1000)
    assert not np.allclose(restarted[1000:1100], whole[5096:5196])


def test_twin_agrees_and_silence_gives_zero_not_nan():
    x = _signal(10000)
    x[:10] = 0.0
    a, b = np.empty_like(x), np.empty_like(x)
    recursive_stalta(x, stalta_state(), a, 30.0, 600.0)
    recursive_stalta.py_func(x, stalta_state(), b, 30.0, 600.0)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    assert np.all(np.isfinite(a)) and a[0] == 0.0
