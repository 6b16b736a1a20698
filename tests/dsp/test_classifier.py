"""The classifier: model file, Numba evaluation, deterministic training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dsp.classifier import (
    CLASSES,
    FEATURES,
    Model,
    ModelError,
    configured_model,
    load_model,
    predict_proba,
)
from dsp.config import ClassifierDspConfig
from dsp.training import BoostParams, fit_temperature, prior_weights, train_model
from hil.training_data import subsets


def test_packaged_model_loads_and_gives_probabilities():
    model = load_model()
    assert model.classes == CLASSES
    p = model.proba(dict.fromkeys(FEATURES, 0.0))
    assert p.shape == (len(CLASSES),)
    assert p.sum() == pytest.approx(1.0) and np.all(p >= 0)
    # Every combination of sensors has trees of its own: a unit that loses a sensor goes on.
    assert set(model.boosters) == set(subsets(("seismic", "pir", "magnetometer")))
    assert model.info.get("seeds"), "the packaged model records its training seeds"
    assert min(model.info["seeds"]) >= 1000 and max(model.info["seeds"]) < 9000


def test_predict_twin_agrees_with_a_hand_made_tree():
    # One class-0 tree and one class-1 tree of depth 1 (4 classes: 4 trees per round).
    feature = np.array([[0], [1], [0], [0]])
    threshold = np.array([[0.5], [2.0], [np.inf], [np.inf]])
    leaf = np.array([[1.0, -1.0], [0.0, 3.0], [0.0, 0.0], [0.0, 0.0]])
    x = np.array([0.7, 2.5])  # tree 0 goes right (-1), tree 1 goes right (+3)
    a, c = np.empty(4), np.empty(4)
    predict_proba(x, feature, threshold, leaf, 1.0, a)
    predict_proba.py_func(x, feature, threshold, leaf, 1.0, c)
    np.testing.assert_allclose(a, c, rtol=1e-12)
    z = np.array([-1.0, 3.0, 0.0, 0.0])
    np.testing.assert_allclose(a, np.exp(z) / np.exp(z).sum(), rtol=1e-12)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(format="other"), "not a ugs-gateway detector model"),
        (lambda m: m.update(version=99), "not supported"),
        (lambda m: m.update(features=["nonsense", *m["features"][1:]]), "unknown features"),
        (lambda m: m["sets"][0]["trees"][0].update(leaf=[0.0]), "malformed"),
        (lambda m: m.update(classes=["noise", "footstep", "vehicle"]), "not the detector's"),
        (lambda m: m["sets"][0]["trees"].pop(), "shapes"),
        (lambda m: m["sets"][0]["trees"][0]["feature"].__setitem__(0, 999), "does not have"),
        (lambda m: m["sets"][0].pop("trees"), "malformed"),
        (lambda m: m.pop("sets"), "malformed"),
        (lambda m: m["sets"][0].update(temperature=-1), "invalid numbers"),
        (lambda m: m["sets"][0].update(sensors=["sonar"]), "bad sensor set"),
        (lambda m: m["sets"][1].update(sensors=m["sets"][0]["sensors"]), "bad sensor set"),
        (lambda m: m.update(sets=[]), "no trees"),
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
    x[:, FEATURES.index("seis_log_snr")] += y  # one informative feature
    x[:, FEATURES.index("seis_cadence")] -= y == 2
    for name in ("seis_live", "pir_live", "mag_live"):
        x[:, FEATURES.index(name)] = 1.0  # one sensor set: the whole unit
    return x, y


def test_training_is_deterministic_and_learns():
    x, y = _toy(1)
    cal = np.arange(y.size) % 5 == 4
    params = BoostParams(max_rounds=30)
    a = train_model(x, y, FEATURES, cal, params=params, info={"id": "t"})
    b = train_model(x.copy(), y.copy(), FEATURES, cal.copy(), params=params, info={"id": "t"})
    assert json.dumps(a.to_json()) == json.dumps(b.to_json())
    reloaded = Model.from_json(json.loads(json.dumps(a.to_json())), "test")
    whole = ("seismic", "pir", "magnetometer")
    assert list(reloaded.boosters) == [whole]
    predicted = [np.argmax(reloaded.proba_x(row, whole)) for row in x]
    assert np.mean(np.asarray(predicted) == y) > 0.8
    assert 0 < reloaded.boosters[whole].info["rounds"] <= 30
    # A unit with other sensors than any the model was trained for reports nothing.
    np.testing.assert_allclose(reloaded.proba_x(x[0], ("pir",)), 0.25)


def test_each_sensor_set_gets_its_own_trees():
    x, y = _toy(3)
    pir_only = np.arange(y.size) % 2 == 1
    for name in ("seis_live", "mag_live"):
        x[pir_only, FEATURES.index(name)] = 0.0
    # Without the geophone only the PIR's feature tells the classes apart.
    x[pir_only, FEATURES.index("pir_log_snr")] = y[pir_only] * 2.0
    model = train_model(
        x, y, FEATURES, np.zeros(y.size, bool), params=BoostParams(max_rounds=20), info={}
    )
    assert set(model.boosters) == {("seismic", "pir", "magnetometer"), ("pir",)}
    named = {f: float(v) for f, v in zip(FEATURES, x[1], strict=True)}
    assert int(np.argmax(model.proba(named))) == y[1]


def test_temperature_calibrates_overconfident_logits():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 2000)
    logits = np.zeros((2000, 2))
    logits[np.arange(2000), y] = 1.0
    flip = rng.random(2000) < 0.27  # true accuracy 73 %: logits x1 are about right
    logits[flip] = logits[flip][:, ::-1]
    assert fit_temperature(logits * 4.0, y) == pytest.approx(4.0, rel=0.15)


def test_untrained_model_reports_nothing():
    p = Model.untrained().proba(dict.fromkeys(FEATURES, 1.0))
    assert int(np.argmax(p)) == 0  # noise
    np.testing.assert_allclose(p, 0.25)


def test_a_lesser_sensors_prior_weighs_what_that_sensor_saw():
    vehicle, footstep, noise = (CLASSES.index(c) for c in ("vehicle", "footstep", "noise"))
    y = np.array([vehicle, vehicle, footstep, footstep, noise])
    x = np.zeros((y.size, len(FEATURES)))
    x[0, FEATURES.index("mag_present")] = 1.0  # the magnetometer felt the first car only
    x[2, FEATURES.index("pir_present")] = 1.0  # the PIR saw the first walker only
    table = {
        ("pir", "magnetometer"): {"vehicle": 6.0, "footstep": 1.5},
        ("pir",): {"vehicle": 0.5, "footstep": 1.5},
    }
    # The car the magnetometer did not feel weighs what it weighs on a lone PIR; the walker
    # the PIR did not see weighs 1, as on a lone magnetometer, which has no footstep prior.
    both = prior_weights(x, y, FEATURES, ("pir", "magnetometer"), table)
    np.testing.assert_allclose(both, [6.0, 0.5, 1.5, 1.0, 1.0])
    # A lone PIR has no magnetometer: its vehicle prior weighs every car it was shown.
    alone = prior_weights(x, y, FEATURES, ("pir",), table)
    np.testing.assert_allclose(alone, [0.5, 0.5, 1.5, 1.0, 1.0])
    assert prior_weights(x, y, FEATURES, ("seismic", "pir"), table).tolist() == [1.0] * 5


def test_the_floor_installation_has_the_packaged_model_calibrated_on_simulated_homes():
    ground, floor = load_model(), load_model(None, "floor")
    assert floor.info["simulated"] == {
        "scenario": "home",
        "seeds": list(range(4000, 4008)),
        "site": "random",
        "empty": [["noise-indoor", 4500], ["noise-indoor", 4501]],  # the building, nobody in it
    }
    # Made from this very ground model: after a retrain, `make floor-model` remakes it.
    assert floor.info["prior"] == {"id": ground.name, "hash": ground.digest}
    assert floor.classes == ground.classes and floor.features == ground.features
    assert set(floor.boosters) == set(ground.boosters)  # a floor unit may lose a sensor too


def test_a_model_file_wins_over_the_installation(tmp_path):
    path = tmp_path / "site.json"
    path.write_text(json.dumps(load_model().to_json()))
    chosen = configured_model(ClassifierDspConfig(model=str(path), installation="floor"))
    assert chosen.digest != load_model(None, "floor").digest
    assert chosen.name == load_model().name
    floor = configured_model(ClassifierDspConfig(installation="floor"))
    assert floor.digest == load_model(None, "floor").digest
