"""What a walk test teaches: labelled candidates of the site's own recordings.

The same examples training makes from scenarios (``hil.training_data``), made from walk-test
recordings whose truth is the technician's marks: the detector runs over each recording as
the unit ran, keeps every fused group it would classify, for the unit's sensors and for
every subset of them, and each group is labelled by the pass it overlaps (``noise`` where
nothing was marked). Every row also says which pass it belongs to (``group``), so a site
model can be scored by leaving whole passes out, and which candidates the unit itself, with
all its sensors, would have reported on (``units``), so the score is counted per pass as a
technician counts it.

A stretch in which a sensor delivered nothing (it died or was unplugged during the walk
test) is no example for the sets of sensors that include it: a unit missing that sensor is
classified by the set without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from drivers.recordings.waveforms import Recording, TruthEvent
from dsp.classifier import FEATURES, NOISE, Model
from dsp.config import DspConfig
from dsp.detector import Candidate, long_enough, regroup
from dsp.records import SensorEvent
from hil.analysis import OFFLINE_PRIME_S, per_file_notes_quiet, run_detector
from hil.clips import SHORT_TAIL_S, cut, longest_quiet, onsets_apart, short_clip
from hil.training_data import LABEL_TOLERANCE_S, subset_labels, subsets

CLIPS_PER_PASS = 4
CLIP_LEAD_S = (0.0, 3.0)
CLIP_LENGTH_S = (6.0, 25.0)
"""Triggered clips cut from each pass, as training cuts them from its recordings
(``hil.training_data``): each starts up to 3 s before some sensor's onset in the pass."""

SHORT_CLIPS_PER_PASS = 2
"""For a model that will read triggered clips (``calibrate --simulate``), short clips of each
pass (``hil.clips.short_clip``), and as many of what else set a sensor off (a knock, a
door), which are noise."""

DEAD_S = 2.0
"""A channel without valid samples for this long counts as dead over that stretch."""


@dataclass
class PassInfo:
    """One marked pass of one walk test, and what the sensors made of it."""

    recording: int
    mark: int
    label: str
    kind: str
    range_m: float
    t0: float
    t1: float
    group: int
    sensors: list[str] = field(default_factory=list)
    """Sensors whose chain saw an event during the pass (none: no signal)."""

    @property
    def signal(self) -> bool:
        return bool(self.sensors)


@dataclass
class UnitCandidate:
    """A candidate of the unit with all its sensors: enough to score it per pass."""

    recording: int
    row: int
    """Its row in the examples."""
    t0: float
    t1: float
    reportable: bool
    """Long enough to be reported (``[dsp.classifier] min_duration_s``)."""


@dataclass
class SiteExamples:
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    """The pass (or stretch before the first pass) each row belongs to."""
    passes: list[PassInfo]
    units: list[UnitCandidate]
    dead: dict[str, list[tuple[int, float, float]]]
    """Per sensor kind, ``(recording, t0, t1)`` stretches in which it delivered nothing."""

    def __len__(self) -> int:
        return int(self.y.size)


def dead_spans(rec: Recording) -> dict[str, list[tuple[float, float]]]:
    """Per sensor kind, the stretches (seconds from the start) in which a channel of that
    kind delivered no valid sample for ``DEAD_S`` or more, including a channel that ended
    early."""
    out: dict[str, list[tuple[float, float]]] = {}
    end = rec.duration
    for ch in rec.channels.values():
        spans: list[tuple[float, float]] = []
        if ch.valid is not None:
            bad = ~ch.valid
            edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(np.int8), 0]))
            for a, b in zip(edges[::2], edges[1::2], strict=True):
                if (b - a) / ch.rate >= DEAD_S:
                    spans.append((a / ch.rate, b / ch.rate))
        if end - ch.duration >= DEAD_S:
            spans.append((ch.duration, end))
        if spans:
            out.setdefault(ch.kind, []).extend(spans)
    return out


