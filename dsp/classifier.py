"""The event classifier: gradient-boosted decision trees over fused event features.

Classes: ``noise`` (never reported), ``footstep``, ``vehicle`` and ``unknown`` (a real source
that is neither, e.g. an animal). The model is a small JSON file (``dsp/model.json``) made by
``ugs-gateway train`` from labelled scenario recordings: for every combination of live sensor
kinds a booster of its own (so a unit that loses a sensor is classified by trees that learnt
to do without it), and in each, per boosting round and class one
shallow tree (complete, depth ``depth``: node ``i`` has children ``2i+1`` and ``2i+2``), whose
leaves add to that class's score; a softmax of the scores divided by a temperature fitted on
held-back training data gives calibrated probabilities. Evaluation is one small Numba kernel.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.config import ClassifierDspConfig
from dsp.installation import Installation
from dsp.jit import njit
from dsp.records import SensorEvent

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MODEL_FORMAT = "ugs-dsp-model"
MODEL_VERSION = 3
CLASSES = ("noise", "footstep", "vehicle", "unknown")
NOISE = 0

SEISMIC_FEATURES = (
    "log_duration",
    "log_snr",
    "band_frac_0",
    "band_frac_1",
    "band_frac_2",
    "band_frac_3",
    "band_snr_0",
    "band_snr_1",
    "band_snr_2",
    "band_snr_3",
    "cadence_hz",
    "cadence",
    "cadence_h2",
    "step_cv",
    "step_rate",
    "modulation",
    "kurtosis",
    "crest",
    "centroid_hz",
    "harmonic",
    "risefall",
    "peak_pos",
    "cont",
    "rise_db",
    "frac_change",
    "valley_db",
    "fall_db",
)
PIR_FEATURES = ("pir_log_snr", "pir_lobes", "pir_lobe_s", "pir_log_duration")
MAG_FEATURES = ("mag_log_snr", "mag_log_duration")
"""Scale-free: a file of raw counts in unknown units is read as it stands (the peak in nT
goes into the report, not into the model)."""

KIND_PREFIX = {"seismic": "seis", "pir": "pir", "magnetometer": "mag"}

FEATURES = (
    "seis_live",
    "seis_present",
    "seis_truncated",
    *(f"seis_{name}" for name in SEISMIC_FEATURES),
    "pir_live",
    "pir_present",
    "pir_truncated",
    *PIR_FEATURES,
    "mag_live",
    "mag_present",
    "mag_truncated",
    *MAG_FEATURES,
)
"""Every feature a model may use, in vector order. A model names the subset it was fitted on.
``<kind>_live``: a sensor of that kind is installed and delivering (it may have seen
nothing); ``<kind>_present``: it saw this event; ``<kind>_truncated``: its event was still
going on when the record ended (a triggered clip cut it short)."""


class ModelError(ValueError):
    """A model file that cannot be used (missing, malformed, or for other features)."""


def feature_vector(events: list[SensorEvent], live: Iterable[str] = ()) -> dict[str, float]:
    """Features of a group of sensor events: the strongest event of each kind speaks.

    ``live`` are the kinds of sensor installed and delivering at the time (a kind that saw
    the event is live whatever it says). A kind that saw nothing contributes zeros and
    ``<kind>_present = 0``; one that is not live also ``<kind>_live = 0``: the model is
    trained on every combination, so a unit whose sensor dies keeps detecting with the rest.
    """
    out = dict.fromkeys(FEATURES, 0.0)
    for kind in (*live, *(ev.kind for ev in events)):
        if kind in KIND_PREFIX:
            out[f"{KIND_PREFIX[kind]}_live"] = 1.0
    best: dict[str, SensorEvent] = {}
    for ev in events:
        if ev.kind not in best or ev.strength > best[ev.kind].strength:
            best[ev.kind] = ev
    for ev in events:
        if ev.truncated:
            out[f"{KIND_PREFIX[ev.kind]}_truncated"] = 1.0
    if "seismic" in best:
        out["seis_present"] = 1.0
        feats = best["seismic"].features
        for name in SEISMIC_FEATURES:
            out[f"seis_{name}"] = float(feats.get(name, 0.0))
    if "pir" in best:
        out["pir_present"] = 1.0
        for name in PIR_FEATURES:
            out[name] = float(best["pir"].features.get(name, 0.0))
    if "magnetometer" in best:
        out["mag_present"] = 1.0
        for name in MAG_FEATURES:
            out[name] = float(best["magnetometer"].features.get(name, 0.0))
    return out


@njit(cache=True)
def predict_proba(
    x: FloatArray,
    feature: IntArray,
    threshold: FloatArray,
    leaf: FloatArray,
    temperature: float,
    out: FloatArray,
) -> None:
    """Class probabilities of feature vector ``x`` into ``out``.

    Tree ``t`` belongs to class ``t % n_classes``; at node ``i`` it goes left when
    ``x[feature[t, i]] < threshold[t, i]``, and adds ``leaf[t, j]`` at the leaf it reaches.
    """
    n_cls = out.shape[0]
    n_nodes = feature.shape[1]
    for c in range(n_cls):
        out[c] = 0.0
    for t in range(feature.shape[0]):
        i = 0
        while i < n_nodes:
            i = 2 * i + 1 if x[feature[t, i]] < threshold[t, i] else 2 * i + 2
        out[t % n_cls] += leaf[t, i - n_nodes]
    top = -math.inf
    for c in range(n_cls):
        out[c] /= temperature
        top = max(top, out[c])
    total = 0.0
    for c in range(n_cls):
        out[c] = math.exp(out[c] - top)
        total += out[c]
    for c in range(n_cls):
        out[c] /= total


SensorSet = tuple[str, ...]
"""Kinds of sensor live on a unit, in ``KIND_PREFIX`` order: which booster speaks."""


def sensor_set(named: dict[str, float]) -> SensorSet:
    """The kinds a feature vector says are live (``<kind>_live``)."""
    return tuple(k for k, p in KIND_PREFIX.items() if named.get(f"{p}_live", 0.0))


@dataclass
class Booster:
    """The trees of one sensor set: ``feature``/``threshold`` per node, ``leaf`` values."""

    feature: IntArray
    """(trees, nodes) index into the model's ``features`` of each split."""
    threshold: FloatArray
    """(trees, nodes) split thresholds (+inf: always left)."""
    leaf: FloatArray
    """(trees, nodes + 1) leaf values."""
    temperature: float
    info: dict[str, Any]

    def __post_init__(self) -> None:
        self.feature = np.ascontiguousarray(self.feature, dtype=np.int64)
        self.threshold = np.ascontiguousarray(self.threshold, dtype=np.float64)
        self.leaf = np.ascontiguousarray(self.leaf, dtype=np.float64)

    @property
    def depth(self) -> int:
        return round(math.log2(self.feature.shape[1] + 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "trees": [
                {
                    "feature": [int(v) for v in f],
                    "threshold": [_num(v) for v in th],
                    "leaf": [_num(v) for v in lf],
                }
                for f, th, lf in zip(self.feature, self.threshold, self.leaf, strict=True)
            ],
            "temperature": _num(self.temperature),
            "info": self.info,
        }

    @classmethod
    def from_json(cls, obj: Any, origin: str, n_classes: int, n_features: int) -> Booster:
        try:
            trees = list(obj["trees"])
            feature = np.array([t["feature"] for t in trees], dtype=np.int64)
            threshold = np.array(
                [[math.inf if v is None else float(v) for v in t["threshold"]] for t in trees]
            )
            leaf = np.array([t["leaf"] for t in trees], dtype=np.float64)
            temperature = float(obj.get("temperature", 1.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{origin}: malformed model ({exc})") from None
        if (
            feature.ndim != 2
            or not trees
            or len(trees) % n_classes
            or threshold.shape != feature.shape
            or leaf.shape != (feature.shape[0], feature.shape[1] + 1)
        ):
            raise ModelError(f"{origin}: model shapes do not match its classes and trees")
        if feature.size and (feature.min() < 0 or feature.max() >= n_features):
            raise ModelError(f"{origin}: a tree splits on a feature the model does not have")
        if not (np.all(np.isfinite(leaf)) and math.isfinite(temperature) and temperature > 0):
            raise ModelError(f"{origin}: model has invalid numbers")
        return cls(feature, threshold, leaf, temperature, dict(obj.get("info") or {}))


@dataclass
class Model:
    """One booster per set of live sensor kinds (every non-empty combination of the three):
    a unit that has lost a sensor is classified by the trees that learnt to do without it.
    A vector is scored by the booster of the kinds it says are live."""

    classes: tuple[str, ...]
    features: tuple[str, ...]
    boosters: dict[SensorSet, Booster]
    info: dict[str, Any]
    digest: str = ""
    """Short hash of the file the model was read from (``file_digest``; empty for a model
    made in memory): with ``name``, what reports and the status say made a detection."""

    @property
    def name(self) -> str:
        return str(self.info.get("id", "unversioned"))

    def __post_init__(self) -> None:
        self._out = np.zeros(len(self.classes))
        self._uniform = np.full(len(self.classes), 1.0 / len(self.classes))

    @classmethod
    def untrained(cls) -> Model:
        """Every class equally likely (so nothing is reported): for collecting candidates."""
        return cls(CLASSES, FEATURES, {}, {"id": "untrained"})

    def vector(self, named: dict[str, float]) -> FloatArray:
        x = np.array([named.get(name, 0.0) for name in self.features], dtype=np.float64)
        return np.where(np.isfinite(x), x, 0.0)

    def proba(self, named: dict[str, float]) -> FloatArray:
        return self.proba_x(self.vector(named), sensor_set(named))

    def proba_x(self, x: FloatArray, sensors: SensorSet) -> FloatArray:
        b = self.boosters.get(sensors)
        if b is None:
            return self._uniform.copy()
        predict_proba(x, b.feature, b.threshold, b.leaf, b.temperature, self._out)
        return self._out.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "kind": "boosted-trees per sensor set",
            "classes": list(self.classes),
            "features": list(self.features),
            "sets": [{"sensors": list(kinds), **b.to_json()} for kinds, b in self.boosters.items()],
            "info": self.info,
        }

    @classmethod
    def from_json(cls, obj: Any, origin: str) -> Model:
        if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
            raise ModelError(f"{origin}: not a ugs-gateway detector model")
        if obj.get("version") != MODEL_VERSION:
            info = obj.get("info")
            remedy = (
                "calibrate the site again from its walk tests (ugs-gateway calibrate)"
                if isinstance(info, dict) and "prior" in info
                else "retrain it with ugs-gateway train"
            )
            raise ModelError(
                f"{origin}: model version {obj.get('version')} is not supported by this "
                f"detector (it reads version {MODEL_VERSION}): {remedy}"
            )
        try:
            classes = tuple(str(c) for c in obj["classes"])
            features = tuple(str(f) for f in obj["features"])
            sets = list(obj["sets"])
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{origin}: malformed model ({exc})") from None
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ModelError(f"{origin}: model uses unknown features {unknown}")
        if classes != CLASSES:
            raise ModelError(
                f"{origin}: model classes {list(classes)} are not the detector's {list(CLASSES)}"
            )
        boosters: dict[SensorSet, Booster] = {}
        for entry in sets:
            try:
                kinds = tuple(str(k) for k in entry["sensors"])
            except (KeyError, TypeError) as exc:
                raise ModelError(f"{origin}: malformed model ({exc})") from None
            if not kinds or any(k not in KIND_PREFIX for k in kinds) or kinds in boosters:
                raise ModelError(f"{origin}: bad sensor set {list(kinds)}")
            boosters[tuple(k for k in KIND_PREFIX if k in kinds)] = Booster.from_json(
                entry, origin, len(classes), len(features)
            )
        if not boosters:
            raise ModelError(f"{origin}: model has no trees")
        return cls(classes, features, boosters, dict(obj.get("info") or {}))


def _num(value: float) -> float | None:
    """Six significant digits (a retrain that differs only in the last bits of floating
    point gives the same file); +inf (a split that always goes left) as null."""
    v = float(value)
    return None if math.isinf(v) else float(f"{v:.6g}")


PACKAGED_MODELS: dict[Installation, str] = {"ground": "model.json", "floor": "model-floor.json"}
"""The packaged model of each installation (``[dsp.classifier] installation``): ``ground``
is trained on the studied scenarios; ``floor`` is that model calibrated on simulated homes
and real floors (``make floor-model``), for a sensor under or on a building's floor."""
DIGEST_HEX = 8


def file_digest(data: bytes) -> str:
    """A model file's short hash: the first ``DIGEST_HEX`` hex digits of its SHA-256."""
    return hashlib.sha256(data).hexdigest()[:DIGEST_HEX]


def load_model(path: str | Path | None = None, installation: Installation = "ground") -> Model:
    """The model at ``path``, or the one shipped in the package for ``installation``."""
    if path is None:
        name = PACKAGED_MODELS[installation]
        origin = f"dsp/{name}"
        try:
            data = resources.files("dsp").joinpath(name).read_bytes()
        except OSError as exc:
            raise ModelError(f"{origin}: cannot read the packaged model ({exc})") from None
    else:
        origin = str(path)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelError(f"{origin}: cannot read model ({exc.strerror or exc})") from None
    try:
        obj = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{origin}: not JSON ({exc})") from None
    model = Model.from_json(obj, origin)
    model.digest = file_digest(data)
    return model


def configured_model(config: ClassifierDspConfig) -> Model:
    """The model a ``[dsp.classifier]`` section names: its ``model`` file, else the packaged
    model of its ``installation``."""
    return load_model(config.model, config.installation)
