"""A site model from walk tests: the packaged model as prior, what the site teaches on top.

For every set of live sensors the prior has a booster for, the site's examples of that set
are boosted further (``dsp.site_boost``). How many rounds (none at all is one choice), the
temperature and, for the unit's own set of sensors, shifts of the noise score (the site's
threshold) and of the vehicle score (its line between footsteps and vehicles) are chosen
by cross-validation that leaves whole passes out: each pass is scored by a model that
never saw it. The same cross-validation scores the result per pass, as the
walk test's summary counts it (``hil.scoring``: detected with its class, precision, false
reports), against the prior's score on the same passes. A site model that does worse than
the prior is refused, with the reasons.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.recordings.waveforms import TruthEvent
from dsp.classifier import CLASSES, FEATURES, KIND_PREFIX, NOISE, Booster, Model, SensorSet
from dsp.config import DspConfig
from dsp.detector import decide
from dsp.site_boost import (
    Anchors,
    SiteBoostParams,
    boost,
    booster_logits,
    class_shift,
    cross_logits,
    fold_of,
    site_booster,
    with_anchors,
)
from dsp.training import _softmax, fit_temperature, nll
from hil.scoring import Counts, score
from hil.site_examples import PassInfo, SiteExamples

FloatArray = npt.NDArray[np.float64]

VEHICLE = CLASSES.index("vehicle")
FOLDS = 5
MIN_ROWS = 40
"""Fewer site examples than this teach no trees (only temperatures)."""
MIN_SET_ROWS = 25
"""A set of sensors with fewer site examples keeps the prior's temperature."""
SHIFTS = tuple(float(v) for v in np.round(np.arange(-2.0, 2.01, 0.25), 2))
"""Noise-score shifts tried for the site's threshold."""
SHIFT_GAIN = 0.02
"""A threshold of the site's own is kept only when it gains at least this much of the
pass score in cross-validation (one pass of fifty): chance alone moves it by less."""
SHIFT_MARGIN = 0.005
"""Shifts whose gains lie within this of the best one's are as good: the smallest of them is
kept (gains flatten out as the shift grows, and which of the far ones comes out a hair
ahead changes with any change in the examples)."""
TOLERANCE = 1e-9
PRIOR_WEIGHTS = (1.0, 0.5)
"""Weights of the prior's scores tried."""
LOSS_MARGIN = 0.01
"""More rounds at the same score per pass must lower the log-loss by this much."""
ANCHOR_SHARE = 1.0
"""The anchors weigh this many times the site's examples, in all. As much as the site: at
three times, the site's trees hardly moved the prior where the walk test showed it wrong
(on two sets of tuning seeds of a foreign ground, one or two of some forty reports of people
still named vehicles, none at one), and the standard scenarios lost no more at one."""
ANCHOR_SEEDS = (2000,)
ANCHOR_S = 600.0
"""The anchors: every training scenario for 10 min from a seed no model was trained or
evaluated on (training uses 1000-1011, evaluation 9000 and up)."""
INSTALLATION_SETTINGS = {"floor": "building"}
"""The scenario setting (``ScenarioSpec.setting``) a unit of an installation (``[dsp.classifier]
installation``) stands in, which its site models are anchored in; the ground (roads,
fields, paths, streets) is anchored in every scenario."""


@dataclass
class PassScore:
    """The walk test scored per pass, as ``eval`` scores a recording."""

    pd: dict[str, float | None]
    """Per marked class: passes detected with their class / passes with signal."""
    n: dict[str, int]
    precision: float | None
    reports: int
    false_reports: int
    nll: float

    @property
    def value(self) -> float:
        """One number to compare by: the mean Pd over the marked classes and the
        precision, equally weighted."""
        pds = [v for v in self.pd.values() if v is not None]
        parts = [*pds, self.precision if self.precision is not None else 1.0]
        return float(np.mean(parts)) if parts else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "pd": self.pd,
            "passes": self.n,
            "precision": self.precision,
            "reports": self.reports,
            "false_reports": self.false_reports,
            "log_loss": round(self.nll, 4),
        }


@dataclass
class Calibration:
    model: Model
    before: PassScore
    after: PassScore
    accepted: bool
    reasons: list[str]
    """Why the site model does worse than the prior (empty when it does not)."""
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)