def _cared(truth: Sequence[TruthEvent]) -> list[TruthEvent]:
    """The events a site's examples are labelled and scored by."""
    return [ev for ev in truth if not ev.extra.get("dont_care")]


def _ignored(truth: Sequence[TruthEvent]) -> list[TruthEvent]:
    """Stretches marked ``dont_care`` (a prepared real recording's energy nobody can explain,
    or a walk its signal never shows): neither a pass nor noise, as in training."""
    return [ev for ev in truth if ev.extra.get("dont_care")]


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def _group_of(t: float, starts: Sequence[float], first: int) -> int:
    """The pass a time falls in: the last one started at or before it (the first one for
    the stretch before any pass)."""
    k = int(np.searchsorted(np.asarray(starts), t, side="right")) - 1
    return first + max(k, 0)


def site_examples(
    recordings: Sequence[Recording],
    config: DspConfig,
    *,
    prime_s: float | None = None,
    clips_per_pass: int = CLIPS_PER_PASS,
    short_clips_per_pass: int = 0,
) -> SiteExamples:
    """Labelled candidates of walk-test recordings (truth: the marked passes), of
    ``clips_per_pass`` triggered clips cut from each pass that some sensor saw, and of
    ``short_clips_per_pass`` short ones of it and as many of what else set a sensor off."""
    with per_file_notes_quiet():
        return _examples(recordings, config, prime_s, clips_per_pass, short_clips_per_pass)


def _examples(
    recordings: Sequence[Recording],
    config: DspConfig,
    prime_s: float | None,
    clips_per_pass: int,
    short_clips_per_pass: int,
) -> SiteExamples:
    rows: list[list[float]] = []
    ys: list[int] = []
    groups: list[int] = []
    passes: list[PassInfo] = []
    units: list[UnitCandidate] = []
    dead_all: dict[str, list[tuple[int, float, float]]] = {}
    next_group = 0
    for r, rec in enumerate(recordings):
        truth = sorted(_cared(rec.truth), key=lambda ev: ev.t0)
        ignored = _ignored(rec.truth)
        result = run_detector(
            rec, config, model=Model.untrained(), keep_candidates=True, prime_s=prime_s
        )
        events: list[SensorEvent] = result.detector.sensor_events
        dead = dead_spans(rec)
        for kind, spans in dead.items():
            dead_all.setdefault(kind, []).extend((r, a, b) for a, b in spans)
        starts = [ev.t0 for ev in truth]
        first = next_group
        mine: list[PassInfo] = []
        for j, ev in enumerate(truth):
            seen = sorted(
                {
                    e.sensor
                    for e in events
                    if _overlap(e.t0, e.t1, ev.t0 - LABEL_TOLERANCE_S, ev.t1 + LABEL_TOLERANCE_S)
                    > 0
                }
            )
            mine.append(
                PassInfo(
                    recording=r,
                    mark=int(ev.extra.get("mark", j)),
                    label=ev.label,
                    kind=str(ev.extra.get("kind", ev.source)),
                    range_m=ev.range_m,
                    t0=ev.t0,
                    t1=ev.t1,
                    group=first + j,
                    sensors=seen,
                )
            )
        passes += mine
        next_group = first + max(len(truth), 1)
        kinds = sorted({ch.kind for ch in rec.channels.values()})
        # A pass no sensor saw teaches nothing: what lies in it is whatever else was there.
        taught_truth = [ev for ev, p in zip(truth, mine, strict=True) if p.signal]
        pieces: list[tuple[Recording, list[SensorEvent], int | None]] = [(rec, events, None)]
        rng = np.random.default_rng([r, 11])
        # Where short clips start (what set the recorder off), end at the latest, and the
        # group their rows belong to.
        triggers: list[tuple[float, float, int]] = []
        for info in mine:
            onsets = [e.t0 for e in events if info.t0 - 1.0 <= e.t0 < info.t1]
            if not info.signal or not onsets:
                continue
            triggers += [(min(onsets), info.t1, info.group)] * short_clips_per_pass
            for _ in range(clips_per_pass):
                a = max(0.0, min(onsets) - float(rng.uniform(*CLIP_LEAD_S)))
                last = max(a, *onsets)
                a = float(rng.uniform(a, last)) if last > a else a
                b = min(rec.duration, a + float(rng.uniform(*CLIP_LENGTH_S)))
                if b - a < CLIP_LENGTH_S[0]:
                    continue
                clip = cut(replace(rec, truth=taught_truth + ignored), a, b)
                pieces.append(_piece(clip, config, info.group))
        # Short clips of what set a recorder off, a pass or anything else (a knock, a door),
        # as many of each.
        untold = onsets_apart(events, rec.truth, LABEL_TOLERANCE_S)
        rng.shuffle(untold)
        triggers += [
            (t, rec.duration, _group_of(t, starts, first))
            for t in untold[: max(len(triggers), short_clips_per_pass)]
        ]
        pieces += _short_clips(replace(rec, truth=taught_truth + ignored), triggers, config, rng)
        for piece, piece_events, group in pieces:
            taught_piece = taught_truth if group is None else _cared(piece.truth)
            ignored_piece = ignored if group is None else _ignored(piece.truth)
            piece_dead = dead if group is None else dead_spans(piece)
            for subset in subsets(kinds):
                candidates = regroup(piece_events, subset, config)
                taught = subset_labels(candidates, taught_piece, subset)
                full = len(subset) == len(kinds) and group is None
                for cand, y in zip(candidates, taught, strict=True):
                    if _blind(cand, subset, piece_dead):
                        continue
                    if y == NOISE and any(
                        _overlap(cand.t0, cand.t1, ev.t0, ev.t1) > 0 for ev in ignored_piece
                    ):
                        continue  # in a stretch nobody can explain: it may well be a source
                    if full:
                        units.append(
                            UnitCandidate(r, len(ys), cand.t0, cand.t1, _reportable(cand, config))
                        )
                    rows.append([cand.vector[name] for name in FEATURES])
                    ys.append(y)
                    groups.append(
                        _group_of(0.5 * (cand.t0 + cand.t1), starts, first)
                        if group is None
                        else group
                    )
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    return SiteExamples(
        x,
        np.asarray(ys, dtype=np.int64),
        np.asarray(groups, dtype=np.int64),
        passes,
        units,
        dead_all,
    )


