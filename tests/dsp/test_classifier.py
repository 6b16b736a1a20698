"""The classifier: model file, Numba evaluation, deterministic training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dsp.classifier import CLASSES, FEATURES, Model, ModelError, load_model, predict_proba
from dsp.training import fit_logistic, fit_temperature, train_model


def test_packaged_model_loads_and_gives_probabilities():
    model = load_model()
    assert model.classes == CLASSES
    p = model.proba(dict.fromkeys(FEATURES, 0.0))
    assert p.shape == (len(CLASSES),)
    assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)
    assert model.info.get("seeds"), "the packaged model records its training seeds"
    assert min(model.info["seeds"]) >= 1000 and max(model.info["seeds"]) < 9000


def test_predict_twin_agrees():
    rng = np.random.default_rng(0)
    x, mean, scale = rng.standard_normal(5), rng.standard_normal(5), rng.uniform(0.5, 2, 5)
    w, b = rng.standard_normal((4, 5)), rng.standard_normal(4)
    a, c = np.empty(4), np.empty(4)
    predict_proba(x, mean, scale, w, b, a)
    predict_proba.py_func(x, mean, scale, w, b, c)
    np.testing.assert_allclose(a, c, rtol=1e-12)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(format="other"), "not a ugs-gateway detector model"),
        (lambda m: m.update(version=99), "not supported"),
        (lambda m: m.update(features=["nonsense", *m["features"][1:]]), "unknown features"),
        (lambda m: m.update(bias=[0.0]), "shapes"),
        (lambda m: m.pop("weights"), "malformed"),
    ],
)
def test_bad_model_files_are_refused(tmp_path, mutate, message):
    obj = load_model().to_json()
    mutate(obj)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_missing_or_non_json_model(tmp_path):
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelError, match="not JSON"):
        load_model(tmp_path / "bad.json")


def _toy(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 400)
    x = rng.standard_normal((400, len(FEATURES))) * 0.5
    x[:, 1] += y  # one informative feature
    x[:, 2] -= y == 2
    return x, y


def test_training_is_deterministic_and_learns():
    x, y = _toy(1)
    cal = np.arange(y.size) % 5 == 4
    a = train_model(x, y, FEATURES, cal, l2=1.0, info={"id": "t"})
    b = train_model(x.copy(), y.copy(), FEATURES, cal.copy(), l2=1.0, info={"id": "t"})
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    reloaded = Model.from_json(json.loads(json.dumps(a.to_json())), "test")
    acc = np.mean(
        [
            np.argmax(reloaded.proba(dict(zip(FEATURES, r, strict=True)))) == t
            for r, t in zip(x, y, strict=True)
        ]
    )
    assert acc > 0.8


def test_temperature_calibrates_overconfident_logits():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2000)
    logits = np.zeros((2000, 2))
    logits[np.arange(2000), y] = 1.0
    flip = rng.random(2000) < 0.27  # true accuracy 73 %: logits x1 are about right
    logits[flip] = logits[flip][:, ::-1]
    assert fit_temperature(logits * 4.0, y) == pytest.approx(4.0, rel=0.15)


def test_logistic_fit_separates_classes():
    x, y = _toy(3)
    w, b = fit_logistic(x[:, :3], y, 4, l2=1.0)
    z = x[:, :3] @ w.T + b
    assert np.mean(np.argmax(z, axis=1) == y) > 0.8
    assert np.all(w[0] == 0.0) and b[0] == 0.0  # class 0 is the reference
