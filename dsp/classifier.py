"""The event classifier: multinomial logistic regression over fused event features.

Classes: ``noise`` (never reported), ``footstep``, ``vehicle`` and ``unknown`` (a real source
that is neither, e.g. an animal). The model is a small JSON file (``dsp/model.json``) made by
``ugs-gateway train`` from labelled scenario recordings; it holds the feature names, their
standardisation, the weights and a temperature fitted on held-back training data so that the
probabilities are calibrated. Evaluation is one tiny Numba kernel.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

from dsp.records import SensorEvent

FloatArray = npt.NDArray[np.float64]

MODEL_FORMAT = "ugs-dsp-model"
MODEL_VERSION = 1
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
)
PIR_FEATURES = ("pir_log_snr", "pir_lobes", "pir_lobe_s", "pir_log_duration")
MAG_FEATURES = ("mag_log_peak_nt", "mag_log_snr", "mag_log_duration")

FEATURES = (
    "seis_present",
    *(f"seis_{name}" for name in SEISMIC_FEATURES),
    "pir_present",
    *PIR_FEATURES,
    "mag_present",
    *MAG_FEATURES,
)
"""Every feature a model may use, in vector order. A model names the subset it was fitted on."""


class ModelError(ValueError):
    """A model file that cannot be used (missing, malformed, or for other features)."""


def feature_vector(events: list[SensorEvent]) -> dict[str, float]:
    """Features of a group of sensor events: the strongest event of each kind speaks.

    A sensor kind that saw nothing (or is not installed) contributes zeros and
    ``<kind>_present = 0``: the model is trained with such gaps.
    """
    out = dict.fromkeys(FEATURES, 0.0)
    best: dict[str, SensorEvent] = {}
    for ev in events:
        if ev.kind not in best or ev.strength > best[ev.kind].strength:
            best[ev.kind] = ev
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
    mean: FloatArray,
    scale: FloatArray,
    w: FloatArray,
    b: FloatArray,
    out: FloatArray,
) -> None:
    """Softmax of ``w @ ((x - mean) / scale) + b`` into ``out`` (temperature already in w, b)."""
    n_cls = w.shape[0]
    top = -math.inf
    for c in range(n_cls):
        z = b[c]
        for j in range(x.shape[0]):
            z += w[c, j] * ((x[j] - mean[j]) / scale[j])
        out[c] = z
        top = max(top, z)
    total = 0.0
    for c in range(n_cls):
        out[c] = math.exp(out[c] - top)
        total += out[c]
    for c in range(n_cls):
        out[c] /= total


@dataclass
class Model:
    classes: tuple[str, ...]
    features: tuple[str, ...]
    mean: FloatArray
    scale: FloatArray
    weights: FloatArray
    bias: FloatArray
    temperature: float
    info: dict[str, Any]

    def __post_init__(self) -> None:
        t = self.temperature if self.temperature > 0 else 1.0
        self._w = np.ascontiguousarray(self.weights / t)
        self._b = np.ascontiguousarray(self.bias / t)
        self._index = [FEATURES.index(name) for name in self.features]
        self._out = np.zeros(len(self.classes))

    @classmethod
    def untrained(cls) -> Model:
        """Every class equally likely (so nothing is reported): for collecting candidates."""
        n_f, n_c = len(FEATURES), len(CLASSES)
        return cls(
            classes=CLASSES,
            features=FEATURES,
            mean=np.zeros(n_f),
            scale=np.ones(n_f),
            weights=np.zeros((n_c, n_f)),
            bias=np.zeros(n_c),
            temperature=1.0,
            info={"id": "untrained"},
        )

    def proba(self, vector: dict[str, float]) -> FloatArray:
        x = np.array([vector.get(name, 0.0) for name in self.features], dtype=np.float64)
        x = np.where(np.isfinite(x), x, 0.0)
        predict_proba(x, self.mean, self.scale, self._w, self._b, self._out)
        return self._out.copy()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "classes": list(self.classes),
            "features": list(self.features),
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "weights": [_rounded(row) for row in self.weights],
            "bias": _rounded(self.bias),
            "temperature": float(f"{self.temperature:.6g}"),
            "info": self.info,
        }

    @classmethod
    def from_json(cls, obj: Any, origin: str) -> Model:
        if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
            raise ModelError(f"{origin}: not a ugs-gateway detector model")
        if obj.get("version") != MODEL_VERSION:
            raise ModelError(f"{origin}: model version {obj.get('version')} is not supported")
        try:
            classes = tuple(str(c) for c in obj["classes"])
            features = tuple(str(f) for f in obj["features"])
        except (KeyError, TypeError) as exc:
            raise ModelError(f"{origin}: malformed model ({exc})") from None
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ModelError(f"{origin}: model uses unknown features {unknown}")
        try:
            model = cls(
                classes=classes,
                features=features,
                mean=np.asarray(obj["mean"], dtype=np.float64),
                scale=np.asarray(obj["scale"], dtype=np.float64),
                weights=np.asarray(obj["weights"], dtype=np.float64),
                bias=np.asarray(obj["bias"], dtype=np.float64),
                temperature=float(obj.get("temperature", 1.0)),
                info=dict(obj.get("info") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{origin}: malformed model ({exc})") from None
        n_f, n_c = len(features), len(classes)
        if classes[0] != "noise" or model.weights.shape != (n_c, n_f):
            raise ModelError(f"{origin}: model shapes do not match its classes and features")
        if model.mean.shape != (n_f,) or model.scale.shape != (n_f,) or model.bias.shape != (n_c,):
            raise ModelError(f"{origin}: model shapes do not match its classes and features")
        if np.any(model.scale <= 0) or not np.all(np.isfinite(model.weights)):
            raise ModelError(f"{origin}: model has invalid numbers")
        return model


def _rounded(values: FloatArray) -> list[float]:
    # Six significant digits: far below what matters, and it keeps the file identical when
    # a retrain differs only in the last bits of floating-point arithmetic.
    return [float(f"{v:.6g}") for v in np.asarray(values, dtype=np.float64)]


PACKAGED_MODEL = "model.json"


def load_model(path: str | Path | None = None) -> Model:
    """The model at ``path``, or the one shipped in the package."""
    if path is None:
        origin = f"dsp/{PACKAGED_MODEL}"
        try:
            text = resources.files("dsp").joinpath(PACKAGED_MODEL).read_text()
        except OSError as exc:
            raise ModelError(f"{origin}: cannot read the packaged model ({exc})") from None
    else:
        origin = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ModelError(f"{origin}: cannot read model ({exc.strerror or exc})") from None
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{origin}: not JSON ({exc})") from None
    return Model.from_json(obj, origin)
