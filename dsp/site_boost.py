"""Boosting a trained booster further on one site's examples.

The packaged model is the prior: its trees stay as they are, and new trees are fitted to
what it still gets wrong on the site's examples (gradient boosting on the softmax loss,
started from the prior's calibrated scores instead of from zero). A constant round (trees
that never split) can shift the noise score: the site's own threshold. The temperature is
fitted afresh on scores the site model gave to examples it was not fitted on.

Deterministic like ``dsp.training``: the same examples give the same trees, rounded to six
significant digits as they are made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.classifier import CLASSES, NOISE, Booster
from dsp.training import BoostParams, _Binned, _fit_tree, _round6, _softmax, _tree_scores

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Tree = tuple[IntArray, FloatArray, FloatArray]


@dataclass(frozen=True)
class SiteBoostParams:
    """How hard a site's examples may pull: few, shallow, well-damped trees."""

    checkpoints: tuple[int, ...] = (0, 5, 10, 20, 40)
    """Rounds tried (0: the prior with a new temperature only); the best in
    cross-validation is kept."""
    learning_rate: float = 0.1
    depth: int = 2
    l2: float = 5.0
    bins: int = 16
    min_leaf: int = 5
    hessian_floor: float = 0.05
    """Every example weighs at least this much in its leaf's value (Newton steps weigh
    the examples the prior is sure of by almost nothing, so a leaf shared by many
    examples it gets wrong and a few it gets right would overrule the latter)."""

    @property
    def boost(self) -> BoostParams:
        return BoostParams(
            max_rounds=max(self.checkpoints),
            learning_rate=self.learning_rate,
            depth=self.depth,
            l2=self.l2,
            bins=self.bins,
            min_leaf=self.min_leaf,
        )


def booster_logits(b: Booster, x: FloatArray) -> FloatArray:
    """The booster's calibrated scores (its leaves summed, over its temperature): what its
    softmax turns into probabilities."""
    n_cls = len(CLASSES)
    out = np.zeros((x.shape[0], n_cls))
    for t in range(b.feature.shape[0]):
        out[:, t % n_cls] += _tree_scores(x, b.feature[t], b.threshold[t], b.leaf[t])
    return out / b.temperature


def boost(
    x: FloatArray,
    y: IntArray,
    start: FloatArray,
    params: SiteBoostParams,
    rounds: int,
    *,
    watch: FloatArray | None = None,
    watch_start: FloatArray | None = None,
    sample_weight: FloatArray | None = None,
) -> tuple[list[Tree], dict[int, FloatArray]]:
    """``rounds`` rounds of trees fitted from scores ``start`` on rows ``x``, ``y`` (each
    weighing ``sample_weight``, default 1); with ``watch``, the scores of those rows at
    every checkpoint."""
    n_cls = len(CLASSES)
    p = params.boost
    binned = _Binned(x, p.bins)
    target = np.eye(n_cls)[y]
    weight = np.ones(y.size) if sample_weight is None else sample_weight
    scores = start.copy()
    seen = None if watch is None or watch_start is None else watch_start.copy()
    trees: list[Tree] = []
    snaps: dict[int, FloatArray] = {}
    if seen is not None and 0 in params.checkpoints:
        snaps[0] = seen.copy()
    for r in range(rounds):
        prob = _softmax(scores)
        for c in range(n_cls):
            g = weight * (prob[:, c] - target[:, c])
            h = weight * np.maximum(prob[:, c] * (1.0 - prob[:, c]), params.hessian_floor)
            feature, threshold, leaf = _fit_tree(binned, g, h, p)
            leaf = np.array([_round6(p.learning_rate * v) for v in leaf])
            trees.append((feature, threshold, leaf))
            scores[:, c] += _tree_scores(x, feature, threshold, leaf)
            if seen is not None and watch is not None:
                seen[:, c] += _tree_scores(watch, feature, threshold, leaf)
        if seen is not None and r + 1 in params.checkpoints:
            snaps[r + 1] = seen.copy()
    return trees, snaps


@dataclass
class Anchors:
    """Examples of the world the prior was trained on, fitted along with the site's so
    that its trees change what the prior says only where the site differs; ``weight`` per
    row."""

    x: FloatArray
    y: IntArray
    start: FloatArray
    weight: float


def with_anchors(
    x: FloatArray, y: IntArray, start: FloatArray, anchors: Anchors | None
) -> tuple[FloatArray, IntArray, FloatArray, FloatArray | None]:
    """The site's rows and the anchors as one training set, with each row's weight."""
    if anchors is None or anchors.y.size == 0:
        return x, y, start, None
    w = np.r_[np.ones(y.size), np.full(anchors.y.size, anchors.weight)]
    return (
        np.vstack([x, anchors.x]),
        np.r_[y, anchors.y],
        np.vstack([start, anchors.start]),
        w,
    )