def _rows_of(x: FloatArray, kinds: SensorSet) -> npt.NDArray[np.bool_]:
    rows = np.ones(x.shape[0], dtype=bool)
    for kind, prefix in KIND_PREFIX.items():
        rows &= (x[:, FEATURES.index(f"{prefix}_live")] != 0.0) == (kind in kinds)
    return rows


def _unit_set(examples: SiteExamples) -> SensorSet | None:
    if not examples.units:
        return None
    x = examples.x[examples.units[0].row]
    return tuple(k for k, p in KIND_PREFIX.items() if x[FEATURES.index(f"{p}_live")])


def pass_score(
    proba: FloatArray, examples: SiteExamples, config: DspConfig, durations: Sequence[float]
) -> PassScore:
    """Score per pass from the probabilities of every example row (the unit's own rows are
    the candidates it would have reported or not)."""

    @dataclass
    class _Det:
        cls: str
        conf: float
        t0: float
        t1: float

    total = Counts()
    for r, duration in enumerate(durations):
        dets = []
        for u in examples.units:
            if u.recording != r or not u.reportable:
                continue
            named = decide(
                proba[u.row], dict(zip(FEATURES, examples.x[u.row], strict=True)), config.classifier
            )
            if named is not None:
                dets.append(_Det(CLASSES[named[0]], named[1], u.t0, u.t1))
        truth = [_truth(p) for p in examples.passes if p.recording == r]
        total.add(score(truth, dets, duration))
    s = total.summary()
    labels = sorted({p.label for p in examples.passes})
    pc = s["per_class"]
    correct = sum(pc[c]["n_correct"] for c in ("footstep", "vehicle", "unknown"))
    reports = sum(pc[c]["n_reported"] for c in ("footstep", "vehicle", "unknown"))
    y = examples.y
    loss = nll(np.log(np.maximum(proba, 1e-300)), y) if y.size else 0.0
    return PassScore(
        pd={c: pc[c]["pd"] for c in labels},
        n={c: pc[c]["n_truth"] for c in labels},
        precision=round(correct / reports, 4) if reports else None,
        reports=reports,
        false_reports=int(s["false_alarms"]),
        nll=loss,
    )


def _truth(p: PassInfo) -> TruthEvent:
    return TruthEvent(
        p.label,
        p.kind,
        p.t0,
        p.t1,
        0.5 * (p.t0 + p.t1),
        p.range_m,
        {"detectable": p.signal},
    )


def worse(before: PassScore, after: PassScore) -> list[str]:
    """Why ``after`` scores worse than ``before`` (empty if it does not): a lower score per
    pass (each marked class's Pd and the precision, equally weighted), or a higher
    log-loss. A class's Pd may fall where the prior reported everything as that class:
    what counts is the whole."""
    reasons = []
    if after.value < before.value - TOLERANCE:
        parts = []
        for cls, pd in before.pd.items():
            new = after.pd.get(cls)
            if pd is not None and new is not None and abs(new - pd) > TOLERANCE:
                parts.append(f"{cls} Pd {pd:.3f} -> {new:.3f}")
        if before.precision is not None and after.precision is not None:
            parts.append(f"precision {before.precision:.3f} -> {after.precision:.3f}")
        reasons.append(
            f"score per pass {before.value:.3f} -> {after.value:.3f} ({', '.join(parts)})"
        )
    if after.nll > before.nll + TOLERANCE:
        reasons.append(f"log-loss {before.nll:.3f} -> {after.nll:.3f}")
    return reasons


def _logits(
    model: Model, x_all: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.bool_], dict[SensorSet, npt.NDArray[np.bool_]]]:
    """Every row's calibrated scores by the booster of its set of sensors (zeros where the
    model has none), which rows had one, and each set's rows."""
    x = x_all[:, [FEATURES.index(f) for f in model.features]]
    start = np.zeros((x_all.shape[0], len(CLASSES)))
    known = np.zeros(x_all.shape[0], dtype=bool)
    rows_of: dict[SensorSet, npt.NDArray[np.bool_]] = {}
    for kinds, booster in model.boosters.items():
        rows = _rows_of(x_all, kinds)
        rows_of[kinds] = rows
        if rows.any():
            start[rows] = booster_logits(booster, x[rows])
            known |= rows
    return start, known, rows_of


