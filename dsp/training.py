"""Fitting the classifier: gradient boosting of shallow trees on the softmax loss, then a
temperature on held-back recordings so that the confidences are calibrated.

Deterministic: split candidates are quantiles of the training data, ties are broken by
feature and bin order, no sampling; every threshold and leaf is rounded to six significant
digits as soon as it is made (the file holds exactly what was trained), so a retrain on the
same data writes the same file byte for byte.

The number of rounds is chosen on the held-back recordings (the round with the lowest
log-loss), which is also where the temperature is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.classifier import CLASSES, KIND_PREFIX, Booster, Model, SensorSet

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BoostParams:
    max_rounds: int = 150
    learning_rate: float = 0.15
    depth: int = 2
    l2: float = 1.0
    bins: int = 32
    min_leaf: int = 10


def _round6(v: float) -> float:
    return float(f"{v:.6g}")


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def nll(scores: FloatArray, y: IntArray, w: FloatArray | None = None) -> float:
    p = _softmax(scores)
    loss = -np.log(np.maximum(p[np.arange(y.size), y], 1e-300))
    return float(np.average(loss, weights=w)) if y.size else 0.0


class _Binned:
    """Features as bin indices against quantile edges of the training rows."""

    def __init__(self, x: FloatArray, bins: int) -> None:
        qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        self.edges = [np.unique([_round6(v) for v in np.quantile(col, qs)]) for col in x.T]
        self.codes = np.stack(
            [np.searchsorted(e, col, side="right") for e, col in zip(self.edges, x.T, strict=True)],
            axis=1,
        )


def _fit_tree(
    binned: _Binned, g: FloatArray, h: FloatArray, params: BoostParams
) -> tuple[IntArray, FloatArray, FloatArray]:
    """One complete tree of ``params.depth``: (feature, threshold) per node, leaf values."""
    n_nodes = 2**params.depth - 1
    feature = np.zeros(n_nodes, dtype=np.int64)
    threshold = np.full(n_nodes, math.inf)
    leaf = np.zeros(n_nodes + 1)
    rows: list[IntArray] = [np.arange(g.size)]
    for node in range(n_nodes):
        idx = rows[node]
        left, right = idx, idx[:0]
        if idx.size >= 2 * params.min_leaf:
            best = _best_split(binned, g[idx], h[idx], idx, params)
            if best is not None:
                j, b = best
                feature[node] = j
                threshold[node] = binned.edges[j][b]
                go_left = binned.codes[idx, j] <= b
                left, right = idx[go_left], idx[~go_left]
        rows += [left, right]
    for k in range(n_nodes + 1):
        idx = rows[n_nodes + k]
        leaf[k] = _round6(-g[idx].sum() / (h[idx].sum() + params.l2)) if idx.size else 0.0
    return feature, threshold, leaf


def _best_split(
    binned: _Binned, g: FloatArray, h: FloatArray, idx: IntArray, params: BoostParams
) -> tuple[int, int] | None:
    total_g, total_h = g.sum(), h.sum()
    base = total_g * total_g / (total_h + params.l2)
    best_gain, best = 1e-9, None
    counts_all = idx.size
    for j, edges in enumerate(binned.edges):
        if edges.size == 0:
            continue
        codes = binned.codes[idx, j]
        n_bins = edges.size + 1
        gs = np.cumsum(np.bincount(codes, weights=g, minlength=n_bins))[:-1]
        hs = np.cumsum(np.bincount(codes, weights=h, minlength=n_bins))[:-1]
        ns = np.cumsum(np.bincount(codes, minlength=n_bins))[:-1]
        ok = (ns >= params.min_leaf) & (counts_all - ns >= params.min_leaf)
        if not ok.any():
            continue
        gain = gs**2 / (hs + params.l2) + (total_g - gs) ** 2 / (total_h - hs + params.l2) - base
        gain = np.where(ok, gain, -np.inf)
        b = int(np.argmax(gain))
        if gain[b] > best_gain:
            best_gain, best = float(gain[b]), (j, b)
    return best


def _tree_scores(
    x: FloatArray, feature: IntArray, threshold: FloatArray, leaf: FloatArray
) -> FloatArray:
    node = np.zeros(x.shape[0], dtype=np.int64)
    n_nodes = feature.size
    while True:
        inner = node < n_nodes
        if not inner.any():
            break
        i = node[inner]
        left = x[np.flatnonzero(inner), feature[i]] < threshold[i]
        node[inner] = np.where(left, 2 * i + 1, 2 * i + 2)
    return np.asarray(leaf[node - n_nodes])


def fit_temperature(scores: FloatArray, y: IntArray, w: FloatArray | None = None) -> float:
    """Temperature minimising the (weighted) log-loss (golden-section search on log T)."""
    if y.size == 0:
        return 1.0
    lo, hi = math.log(0.2), math.log(5.0)
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(scores / math.exp(a), y, w), nll(scores / math.exp(b), y, w)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(scores / math.exp(a), y, w)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(scores / math.exp(b), y, w)
    return _round6(math.exp((lo + hi) / 2.0))


def train_booster(
    x: FloatArray,
    y: IntArray,
    calibrate: npt.NDArray[np.bool_],
    params: BoostParams,
    row_weight: FloatArray | None = None,
) -> Booster:
    """Boost on the rows not in ``calibrate``; pick the rounds and temperature on those that
    are. ``row_weight`` (default 1) sets a prior other than the training data's mix."""
    n_cls = len(CLASSES)
    w = np.ones(y.size) if row_weight is None else np.asarray(row_weight, dtype=np.float64)
    fit = ~calibrate if calibrate.any() else np.ones(y.size, dtype=bool)
    xf, yf, wf = x[fit], y[fit], w[fit]
    xc, yc, wc = x[calibrate], y[calibrate], w[calibrate]
    binned = _Binned(xf, params.bins)
    target = np.eye(n_cls)[yf]
    scores = np.zeros((yf.size, n_cls))
    cal_scores = np.zeros((yc.size, n_cls))
    trees: list[tuple[IntArray, FloatArray, FloatArray]] = []
    best_rounds, best_loss = 0, math.inf
    for r in range(params.max_rounds):
        p = _softmax(scores)
        for c in range(n_cls):
            g = wf * (p[:, c] - target[:, c])
            h = wf * np.maximum(p[:, c] * (1.0 - p[:, c]), 1e-6)
            feature, threshold, leaf = _fit_tree(binned, g, h, params)
            leaf = np.array([_round6(params.learning_rate * v) for v in leaf])
            trees.append((feature, threshold, leaf))
            scores[:, c] += _tree_scores(xf, feature, threshold, leaf)
            if yc.size:
                cal_scores[:, c] += _tree_scores(xc, feature, threshold, leaf)
        loss = nll(cal_scores, yc, wc) if yc.size else -r
        if loss < best_loss:
            best_rounds, best_loss = r + 1, loss
    kept = trees[: max(best_rounds, 1) * n_cls]
    # Scores of the calibration rows with the kept trees only.
    cal = np.zeros((yc.size, n_cls))
    for t, (feature, threshold, leaf) in enumerate(kept):
        if yc.size:
            cal[:, t % n_cls] += _tree_scores(xc, feature, threshold, leaf)
    temperature = fit_temperature(cal, yc, wc)
    info: dict[str, Any] = {"rows": int(y.size), "rounds": best_rounds}
    counts = np.bincount(y, minlength=n_cls)
    info["examples"] = {cls: int(n) for cls, n in zip(CLASSES, counts, strict=True)}
    if yc.size:
        info["calibration_rows"] = int(yc.size)
        info["calibration_nll"] = round(nll(cal / temperature, yc, wc), 4)
        info["calibration_accuracy"] = round(float(np.mean(np.argmax(cal, axis=1) == yc)), 4)
    return Booster(
        feature=np.array([t[0] for t in kept]),
        threshold=np.array([t[1] for t in kept]),
        leaf=np.array([t[2] for t in kept]),
        temperature=temperature,
        info=info,
    )


