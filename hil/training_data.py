"""Labelled examples for the classifier, made from scenario recordings with ground truth.

The detector runs over each recording with an untrained model and keeps every fused event
group it would have classified (its *candidates*). Each candidate is labelled by the truth
event it overlaps most (``noise`` when it overlaps none), except that a geophone piece which
only goes on with a source already labelled is ``noise`` (one report per event): that is what
the classifier must learn to say. Seeds used here must never be used to evaluate the result.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.recordings.waveforms import Recording, TruthEvent
from dsp.classifier import CLASSES, FEATURES, Model
from dsp.config import DspConfig
from dsp.detector import Candidate, regroup
from hil.analysis import OFFLINE_PRIME_S, per_file_notes_quiet, run_detector
from hil.clips import cut, quiet_clips
from hil.scenarios import generate
from hil.scenarios.specs import STUDIED

LABEL_TOLERANCE_S = 1.0
NEW_SOURCE_S = 4.0
LOUDER_LOG_SNR = 1.0
"""A piece that goes on with a source already labelled but peaks this much louder (log10 of
the SNR: 10 x) than anything of it before is taught as the source again: the earlier piece
was its faint approach, which may well have gone unreported (a car's first knocks on a
street, a walker far off), and the loud part is the one to report; at worst a duplicate."""

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
    otherwise, unless it is far louder than any piece of that source before it
    (``LOUDER_LOG_SNR``), it is more of a source already reported, and reporting it again
    would be a duplicate, so it is taught as ``noise``.
    """
    loudest: dict[int, float] = {}
    """Per truth event already labelled, the loudest piece labelled by it (log10 SNR)."""
    out: list[int] = []
    for cand in candidates:
        hits = [(_overlap(cand, ev), j) for j, ev in enumerate(truth)]
        hits = [(o, j) for o, j in hits if o > 0.0]
        if not hits:
            out.append(0)
            continue
        snr = cand.vector.get("seis_log_snr", 0.0)
        best = max(hits, key=lambda h: h[0])[1]
        if (
            cand.vector.get("seis_cont", 0.0) > 0.0
            and best in loudest
            and snr < loudest[best] + LOUDER_LOG_SNR
        ):
            fresh = [(o, j) for o, j in hits if j not in loudest and o >= _substantial(truth[j])]
            if not fresh:
                out.append(0)
                continue
            best = max(fresh, key=lambda h: h[0])[1]
        loudest[best] = max(snr, loudest.get(best, snr))
        out.append(_class_of(truth[best]))
    return out


KINDS = ("seismic", "pir", "magnetometer")

MAG_ONLY_PEOPLE = "unknown"
"""What a magnetometer on its own is taught to call people (their keys, phones and tools):
iron it cannot name (the class ``footstep`` says *a person on foot*, which it cannot tell)."""

SITE_EVERY = 3
"""Of every three training recordings, two are rendered through a random site (a foreign
unit: its rates, ground, transducer and converters, ``hil.synth.site``) and one through the
scenarios' own ideal unit."""

CLIPS_PER_RECORDING = 40
CLIP_LEAD_S = (0.0, 3.0)
CLIP_LENGTH_S = (6.0, 25.0)
"""Triggered clips cut from each training recording (after what event-triggered recorders
keep), one from before each of its events, up to this many: the model learns events that
start with the file and stop with it (an approaching vehicle's first seconds, cut off by the
end of the clip, are a vehicle; a weak rumble that rose and fell in a continuous record is
mostly distant traffic)."""


def subsets(kinds: Sequence[str]) -> list[tuple[str, ...]]:
    """Every non-empty combination of the sensor kinds, largest first: a unit keeps
    detecting with whichever of its sensors still work."""
    present = [k for k in KINDS if k in kinds]
    out = [
        tuple(k for i, k in enumerate(present) if mask >> i & 1)
        for mask in range(1, 1 << len(present))
    ]
    return sorted(out, key=lambda s: (-len(s), s))


def subset_labels(
    candidates: Sequence[Candidate], truth: Sequence[TruthEvent], kinds: Sequence[str]
) -> list[int]:
    """``labels`` as a detector with only ``kinds`` should learn them: a magnetometer on its
    own cannot tell a person carrying iron from other iron (``MAG_ONLY_PEOPLE``)."""
    taught = labels(candidates, truth)
    if tuple(kinds) == ("magnetometer",):
        people, other = CLASSES.index("footstep"), CLASSES.index(MAG_ONLY_PEOPLE)
        taught = [other if y == people else y for y in taught]
    return taught