def model_score(
    model: Model, examples: SiteExamples, config: DspConfig, durations: Sequence[float]
) -> PassScore:
    """What a finished model (one the site's passes never taught) scores on them."""
    return pass_score(_softmax(_logits(model, examples.x)[0]), examples, config, durations)


def hold_to(
    result: Calibration,
    name: str,
    model: Model,
    examples: SiteExamples,
    config: DspConfig,
    durations: Sequence[float],
) -> PassScore:
    """``model``'s score on the walk tests, which the site model must not do worse than
    either (``result`` is refused, with the reasons, where it does): the model the unit
    runs without a site model, when that is not the prior (a floor unit's floor model)."""
    score = model_score(model, examples, config, durations)
    _held(result, name, score)
    return score


def _held(result: Calibration, name: str, baseline: PassScore) -> None:
    """Refuse ``result`` where its site model does worse than ``baseline``, the score of
    the model called ``name``, saying so in its reasons."""
    below = worse(baseline, result.after)
    if below:
        result.accepted = False
        result.reasons += [f"than the {name}: {r}" for r in below]


def calibrate_from(
    priors: dict[str, Model],
    examples: SiteExamples,
    config: DspConfig,
    durations: Sequence[float],
    *,
    info: dict[str, Any] | None = None,
    anchors: tuple[FloatArray, npt.NDArray[np.int64]] | None = None,
    changes: Sequence[str] | None = None,
) -> tuple[str, dict[str, Calibration]]:
    """A site model from each of ``priors`` (by name: a floor unit may start from the
    packaged ground model or from the floor model it runs), each refused where it does
    worse than any of the priors on the walk tests, and the name of the one to keep: an
    accepted one before a refused one, then the higher score per pass, then the lower
    log-loss (all in cross-validation). Each result's reasons name the prior they are
    against."""
    made = {
        name: calibrate(
            prior, examples, config, durations, info=info, anchors=anchors, changes=changes
        )
        for name, prior in priors.items()
    }
    for name, result in made.items():
        result.reasons = [f"than the {name}: {r}" for r in result.reasons]
        for other, baseline in made.items():
            if other != name:
                _held(result, other, baseline.before)
    kept = max(made, key=lambda n: (made[n].accepted, made[n].after.value, -made[n].after.nll))
    return kept, made