CLASS_WEIGHTS: dict[SensorSet, dict[str, float]] = {
    ("magnetometer",): {"vehicle": 6.0},
    ("pir",): {"footstep": 1.5, "vehicle": 0.3},
    ("pir", "magnetometer"): {"footstep": 1.5, "vehicle": 6.0},
}
"""Priors of the units that have only one of the lesser sensors, as they are deployed. A
magnetometer on its own watches a road or a track: the iron it sees beyond a few metres is a
vehicle, and people's tools and keys are taught as unknown but weigh a sixth as much (most
of those examples are people brushing past an indoor unit, which a road-watching
magnetometer rarely meets; at a third, a one-axis sensor's faint, long passes were called
unknown as often as vehicle). A PIR on its own watches a path or a room: a warm body walking
past is taken for a person first (the scenarios' animals would otherwise make it shy of
saying so), and a vehicle's warm swing weighs 0.3, because a PIR cannot tell a car far off
from a person close by (both cross its zones fast): at full weight a room's walkers were
called vehicles, and clouds' swings too. A unit with both and no geophone keeps the
magnetometer's vehicle prior and the PIR's footstep prior, so that it does no worse than
either alone. docs/dsp.md says what each costs.

Each prior is the lesser sensor's where the unit has it: it weighs the examples of its
class that this sensor saw (``PRIOR_SENSOR``). A unit with both does not take a lone
flicker of its PIR, which the magnetometer did not feel, for a vehicle because its
magnetometer watches a road: such a car weighs what it weighs on a lone PIR (0.3), for
its PIR saw it as a lone PIR does (at full weight the pair named 0.902 of the people
within 15 m, where a lone PIR names 0.932, on the dev seeds 7000-7001). Where the unit lacks that
sensor (a vehicle prior on a lone PIR), the prior weighs every example of the class."""

