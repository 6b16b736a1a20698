"""Event features: each kernel against the plain numpy it stands for, and its Python twin."""

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


# The per-event kernels against the plain numpy they replaced (``kernel.py_func`` is each
# one's Python twin): the same values to rounding, on the shapes events have.


def _autocorrelation_reference(x: np.ndarray, max_lag: int) -> np.ndarray:
    out = np.zeros(max_lag + 1)
    c = x - x.mean()
    full = np.correlate(c, c, mode="full")[c.size - 1 :]
    if full[0] <= 0:
        return out
    keep = min(max_lag + 1, c.size)
    out[:keep] = full[:keep] / full[0]
    return out


@pytest.mark.parametrize("n", [2, 5, 74, 75, 800])
def test_autocorrelation_is_the_normalised_biased_one(n: int) -> None:
    from dsp.features import autocorrelation

    x = np.random.default_rng(n).standard_normal(n) + 3.0
    want = _autocorrelation_reference(x, 74)
    for kernel in (autocorrelation, autocorrelation.py_func):
        np.testing.assert_allclose(kernel(x, 74), want, rtol=1e-12, atol=1e-14)
    assert not np.any(autocorrelation(np.full(n, 7.0), 74))  # flat: no correlation at all


def test_impact_spacing_of_a_steady_and_a_ragged_gait() -> None:
    from dsp.features import impact_spacing, step_regularity

    rate = 50.0
    env = np.zeros(500)
    env[25::27] = 1.0  # an impact every 0.54 s
    cv, count = impact_spacing(env, 0.5, 10)
    assert count == 18 and cv == pytest.approx(0.0, abs=1e-12)
    # The level is three robust deviations over the median: here just above 0.
    assert step_regularity(env, rate) == pytest.approx((0.0, 18 / 10.0))
    ragged = np.zeros(500)
    at = np.cumsum(np.random.default_rng(2).integers(12, 40, 20))
    ragged[at[at < 500]] = 1.0
    iv = np.diff(np.flatnonzero(ragged)).astype(float)
    for kernel in (impact_spacing, impact_spacing.py_func):
        cv, count = kernel(ragged, 0.5, 10)
        assert count == iv.size + 1
        assert cv == pytest.approx(iv.std() / iv.mean(), rel=1e-12)
    assert impact_spacing(np.zeros(50), 0.5, 10) == (1.0, 0)  # no impacts, no regularity
    assert step_regularity(np.zeros(50), rate) == (1.0, 0.0)


def test_parabola_fit_scores_a_bump_and_not_a_ramp() -> None:
    from dsp.features import parabola_fit

    t = np.linspace(-1.0, 1.0, 300)
    bump = 2.0 - 3.0 * (t - 0.4) ** 2
    for kernel in (parabola_fit, parabola_fit.py_func):
        score, where = kernel(bump)
        assert score == pytest.approx(1.0, abs=1e-12)
        assert where == pytest.approx(0.7, abs=1e-9)  # the vertex at t = 0.4
    noisy = bump + np.random.default_rng(1).standard_normal(t.size) * 0.5
    fit = np.polyval(np.polyfit(t, noisy, 2), t)
    r2 = 1.0 - np.sum((noisy - fit) ** 2) / np.sum((noisy - noisy.mean()) ** 2)
    assert parabola_fit(noisy)[0] == pytest.approx(r2, rel=1e-9)
    assert parabola_fit(1.0 + 2.0 * t**2) == (0.0, 0.5)  # a valley is no bump


def test_impulsiveness_is_kurtosis_and_crest_in_any_units() -> None:
    from dsp.features import impulsiveness

    x = np.random.default_rng(4).standard_normal(4000) ** 3
    x -= x.mean()
    m2 = np.mean(x**2)
    want = (np.log10(np.mean(x**4) / m2**2), np.abs(x).max() / np.sqrt(m2))
    for kernel in (impulsiveness, impulsiveness.py_func):
        np.testing.assert_allclose(kernel(x), want, rtol=1e-12)
        # A converter stuck on one count: a trace decaying to 1e-200, squares underflow.
        np.testing.assert_allclose(kernel(x * 1e-170), want, rtol=1e-9)
    assert impulsiveness(np.zeros(100)) == (0.0, 0.0)


