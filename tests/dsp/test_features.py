"""Event features: the running median kernel against numpy, and its plain-Python twin."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.features import running_median


def _reference(x: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    padded = np.pad(x, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)


@pytest.mark.parametrize("n", [1, 2, 5, 11, 12, 257])
@pytest.mark.parametrize("width", [1, 3, 11])
def test_running_median_is_numpys_median_exactly(n, width):
    rng = np.random.default_rng(n * 100 + width)
    x = rng.random(n) ** 3
    x[::4] = x[0]  # ties, as a flat spectrum has
    want = _reference(x, width)
    for kernel in (running_median, running_median.py_func):
        out = np.empty(n)
        kernel(x, width, out)
        np.testing.assert_array_equal(out, want)