def calibrate(
    prior: Model,
    examples: SiteExamples,
    config: DspConfig,
    durations: Sequence[float],
    *,
    params: SiteBoostParams | None = None,
    folds: int = FOLDS,
    info: dict[str, Any] | None = None,
    anchors: tuple[FloatArray, npt.NDArray[np.int64]] | None = None,
    changes: Sequence[str] | None = None,
) -> Calibration:
    """The site model, its score and the prior's, both by leaving passes out.

    The site's trees are fitted on the examples of every set of sensors together (each row
    starting from its own set's booster, the ``<kind>_live`` features telling the sets
    apart): what the ground does to the signals is the same for all of them. The same trees
    are then added to every booster; each set's temperature is refitted on its own rows
    where it has enough of them.

    ``anchors`` (feature rows in ``FEATURES`` order and labels) are examples of the
    scenarios the prior was trained on (``anchor_examples``): the site's trees are fitted
    on them too, weighing ``ANCHOR_SHARE`` times the site's own examples in all, so that
    they change the prior's answers only where the site differs from that world.

    ``durations`` are the walk tests' lengths (for the false reports per pass score).

    ``changes``: the kinds of sensor the site changes (None: all). A set of sensors with
    none of them keeps the prior's booster: a simulated floor says what a floor does to a
    geophone, not what a real room does to a PIR."""
    params = params or SiteBoostParams()
    y = examples.y
    x = examples.x[:, [FEATURES.index(f) for f in prior.features]]
    start, known, rows_of = _logits(prior, examples.x)
    before = _softmax(start)
    score_before = pass_score(before, examples, config, durations)
    sets: dict[str, Any] = {
        "+".join(k): {"rows": int(np.count_nonzero(r))} for k, r in rows_of.items()
    }
    xs, ys, ss = x[known], y[known], start[known]
    n = int(ys.size)
    anchor_rows = _anchor_rows(prior, anchors, n) if anchors is not None else None
    oof: dict[int, FloatArray] = {0: ss}
    if n >= MIN_ROWS and np.unique(ys).size >= 2:
        fold = fold_of(examples.group, folds)
        oof = cross_logits(xs, ys, ss, fold[known], params, MIN_ROWS, anchor_rows)
    rounds, temps, after = _chosen_rounds(oof, start, known, rows_of, examples, config, durations)
    sets["rounds"] = rounds
    kept = {k for k in prior.boosters if changes is not None and not set(k) & set(changes)}
    for kinds in kept:
        sets["+".join(kinds)]["prior_kept"] = True
    for kinds, t in temps.items():
        if kinds not in kept:
            sets["+".join(kinds)]["temperature"] = t
    # For the unit's own set of sensors, where the passes are counted: the site's threshold
    # (a shift of the noise score), then its line between footsteps and vehicles (a shift
    # of the vehicle score: a ground that rings makes footfalls sound like engines), each
    # kept when it gains enough.
    shift = vehicle_shift = 0.0
    unit = _unit_set(examples)
    if unit is not None and unit not in kept and unit in rows_of and rows_of[unit].any():
        rows = rows_of[unit]
        shift = _best_shift(after, rows, NOISE, examples, config, durations)
        vehicle_shift = _best_shift(after, rows, VEHICLE, examples, config, durations)
        for key, value in (("noise_shift", shift), ("vehicle_shift", vehicle_shift)):
            if value:
                sets["+".join(unit)][key] = value
    score_after = pass_score(after, examples, config, durations)
    reasons = worse(score_before, score_after)
    trees: list[Any] = []
    if rounds:
        xt, yt, st, wt = with_anchors(xs, ys, ss, anchor_rows)
        trees = boost(xt, yt, st, params, rounds, sample_weight=wt)[0]
    unit_shifts = {c: v for c, v in ((NOISE, shift), (VEHICLE, vehicle_shift)) if v}
    boosters: dict[SensorSet, Booster] = {}
    for kinds, booster in prior.boosters.items():
        temperature = temps.get(kinds, 1.0)
        shifts = unit_shifts if kinds == unit else {}
        if kinds in kept or (not trees and temperature == 1.0 and not shifts):
            boosters[kinds] = booster  # the site changes nothing in it
            continue
        set_info = {**booster.info, "site": sets["+".join(kinds)]}
        boosters[kinds] = site_booster(booster, trees, temperature, set_info, shifts)
    model = Model(prior.classes, prior.features, boosters, dict(info or {}))
    return Calibration(
        model=model,
        before=score_before,
        after=score_after,
        accepted=not reasons,
        reasons=reasons,
        sets=sets,
    )


def _chosen_rounds(
    oof: dict[int, FloatArray],
    start: FloatArray,
    known: npt.NDArray[np.bool_],
    rows_of: dict[SensorSet, npt.NDArray[np.bool_]],
    examples: SiteExamples,
    config: DspConfig,
    durations: Sequence[float],
) -> tuple[int, dict[SensorSet, float], FloatArray]:
    """How many of the site's rounds to keep, with each set's temperature and the
    probabilities out of fold: the fewest rounds that reach the best score per pass in
    cross-validation (the site teaches no more than that), then the lowest log-loss
    (temperatures refitted per set)."""
    y = examples.y
    ys = y[known]
    best: tuple[float, float, int] = (-math.inf, math.inf, 0)
    candidates: dict[int, tuple[dict[SensorSet, float], FloatArray]] = {}
    for r in sorted(oof):
        z = start.copy()
        z[known] = oof[r]
        temps = _temperatures(z, y, rows_of)
        proba = _softmax(_scaled(z, temps, rows_of))
        candidates[r] = (temps, proba)
        value = pass_score(proba, examples, config, durations).value
        loss = nll(np.log(np.maximum(proba[known], 1e-300)), ys) if ys.size else 0.0
        if value > best[0] + TOLERANCE or (
            abs(value - best[0]) <= TOLERANCE and loss < best[1] - LOSS_MARGIN
        ):
            best = (value, loss, r)
    rounds = best[2]
    return rounds, *candidates[rounds]


