"""Boosting a booster further: the site model scores what the boosting said it would, the
prior alone is left as it was, and the same examples give the same trees."""

from __future__ import annotations

import math

import numpy as np

from dsp.classifier import CLASSES, NOISE, Booster, Model, load_model
from dsp.site_boost import (
    Anchors,
    SiteBoostParams,
    _deepen,
    boost,
    booster_logits,
    class_shift,
    cross_logits,
    fold_of,
    noise_shift,
    site_booster,
    with_anchors,
)
from dsp.training import _softmax, _tree_scores

N_CLS = len(CLASSES)


def _prior() -> tuple[Booster, tuple[str, ...]]:
    model = load_model()
    kinds = ("seismic", "pir", "magnetometer")
    return model.boosters[kinds], model.features


def _rows(n: int, features: tuple[str, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, len(features)))
    for name in ("seis_live", "pir_live", "mag_live", "seis_present"):
        x[:, features.index(name)] = 1.0
    return x


def _proba(b: Booster, x: np.ndarray) -> np.ndarray:
    model = Model(CLASSES, load_model().features, {("seismic",): b}, {})
    return np.array([model.proba_x(row, ("seismic",)) for row in x])


def test_a_shallow_tree_in_a_deeper_layout_gives_the_same_leaves() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    feature = np.array([0, 1, 2])
    threshold = np.array([0.1, -0.3, 0.4])
    leaf = np.array([1.0, 2.0, 3.0, 4.0])
    f, th, lf = _deepen(feature, threshold, leaf, 7)
    assert np.array_equal(_tree_scores(x, f, th, lf), _tree_scores(x, feature, threshold, leaf))


def test_the_site_booster_scores_what_boosting_fitted() -> None:
    prior, features = _prior()
    x = _rows(150, features)
    y = np.random.default_rng(2).integers(0, N_CLS, 150)
    start = booster_logits(prior, x)
    params = SiteBoostParams()
    trees, snaps = boost(x, y, start, params, 10, watch=x, watch_start=start)
    temperature = 1.3
    site = site_booster(prior, trees, temperature, {})
    expected = _softmax(snaps[10] / temperature)
    assert np.allclose(_proba(site, x), expected, atol=1e-4)
    # A shift of the noise score is a shift of the noise logit after the temperature.
    shifted = site_booster(prior, trees, temperature, {}, {NOISE: 0.75})
    assert np.allclose(_proba(shifted, x), noise_shift(expected, 0.75), atol=1e-4)
    # And the site's line between footsteps and vehicles, with or without the threshold.
    vehicle = CLASSES.index("vehicle")
    line = site_booster(prior, trees, temperature, {}, {vehicle: -0.5})
    assert np.allclose(_proba(line, x), class_shift(expected, vehicle, -0.5), atol=1e-4)
    both = site_booster(prior, trees, temperature, {}, {NOISE: 0.75, vehicle: -0.5})
    want = class_shift(noise_shift(expected, 0.75), vehicle, -0.5)
    assert np.allclose(_proba(both, x), want, atol=1e-4)


def test_no_trees_and_no_new_temperature_leave_the_prior_as_it_was() -> None:
    prior, features = _prior()
    x = _rows(50, features, seed=3)
    same = site_booster(prior, [], 1.0, {})
    assert np.allclose(_proba(same, x), _proba(prior, x), atol=1e-9)


def test_boosting_is_deterministic_and_anchors_weigh_in() -> None:
    prior, features = _prior()
    x = _rows(120, features, seed=4)
    y = np.random.default_rng(5).integers(0, N_CLS, 120)
    start = booster_logits(prior, x)
    a = boost(x, y, start, SiteBoostParams(), 5)[0]
    b = boost(x, y, start, SiteBoostParams(), 5)[0]
    assert all(
        np.array_equal(p, q)
        for ta, tb in zip(a, b, strict=True)
        for p, q in zip(ta, tb, strict=True)
    )
    anchors = Anchors(x[:40], y[:40], start[:40], 0.5)
    xt, yt, _, wt = with_anchors(x[40:], y[40:], start[40:], anchors)
    assert yt.size == 120
    assert xt.shape[0] == 120 and wt is not None
    assert np.all(wt[:80] == 1.0) and np.all(wt[80:] == 0.5)


def test_cross_validation_scores_each_fold_with_a_model_that_never_saw_it() -> None:
    prior, features = _prior()
    x = _rows(100, features, seed=6)
    y = np.random.default_rng(7).integers(0, N_CLS, 100)
    start = booster_logits(prior, x)
    groups = np.repeat(np.arange(10), 10)
    fold = fold_of(groups, 5)
    assert set(fold) == set(range(5)) and all(len(set(fold[groups == g])) == 1 for g in range(10))
    params = SiteBoostParams(checkpoints=(0, 5))
    oof = cross_logits(x, y, start, fold, params, min_rows=10)
    assert np.array_equal(oof[0], start)
    # Fold 0's rows are scored by trees fitted on the other folds only.
    trees, _ = boost(x[fold != 0], y[fold != 0], start[fold != 0], params, 5)
    mine = start[fold == 0].copy()
    for t, (f, th, lf) in enumerate(trees):
        mine[:, t % N_CLS] += _tree_scores(x[fold == 0], f, th, lf)
    assert np.allclose(oof[5][fold == 0], mine)
    assert math.isfinite(float(oof[5].sum()))
