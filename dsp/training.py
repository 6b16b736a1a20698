"""Fitting the classifier: multinomial logistic regression by Newton's method, then a
temperature on held-back data so that the confidences are calibrated.

Deterministic: no random initialisation, a fixed iteration budget, plain numpy linear
algebra; the file written rounds every number to six significant digits, so a retrain on
the same data reproduces it byte for byte.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.classifier import CLASSES, Model

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NEWTON_ITERATIONS = 60


def _softmax_ref(z: FloatArray) -> FloatArray:
    """Softmax over [0, z...] (class 0 is the reference with fixed zero logit)."""
    full = np.concatenate([np.zeros((z.shape[0], 1)), z], axis=1)
    full -= full.max(axis=1, keepdims=True)
    e = np.exp(full)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_logistic(
    x: FloatArray, y: IntArray, n_classes: int, l2: float, weights: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Weights (C, F) and bias (C,) of a multinomial logistic regression, class 0 fixed at
    zero; L2 penalty ``l2`` on the weights (not the biases); optional sample weights."""
    n, f = x.shape
    k = n_classes - 1
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    sw = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    target = np.zeros((n, n_classes))
    target[np.arange(n), y] = 1.0
    theta = np.zeros((k, f + 1))
    penalty = np.full(f + 1, l2)
    penalty[-1] = 1e-6  # biases: just enough to keep the system well posed
    reg = np.tile(penalty, k)
    for _ in range(NEWTON_ITERATIONS):
        p = _softmax_ref(xb @ theta.T)[:, 1:]
        grad = ((p - target[:, 1:]) * sw[:, None]).T @ xb + theta * penalty[None, :]
        hess = np.zeros((k * (f + 1), k * (f + 1)))
        for a in range(k):
            for b in range(k):
                w = p[:, a] * ((1.0 if a == b else 0.0) - p[:, b]) * sw
                hess[a * (f + 1) : (a + 1) * (f + 1), b * (f + 1) : (b + 1) * (f + 1)] = (
                    xb.T * w
                ) @ xb
        hess += np.diag(reg)
        step = np.linalg.solve(hess, grad.reshape(-1)).reshape(k, f + 1)
        theta -= step
        if float(np.max(np.abs(step))) < 1e-9:
            break
    weights_out = np.concatenate([np.zeros((1, f)), theta[:, :f]])
    bias_out = np.concatenate([[0.0], theta[:, f]])
    return weights_out, bias_out


def nll(logits: FloatArray, y: IntArray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(y.size), y].mean())


def fit_temperature(logits: FloatArray, y: IntArray) -> float:
    """Temperature minimising the negative log-likelihood (golden-section on log T)."""
    if y.size == 0:
        return 1.0
    lo, hi = math.log(0.2), math.log(5.0)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits / math.exp(a), y), nll(logits / math.exp(b), y)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits / math.exp(a), y)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits / math.exp(b), y)
    return math.exp((lo + hi) / 2.0)


def train_model(
    x: FloatArray,
    y: IntArray,
    features: tuple[str, ...],
    calibrate: npt.NDArray[np.bool_],
    *,
    l2: float,
    info: dict[str, Any],
) -> Model:
    """Fit on the rows not in ``calibrate``, then the temperature on those that are."""
    fit = ~calibrate
    mean = x[fit].mean(axis=0)
    scale = x[fit].std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    xs = (x - mean) / scale
    # Each class weighs the same in the fit, whatever its count; the temperature and a
    # prior correction on the calibration rows restore calibrated probabilities.
    counts = np.bincount(y[fit], minlength=len(CLASSES)).astype(np.float64)
    present = counts > 0
    class_w = np.zeros(len(CLASSES))
    class_w[present] = fit.sum() / (present.sum() * counts[present])
    w, b = fit_logistic(xs[fit], y[fit], len(CLASSES), l2, class_w[y[fit]])
    # Undo the class balancing: add the log of the true class priors to the biases.
    prior = np.maximum(counts, 1.0) / counts.sum()
    b = b + np.log(prior) - np.log(np.full(len(CLASSES), 1.0 / len(CLASSES)))
    logits = xs[calibrate] @ w.T + b
    temperature = fit_temperature(logits, y[calibrate])
    info = dict(info)
    if calibrate.any():
        info["calibration_nll"] = round(nll(logits / temperature, y[calibrate]), 4)
    return Model(
        classes=CLASSES,
        features=features,
        mean=mean,
        scale=scale,
        weights=w,
        bias=b,
        temperature=temperature,
        info=info,
    )