def fold_of(groups: IntArray, folds: int) -> IntArray:
    """Each row's fold: whole groups (passes) at a time, taken in turn."""
    order = {g: i for i, g in enumerate(np.unique(groups))}
    return np.asarray([order[g] % folds for g in groups], dtype=np.int64)


def cross_logits(
    x: FloatArray,
    y: IntArray,
    start: FloatArray,
    fold: IntArray,
    params: SiteBoostParams,
    min_rows: int,
    anchors: Anchors | None = None,
) -> dict[int, FloatArray]:
    """Scores of every row by models fitted without its fold (and with every anchor), at
    each checkpoint. A fold whose training rows are too few (or of one class) leaves its
    rows at ``start``."""
    out = {r: start.copy() for r in params.checkpoints}
    rounds = max(params.checkpoints)
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        if np.count_nonzero(train) < min_rows or np.unique(y[train]).size < 2:
            continue
        xt, yt, st, wt = with_anchors(x[train], y[train], start[train], anchors)
        _, snaps = boost(
            xt,
            yt,
            st,
            params,
            rounds,
            watch=x[test],
            watch_start=start[test],
            sample_weight=wt,
        )
        for r, s in snaps.items():
            out[r][test] = s
    return out


def noise_shift(proba: FloatArray, shift: float) -> FloatArray:
    """Probabilities with ``shift`` added to the noise score (positive: stricter)."""
    return class_shift(proba, NOISE, shift)


def class_shift(proba: FloatArray, cls: int, shift: float) -> FloatArray:
    """Probabilities with ``shift`` added to class ``cls``'s score."""
    z = np.log(np.maximum(proba, 1e-300))
    z[:, cls] += shift
    return _softmax(z)


def site_booster(
    prior: Booster,
    trees: Sequence[Tree],
    temperature: float,
    info: dict[str, Any],
    shifts: Mapping[int, float] | None = None,
) -> Booster:
    """The prior's trees, then the site's (fitted on the prior's calibrated scores, so
    scaled by its temperature here), then a constant round holding ``shifts`` (class index
    to a shift of its score: the site's threshold on noise, its line on vehicle); the new
    temperature applies to their sum."""
    n_cls = len(CLASSES)
    t0 = prior.temperature
    n_nodes = prior.feature.shape[1]
    feature = [f for f in prior.feature]
    threshold = [th for th in prior.threshold]
    leaf = [lf for lf in prior.leaf]
    for f, th, lf in trees:
        pad = n_nodes - f.size
        if pad < 0:
            raise ValueError("site trees may not be deeper than the prior's")
        # A shallower tree in a deeper layout: a node that always goes left carries each
        # of its leaves down to the first leaf below it.
        ff, tt, ll = _deepen(f, th, lf, n_nodes)
        feature.append(ff)
        threshold.append(tt)
        leaf.append(np.array([_round6(t0 * v) for v in ll]))
    shifts = shifts or {}
    if any(shifts.values()):
        for c in range(n_cls):
            feature.append(np.zeros(n_nodes, dtype=np.int64))
            threshold.append(np.full(n_nodes, math.inf))
            value = _round6(t0 * temperature * shifts.get(c, 0.0))
            leaf.append(np.array([value] + [0.0] * n_nodes))
    return Booster(
        feature=np.asarray(feature),
        threshold=np.asarray(threshold),
        leaf=np.asarray(leaf),
        temperature=_round6(t0 * temperature),
        info=info,
    )


def _deepen(
    feature: IntArray, threshold: FloatArray, leaf: FloatArray, n_nodes: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    """A complete tree of ``n_nodes`` inner nodes that gives the same leaf for every input:
    below each old leaf, nodes that always go left."""
    old_nodes = feature.size
    if old_nodes == n_nodes:
        return feature, threshold, leaf
    f = np.zeros(n_nodes, dtype=np.int64)
    th = np.full(n_nodes, math.inf)
    f[:old_nodes] = feature
    th[:old_nodes] = threshold
    lf = np.zeros(n_nodes + 1)
    # Old leaf j is node old_nodes + j; follow left children down to a leaf.
    for j in range(old_nodes + 1):
        node = old_nodes + j
        while node < n_nodes:
            node = 2 * node + 1
        lf[node - n_nodes] = leaf[j]
    return f, th, lf