def _best_shift(
    proba: FloatArray,
    rows: npt.NDArray[np.bool_],
    cls: int,
    examples: SiteExamples,
    config: DspConfig,
    durations: Sequence[float],
) -> float:
    """The shift of class ``cls``'s score on ``rows`` (from ``SHIFTS``) that gains the most
    of the score per pass, at least ``SHIFT_GAIN`` (the smallest of those within
    ``SHIFT_MARGIN`` of the most), or 0; applied to ``proba`` in place."""
    base = pass_score(proba, examples, config, durations).value
    gains: dict[float, float] = {}
    for s in SHIFTS:
        trial = proba.copy()
        trial[rows] = class_shift(proba[rows], cls, s)
        gains[s] = pass_score(trial, examples, config, durations).value - base
    most = max(gains.values(), default=0.0)
    best = 0.0
    if most >= SHIFT_GAIN - TOLERANCE:
        near = [s for s, g in gains.items() if g >= max(most - SHIFT_MARGIN, SHIFT_GAIN)]
        best = min(near, key=abs)
    if best:
        proba[rows] = class_shift(proba[rows], cls, best)
    return best


def _anchor_rows(
    prior: Model, anchors: tuple[FloatArray, npt.NDArray[np.int64]], site_rows: int
) -> Anchors | None:
    """The anchors in the prior's feature order with its scores, weighing ``site_rows``
    in all."""
    xa_all, ya = anchors
    if ya.size == 0:
        return None
    xa = xa_all[:, [FEATURES.index(f) for f in prior.features]]
    start = np.zeros((ya.size, len(CLASSES)))
    keep = np.zeros(ya.size, dtype=bool)
    for kinds, booster in prior.boosters.items():
        rows = _rows_of(xa_all, kinds)
        if rows.any():
            start[rows] = booster_logits(booster, xa[rows])
            keep |= rows
    if not keep.any():
        return None
    share = ANCHOR_SHARE * site_rows / int(np.count_nonzero(keep))
    return Anchors(xa[keep], ya[keep], start[keep], share)


def anchor_scenarios(setting: str | None = None) -> tuple[str, ...]:
    """The scenarios the packaged model was trained on that anchor a site model: those of
    ``setting`` (``ScenarioSpec.setting``: "building", "field", ...), or every one when it
    is None or none is of it. A site model made for one setting (``calibrate --simulate
    home``: a floor) keeps what the packaged model knows of that setting; anchored in the
    fields too, a floor model kept calling a walker's uneven gait (a limp, a shuffle) an
    animal's ``unknown`` (docs/calibration.md)."""
    from hil.scenarios.specs import SPECS
    from hil.training_data import TRAIN_SCENARIOS

    own = tuple(name for name in TRAIN_SCENARIOS if SPECS[name].setting == setting)
    return own or tuple(TRAIN_SCENARIOS)


def installation_anchors(installation: str) -> tuple[str, ...]:
    """The scenarios that anchor a site model of a unit of ``installation``."""
    return anchor_scenarios(INSTALLATION_SETTINGS.get(installation))


def anchor_examples(
    config: DspConfig,
    seeds: Sequence[int] = ANCHOR_SEEDS,
    duration_s: float = ANCHOR_S,
    scenarios: Sequence[str] | None = None,
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Labelled examples of the ``scenarios`` the packaged model was trained on (default:
    every one), made the way training makes them (``hil.training_data``), from seeds of
    their own."""
    from hil.training_data import recording_examples

    rows: list[list[float]] = []
    ys: list[int] = []
    for seed in seeds:
        for name in scenarios if scenarios is not None else anchor_scenarios():
            vectors, taught = recording_examples(name, seed, duration_s, config)
            rows += [[v[f] for f in FEATURES] for v in vectors]
            ys += taught
    return (
        np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES)),
        np.asarray(ys, dtype=np.int64),
    )


def _temperatures(
    z: FloatArray, y: npt.NDArray[np.int64], rows_of: dict[SensorSet, npt.NDArray[np.bool_]]
) -> dict[SensorSet, float]:
    """A temperature per set with enough rows to fit one."""
    out: dict[SensorSet, float] = {}
    for kinds, rows in rows_of.items():
        if np.count_nonzero(rows) >= MIN_SET_ROWS and np.unique(y[rows]).size >= 2:
            out[kinds] = fit_temperature(z[rows], y[rows])
    return out


def _scaled(
    z: FloatArray, temps: dict[SensorSet, float], rows_of: dict[SensorSet, npt.NDArray[np.bool_]]
) -> FloatArray:
    out = z.copy()
    for kinds, t in temps.items():
        out[rows_of[kinds]] /= t
    return out