def _short_clips(
    rec: Recording,
    triggers: Sequence[tuple[float, float, int]],
    config: DspConfig,
    rng: np.random.Generator,
) -> list[tuple[Recording, list[SensorEvent], int | None]]:
    """A short clip from each trigger ``(onset, latest end, group)``, ended with the
    recording's own background (none without any)."""
    quiet = longest_quiet(rec, SHORT_TAIL_S[0])
    if quiet is None:
        return []
    out: list[tuple[Recording, list[SensorEvent], int | None]] = []
    for onset, end, group in triggers:
        clip = short_clip(rec, onset, end, quiet, rng)
        if clip is not None:
            out.append(_piece(clip, config, group))
    return out


def _piece(
    clip: Recording, config: DspConfig, group: int
) -> tuple[Recording, list[SensorEvent], int | None]:
    """A clip cut from a recording, with its sensor events as ``analyze`` finds them, and
    the group its rows belong to."""
    got = run_detector(
        clip, config, model=Model.untrained(), keep_candidates=True, prime_s=OFFLINE_PRIME_S
    )
    return clip, got.detector.sensor_events, group


def _blind(
    cand: Candidate, subset: Sequence[str], dead: dict[str, list[tuple[float, float]]]
) -> bool:
    """A candidate of a set of sensors one of which was dead while it lasted."""
    return any(
        _overlap(cand.t0, cand.t1, a, b) > 0 for kind in subset for a, b in dead.get(kind, ())
    )


def _reportable(cand: Candidate, config: DspConfig) -> bool:
    """Long enough to be reported, by the detector's rule (``dsp.detector.long_enough``)."""
    return long_enough(cand.t1 - cand.t0, cand.vector, config.classifier)