def test_step_regularity_counts_the_same_impacts_in_any_units() -> None:
    from dsp.features import step_regularity

    # A walker's envelope: knocks every 0.55 s over a noisy floor, at 100 envelope samples/s.
    rng = np.random.default_rng(5)
    env = 1.0 + 0.1 * rng.random(1000)
    env[25::55] += 6.0
    want = step_regularity(env, 100.0)
    assert want[1] == pytest.approx(18 / 10.0)
    for units in (1e-40, 1e-9, 1e9, 1e40):  # a float trace in tiny or huge units
        assert step_regularity(env * units, 100.0) == pytest.approx(want)


def test_spectrum_scores_agree_with_their_numpy_form() -> None:
    from dsp.features import _grid, spectrum_scores, welch_psd

    rate = 250.0
    rng = np.random.default_rng(7)
    t = np.arange(int(8 * rate)) / rate
    lines = sum(np.sin(2 * np.pi * f * t) for f in (12.0, 24.0, 36.0))
    p_ev = welch_psd(rng.standard_normal(t.size) + 2.0 * lines, rate)
    p_no = welch_psd(rng.standard_normal(t.size) + np.sin(2 * np.pi * 50.0 * t), rate)
    g = _grid(rate, p_ev.size)

    def reference(have_noise: bool) -> tuple[float, float]:
        noise = p_no if have_noise else np.zeros_like(p_ev)
        excess = np.maximum(p_ev - noise, 0.0)
        centroid = float((g.freqs[g.band] * excess[g.band]).sum() / excess[g.band].sum())
        top, width = g.top, g.width
        tiny = 1e-15 * p_ev[:top].max() + 1e-300

        def prominence(p: np.ndarray) -> np.ndarray:
            level = _reference(p[:top], width)
            return np.log10(p[:top] + tiny) - np.log10(level + tiny)

        prom = np.zeros_like(p_ev)
        prom[:top] = prominence(p_ev)
        if have_noise:
            prom[:top] -= np.maximum(prominence(noise), 0.0)
        prom = np.maximum(prom, 0.0)
        peak3 = np.maximum(np.maximum(prom, np.roll(prom, 1)), np.roll(prom, -1))
        vals = np.where(g.valid, peak3[g.harm], 0.0)
        counts = g.valid.sum(axis=1)
        scores = np.where(counts >= 2, vals.sum(axis=1) / np.maximum(counts, 1), 0.0)
        return centroid, float(scores.max())

    for have_noise in (True, False):
        want = reference(have_noise)
        noise = p_no if have_noise else np.zeros_like(p_ev)
        args = (p_ev, noise, have_noise, g.band, g.freqs, g.width, g.top, g.valid, g.harm)
        for kernel in (spectrum_scores, spectrum_scores.py_func):
            np.testing.assert_allclose(kernel(*args), want, rtol=1e-12)
    assert reference(True)[1] > 0.5  # the engine's comb is seen, the noise's hum is not


def test_a_ringing_band_does_not_hide_the_steps_another_band_keeps_apart() -> None:
    from dsp.features import _moving_average, cadence, strongest_beat

    # Steps every 0.55 s over 8 s at 50 frames/s. The low band rings on through the gaps
    # (its energy swells and never falls), ten times louder than the band above it, which
    # is quiet between steps: what a real outdoor geophone on a resonant ground gives.
    rate, frames = 50.0, 400
    rng = np.random.default_rng(6)
    t = np.arange(frames) / rate
    steps = np.zeros(frames)
    steps[10::27] = 1.0
    sharp = np.convolve(steps, np.exp(-np.arange(8) / 2.0))[:frames]
    ringing = 100.0 * np.exp(-((t - 4.0) ** 2) / 6.0) * (1.0 + 0.5 * rng.random(frames))
    band_e = np.column_stack([ringing, 0.01 + 10.0 * sharp])
    smooth = round(1.5 * rate)
    summed = np.sqrt(band_e.sum(axis=1))
    lost = cadence(summed - _moving_average(summed, smooth), rate)
    hz, height, _ = strongest_beat(band_e, rate, smooth)
    assert lost[1] < 0.3  # the sum's beat is the ringing's noise
    assert height > 0.6 and hz == pytest.approx(1 / 0.54, rel=0.03)
    # Too short to hold two periods of the slowest gait: no beat.
    assert strongest_beat(band_e[:60], rate, smooth) == (0.0, 0.0, 0.0)