PRIOR_SENSOR = {"vehicle": "magnetometer", "footstep": "pir"}
"""The sensor whose prior each weighted class is."""

MIN_SET_ROWS = 40
"""A sensor set with fewer examples than this gets no booster of its own (the unit then
reports nothing with only those sensors rather than guess)."""


def prior_weights(
    x: FloatArray,
    y: IntArray,
    features: tuple[str, ...],
    kinds: SensorSet,
    table: Mapping[SensorSet, dict[str, float]] = CLASS_WEIGHTS,
) -> FloatArray:
    """Each row's weight: its class's prior in the unit ``kinds`` (``table``) where that
    class's sensor saw it (anywhere, if the unit has no such sensor); where the unit has
    that sensor and it did not see the row, the prior of the unit without it (what the rest
    of the unit saw, it saw as that unit would: a car the magnetometer did not feel is a
    lone PIR's swing); else 1."""
    out = np.ones(y.size)
    for cls, value in table.get(kinds, {}).items():
        rows = y == CLASSES.index(cls)
        sensor = PRIOR_SENSOR[cls]
        if sensor in kinds:
            felt = x[:, features.index(f"{KIND_PREFIX[sensor]}_present")] != 0.0
            without = tuple(k for k in kinds if k != sensor)
            out[rows & ~felt] = table.get(without, {}).get(cls, 1.0)
            rows &= felt
        out[rows] = value
    return out


def train_model(
    x: FloatArray,
    y: IntArray,
    features: tuple[str, ...],
    calibrate: npt.NDArray[np.bool_],
    *,
    params: BoostParams | None = None,
    info: dict[str, Any],
    row_weight: FloatArray | None = None,
    only: Collection[SensorSet] | None = None,
) -> Model:
    """One booster per combination of live sensor kinds found in the rows (``<kind>_live``
    columns), each on the rows of its combination alone (``only`` these combinations, when
    given). ``row_weight`` (default 1) scales each row's class prior (real recordings weigh
    more than rendered ones)."""
    params = params or BoostParams()
    scale = np.ones(y.size) if row_weight is None else np.asarray(row_weight, dtype=np.float64)
    live = {k: features.index(f"{p}_live") for k, p in KIND_PREFIX.items()}
    boosters: dict[SensorSet, Booster] = {}
    for mask in range(1, 1 << len(live)):
        kinds = tuple(k for i, k in enumerate(live) if mask >> i & 1)
        if only is not None and kinds not in only:
            continue
        rows = np.ones(y.size, dtype=bool)
        for k, col in live.items():
            rows &= (x[:, col] != 0.0) == (k in kinds)
        if np.count_nonzero(rows) < MIN_SET_ROWS or np.unique(y[rows]).size < 2:
            continue
        weight = prior_weights(x[rows], y[rows], features, kinds)
        weight *= scale[rows]
        boosters[kinds] = train_booster(x[rows], y[rows], calibrate[rows], params, weight)
    info = dict(info)
    info["class_weights"] = {"+".join(k): v for k, v in CLASS_WEIGHTS.items()}
    info["params"] = {
        "learning_rate": params.learning_rate,
        "depth": params.depth,
        "l2": params.l2,
        "bins": params.bins,
        "min_leaf": params.min_leaf,
    }
    return Model(CLASSES, features, boosters, info)
