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


def test_an_event_out_of_a_converter_stuck_on_one_count_has_its_features() -> None:
    # After a stretch on one count the high-passed trace decays towards 1e-200, where the
    # square of its mean square is 0: the shape features must not divide by it, and do not
    # depend on the scale.
    from dsp.features import seismic_features

    rng = np.random.default_rng(3)
    bands = [(2.0, 10.0), (10.0, 30.0), (30.0, 60.0), (60.0, 100.0)]
    bb = rng.standard_normal(2500) * np.hanning(2500)
    band_e = rng.uniform(1.0, 2.0, (500, 4))
    args = (np.full((500, 4), 0.1), rng.uniform(1.0, 2.0, 500))

    def features(scale: float) -> dict[str, float]:
        return seismic_features(
            band_e, args[0], args[1], bb * scale, bb[:100] * scale, 50.0, 250.0, bands, 10.0
        )

    tiny, unit = features(1e-170), features(1.0)
    for name in ("kurtosis", "crest"):
        assert np.isfinite(tiny[name])
        assert tiny[name] == pytest.approx(unit[name], rel=1e-9)


def test_an_engine_line_scores_the_same_in_any_units() -> None:
    # A trace in m/s from a quiet site, or in counts, or in nanometres: its power spectrum
    # spans 1e-40 to 1e+10 in its own units, and the line score must not see the units.
    from dsp.features import spectral_features

    rate = 250.0
    rng = np.random.default_rng(5)
    t = np.arange(int(6 * rate)) / rate
    event = rng.standard_normal(t.size) + 4.0 * np.sin(2 * np.pi * 23.0 * t)
    noise = rng.standard_normal(t.size)
    unit = spectral_features(event, noise, rate)
    assert unit[1] > 0.5  # the line is seen
    for scale in (1e-18, 1e-9, 1e6):
        centroid, line = spectral_features(event * scale, noise * scale, rate)
        assert centroid == pytest.approx(unit[0], rel=1e-9)
        assert line == pytest.approx(unit[1], rel=1e-9)
