"""Labelled examples for the classifier, made from scenario recordings with ground truth.

The detector runs over each recording with an untrained model and keeps every fused event
group it would have classified (its *candidates*). Each candidate is labelled by the truth
event it overlaps most (``noise`` when it overlaps none), except that a geophone piece which
only goes on with a source already labelled is ``noise`` (one report per event): that is what
the classifier must learn to say. Seeds used here must never be used to evaluate the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.recordings.waveforms import TruthEvent
from dsp.classifier import CLASSES, FEATURES, Model
from dsp.config import DspConfig
from dsp.detector import Candidate
from hil.analysis import run_detector
from hil.scenarios import generate
from hil.scenarios.specs import STUDIED

LABEL_TOLERANCE_S = 1.0
NEW_SOURCE_S = 4.0

WHEELED_RANGE_M = 250.0
"""Design range for wheeled vehicles (REMBASS-class figures). Farther passes are taught as
background: seismically they look like road traffic a few hundred metres away, which the
scenarios rightly call background, and teaching the model to report them would report the
road."""

TRAIN_SCENARIOS = STUDIED
"""Every named scenario: the model must know every background it will meet."""


@dataclass
class Examples:
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    group: npt.NDArray[np.int64]
    """Index of the recording each row came from (for the calibration split)."""

    def __len__(self) -> int:
        return int(self.y.size)


def _overlap(candidate: Candidate, ev: TruthEvent) -> float:
    return min(candidate.t1 + LABEL_TOLERANCE_S, ev.t1) - max(
        candidate.t0 - LABEL_TOLERANCE_S, ev.t0
    )


def _class_of(ev: TruthEvent) -> int:
    far = ev.source == "wheeled" and ev.range_m > WHEELED_RANGE_M
    return 0 if far else CLASSES.index(ev.label)


def _substantial(ev: TruthEvent) -> float:
    """Overlap with which a piece holds enough of an event to report it: half of it, or
    ``NEW_SOURCE_S`` of a long one."""
    return min(0.5 * (ev.t1 - ev.t0), NEW_SOURCE_S)


def label(candidate: Candidate, truth: Sequence[TruthEvent]) -> int:
    """Class index of the truth event the candidate overlaps most; 0 (noise) if none, or if
    that event is a wheeled vehicle beyond the design range."""
    return labels([candidate], truth)[0]


def labels(candidates: Sequence[Candidate], truth: Sequence[TruthEvent]) -> list[int]:
    """Labels of one recording's candidates, in the order the detector released them.

    Each is labelled by the truth event it overlaps most. A geophone piece that continues an
    event past a valley (``seis_cont``), and whose best event an earlier candidate was
    labelled by already, is labelled by what it adds: the event it overlaps most among those
    no earlier candidate was labelled by, if it holds a good part of it (``_substantial``);
    otherwise it is more of a source already reported, and reporting it again would be a
    duplicate, so it is taught as ``noise``.
    """
    claimed: set[int] = set()
    out: list[int] = []
    for cand in candidates:
        hits = [(_overlap(cand, ev), j) for j, ev in enumerate(truth)]
        hits = [(o, j) for o, j in hits if o > 0.0]
        if not hits:
            out.append(0)
            continue
        best = max(hits, key=lambda h: h[0])[1]
        if cand.vector.get("seis_cont", 0.0) > 0.0 and best in claimed:
            fresh = [(o, j) for o, j in hits if j not in claimed and o >= _substantial(truth[j])]
            if not fresh:
                out.append(0)
                continue
            best = max(fresh, key=lambda h: h[0])[1]
        claimed.add(best)
        out.append(_class_of(truth[best]))
    return out


def recording_examples(
    scenario: str, seed: int, duration_s: float, config: DspConfig
) -> tuple[list[dict[str, float]], list[int]]:
    rec = generate(scenario, duration_s, seed)
    result = run_detector(rec, config, model=Model.untrained(), keep_candidates=True)
    candidates = result.detector.candidates
    return [c.vector for c in candidates], labels(candidates, rec.truth)


def collect(
    plan: Sequence[tuple[str, int]],
    duration_s: float,
    config: DspConfig,
    progress: Callable[[int, str, int], None] | None = None,
) -> Examples:
    """Examples from every ``(scenario, seed)`` of the plan, in plan order."""
    rows: list[list[float]] = []
    ys: list[int] = []
    groups: list[int] = []
    for i, (scenario, seed) in enumerate(plan):
        if progress is not None:
            progress(i, scenario, seed)
        vectors, taught = recording_examples(scenario, seed, duration_s, config)
        rows += [[v[name] for name in FEATURES] for v in vectors]
        ys += taught
        groups += [i] * len(taught)
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    return Examples(x, np.asarray(ys, dtype=np.int64), np.asarray(groups, dtype=np.int64))


def plan_for(
    seeds: Sequence[int], scenarios: Sequence[str] = TRAIN_SCENARIOS
) -> list[tuple[str, int]]:
    return [(name, seed) for seed in seeds for name in scenarios]