def labelled_candidates(
    rec: Recording, config: DspConfig, prime_s: float | None
) -> tuple[list[dict[str, float]], list[int]]:
    """Every subset's candidates of one recording, labelled. A truth event marked
    ``dont_care`` (a real recording's energy that nobody can explain) labels nothing, and a
    piece near one that would be taught as noise is left out: it may well be a source."""
    result = run_detector(
        rec, config, model=Model.untrained(), keep_candidates=True, prime_s=prime_s
    )
    events = result.detector.sensor_events
    kinds = {ch.kind for ch in rec.channels.values()}
    cared = [ev for ev in rec.truth if not ev.extra.get("dont_care")]
    ignored = [ev for ev in rec.truth if ev.extra.get("dont_care")]
    vectors: list[dict[str, float]] = []
    taught: list[int] = []
    for subset in subsets(sorted(kinds)):
        candidates = regroup(events, subset, config)
        for cand, y in zip(candidates, subset_labels(candidates, cared, subset), strict=True):
            if y == 0 and _near(cand, ignored):
                continue
            vectors.append(cand.vector)
            taught.append(y)
    return vectors, taught


def _near(candidate: Candidate, events: Sequence[TruthEvent]) -> bool:
    return any(_overlap(candidate, ev) > 0.0 for ev in events)


def recording_clips(rec: Recording, rng: np.random.Generator) -> list[Recording]:
    """Triggered clips of a training recording: from a random lead before some of its
    events (whatever else is in them), and a few of background only."""
    clips: list[Recording] = []
    events = list(rec.truth)
    rng.shuffle(events)
    for ev in events[:CLIPS_PER_RECORDING]:
        lead = float(rng.uniform(*CLIP_LEAD_S))
        length = float(rng.uniform(*CLIP_LENGTH_S))
        a = max(0.0, ev.t0 - lead)
        b = min(rec.duration, a + length)
        if b - a >= CLIP_LENGTH_S[0]:
            clips.append(cut(rec, a, b))
    n_quiet = max(3, len(clips) // 4) if rec.truth else 12
    clips += quiet_clips(rec, rng, n_quiet, float(rng.uniform(*CLIP_LENGTH_S)))
    return clips


def training_site(scenario: str, seed: int) -> str | None:
    """``"random"`` (a foreign unit) or None (the ideal one) for a training recording."""
    index = TRAIN_SCENARIOS.index(scenario) if scenario in TRAIN_SCENARIOS else 0
    return None if (seed + index) % SITE_EVERY == 0 else "random"


def recording_examples(
    scenario: str, seed: int, duration_s: float, config: DspConfig
) -> tuple[list[dict[str, float]], list[int]]:
    """Labelled candidates of one training recording (through the unit ``training_site``
    picks): the detector running through it as a live unit would, and triggered clips cut
    from it analysed as files are, each with every subset of the sensors."""
    rec = generate(scenario, duration_s, seed, site=training_site(scenario, seed))
    with per_file_notes_quiet():
        vectors, taught = labelled_candidates(rec, config, None)
        rng = np.random.default_rng([seed, 7, len(scenario)])
        for clip in recording_clips(rec, rng):
            v, y = labelled_candidates(clip, config, OFFLINE_PRIME_S)
            vectors += v
            taught += y
    return vectors, taught


def collect(
    plan: Sequence[tuple[str, int]],
    duration_s: float,
    config: DspConfig,
    progress: Callable[[int, str, int], None] | None = None,
    *,
    jobs: int = 1,
) -> Examples:
    """Examples from every ``(scenario, seed)`` of the plan, in plan order (``jobs``
    processes share the recordings; the result does not depend on how many)."""
    work = [(scenario, seed, duration_s, config) for scenario, seed in plan]
    rows: list[list[float]] = []
    ys: list[int] = []
    groups: list[int] = []

    def add(i: int, result: tuple[list[dict[str, float]], list[int]]) -> None:
        if progress is not None:
            progress(i, *plan[i])
        vectors, taught = result
        rows.extend([v[name] for name in FEATURES] for v in vectors)
        ys.extend(taught)
        groups.extend([i] * len(taught))

    if jobs <= 1:
        for i, args in enumerate(work):
            add(i, _recording_examples(args))
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            for i, result in enumerate(pool.imap(_recording_examples, work)):
                add(i, result)
    x = np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURES))
    return Examples(x, np.asarray(ys, dtype=np.int64), np.asarray(groups, dtype=np.int64))


def _recording_examples(
    args: tuple[str, int, float, DspConfig],
) -> tuple[list[dict[str, float]], list[int]]:
    return recording_examples(*args)


def plan_for(
    seeds: Sequence[int], scenarios: Sequence[str] = TRAIN_SCENARIOS
) -> list[tuple[str, int]]:
    return [(name, seed) for seed in seeds for name in scenarios]
