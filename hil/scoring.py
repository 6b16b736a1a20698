"""Scoring detections against ground truth: Pd, precision, false alarms, confusion.

The matching rule (docs/evaluation.md):

- A detection and a truth event *overlap* when their spans, the detection's widened by
  ``tolerance_s`` on both sides, intersect. Times are seconds from the recording start.
- A footstep or vehicle truth event is *detected* when a detection of its class overlaps
  it. Its row in the confusion matrix is its class if detected, else the class of the
  overlapping detection that overlaps it most, else ``missed``.
- A truth event labelled ``unknown`` (an animal) is handled correctly when it is reported as
  ``unknown`` or not reported at all; a footstep or vehicle detection on it is a wrong class.
- A detection is *correct* when it overlaps a truth event of its own class. One that
  overlaps no truth event at all is a *false alarm* (whatever its class). One whose matching
  truth events were all claimed already by an earlier detection of its class is counted as
  a *duplicate* (it is still correct; ``one detection per event`` is measured by this).
- Pd counts truth events the generator marks detectable (``extra["detectable"]``, the
  expected signal stands out of the background); ``pd_all`` counts every event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.recordings.waveforms import TruthEvent

CLASSES = ("footstep", "vehicle", "unknown")
BAR_RANGE_M = {"footstep": 15.0, "vehicle": 100.0}
"""Ranges within which the detection bars are stated (docs/evaluation.md)."""
RANGE_BINS = {
    "footstep": (0.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0),
    "vehicle": (0.0, 25.0, 50.0, 100.0, 150.0, 200.0, 250.0, 300.0),
    "unknown": (0.0, 10.0, 20.0, 40.0),
}
DEFAULT_TOLERANCE_S = 2.0


class Reported(Protocol):
    """What a detection needs for scoring (``dsp.records.Detection`` fits)."""

    cls: str
    conf: float
    t0: float
    t1: float


@dataclass
class Counts:
    """Integer tallies; add them up over recordings, then ``summary()``."""

    duration_s: float = 0.0
    noise_only_s: float = 0.0
    truth: Counter[str] = field(default_factory=Counter)  # detectable, by label
    truth_all: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)  # detectable and detected
    detected_all: Counter[str] = field(default_factory=Counter)
    reported: Counter[str] = field(default_factory=Counter)  # detections by class
    correct: Counter[str] = field(default_factory=Counter)
    false_alarms: Counter[str] = field(default_factory=Counter)
    noise_only_false_alarms: int = 0
    duplicates: int = 0
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    by_range: dict[str, Counter[tuple[int, bool]]] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.duration_s += other.duration_s
        self.noise_only_s += other.noise_only_s
        for name in (
            "truth",
            "truth_all",
            "detected",
            "detected_all",
            "reported",
            "correct",
            "false_alarms",
        ):
            getattr(self, name).update(getattr(other, name))
        self.noise_only_false_alarms += other.noise_only_false_alarms
        self.duplicates += other.duplicates
        for key, row in other.confusion.items():
            self.confusion.setdefault(key, Counter()).update(row)
        for key, bins in other.by_range.items():
            self.by_range.setdefault(key, Counter()).update(bins)

    def summary(self) -> dict[str, Any]:
        hours = self.duration_s / 3600.0
        per_class: dict[str, Any] = {}
        for cls in CLASSES:
            n = self.truth[cls]
            rep = self.reported[cls]
            entry: dict[str, Any] = {
                "n_truth": n,
                "n_truth_all": self.truth_all[cls],
                "n_reported": rep,
                "n_correct": self.correct[cls],
                "precision": _ratio(self.correct[cls], rep),
            }
            if cls == "unknown":
                row = self.confusion.get("unknown", Counter())
                handled = row["unknown"] + row["missed"]
                entry["handled"] = _ratio(handled, sum(row.values()))
            else:
                entry["n_detected"] = self.detected[cls]
                entry["pd"] = _ratio(self.detected[cls], n)
                entry["pd_all"] = _ratio(self.detected_all[cls], self.truth_all[cls])
            per_class[cls] = entry
        by_range: dict[str, list[dict[str, Any]]] = {}
        for cls, bins in RANGE_BINS.items():
            tallies = self.by_range.get(cls, Counter())
            rows = []
            for i in range(len(bins) - 1):
                n = tallies[(i, False)] + tallies[(i, True)]
                rows.append(
                    {"range_m": [bins[i], bins[i + 1]], "n": n, "pd": _ratio(tallies[(i, True)], n)}
                )
            by_range[cls] = rows
        within: dict[str, Any] = {}
        for cls, limit in BAR_RANGE_M.items():
            tallies = self.by_range.get(cls, Counter())
            bins = RANGE_BINS[cls]
            keep = [i for i in range(len(bins) - 1) if bins[i + 1] <= limit]
            hit = sum(tallies[(i, True)] for i in keep)
            n = hit + sum(tallies[(i, False)] for i in keep)
            within[cls] = {"range_m": limit, "n": n, "pd": _ratio(hit, n)}
        total_fa = sum(self.false_alarms.values())
        return {
            "duration_s": round(self.duration_s, 1),
            "per_class": per_class,
            "false_alarms": total_fa,
            "false_alarms_by_class": dict(sorted(self.false_alarms.items())),
            "false_alarms_per_hour": round(total_fa / hours, 3) if hours > 0 else None,
            "noise_only_hours": round(self.noise_only_s / 3600.0, 3),
            "noise_only_false_alarms_per_hour": (
                round(self.noise_only_false_alarms / (self.noise_only_s / 3600.0), 3)
                if self.noise_only_s > 0
                else None
            ),
            "duplicates": self.duplicates,
            "confusion": {k: dict(sorted(v.items())) for k, v in sorted(self.confusion.items())},
            "pd_by_range": by_range,
            "pd_within": within,
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _overlap(d: Reported, e: TruthEvent, tol: float) -> float:
    """Length of the intersection (widened detection); negative when none."""
    return min(d.t1 + tol, e.t1) - max(d.t0 - tol, e.t0)


def _bin(cls: str, range_m: float) -> int | None:
    bins = RANGE_BINS[cls]
    for i in range(len(bins) - 1):
        if bins[i] <= range_m < bins[i + 1] or (i == len(bins) - 2 and range_m == bins[-1]):
            return i
    return None


def _outcome(e: TruthEvent, overlapping: Sequence[Reported], tol: float) -> str:
    """The event's row in the confusion matrix: its own class when a detection of that class
    overlaps it, else the class of the detection that overlaps it most, else ``missed``."""
    if any(d.cls == e.label for d in overlapping):
        return e.label
    if overlapping:
        return max(overlapping, key=lambda d: _overlap(d, e, tol)).cls
    return "missed"


@dataclass(frozen=True)
class Miss:
    """A footstep or vehicle the detector did not report with its class."""

    event: TruthEvent
    outcome: str
    """What its confusion-matrix row says instead: another class, or ``missed``."""
    reports: tuple[Reported, ...]
    """The detections that overlap it (none when it was missed outright)."""


def misses(
    truth: Sequence[TruthEvent],
    detections: Iterable[Reported],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> list[Miss]:
    """The detectable footsteps and vehicles of one recording that were not detected, by the
    rule of ``score`` (they are its ``n_truth - n_detected``), in order of time."""
    dets = sorted(detections, key=lambda d: (d.t0, d.t1))
    out = []
    for e in sorted(truth, key=lambda e: (e.t0, e.t1)):
        if e.label not in ("footstep", "vehicle") or not e.extra.get("detectable", True):
            continue
        overlapping = tuple(d for d in dets if _overlap(d, e, tolerance_s) > 0)
        outcome = _outcome(e, overlapping, tolerance_s)
        if outcome != e.label:
            out.append(Miss(e, outcome, overlapping))
    return out


def score(
    truth: Sequence[TruthEvent],
    detections: Iterable[Reported],
    duration_s: float,
    *,
    noise_only: bool = False,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Counts:
    """Match one recording's detections (times in seconds from its start) to its truth."""
    dets = sorted(detections, key=lambda d: (d.t0, d.t1))
    c = Counts(duration_s=duration_s, noise_only_s=duration_s if noise_only else 0.0)
    matches: list[list[int]] = [
        [j for j, e in enumerate(truth) if _overlap(d, e, tolerance_s) > 0] for d in dets
    ]
    claimed: set[int] = set()
    for d, hits in zip(dets, matches, strict=True):
        c.reported[d.cls] += 1
        if not hits:
            c.false_alarms[d.cls] += 1
            if noise_only:
                c.noise_only_false_alarms += 1
            continue
        own = [j for j in hits if truth[j].label == d.cls]
        if own:
            c.correct[d.cls] += 1
            if all(j in claimed for j in own):
                c.duplicates += 1
            claimed.update(own)
    for j, e in enumerate(truth):
        detectable = bool(e.extra.get("detectable", True))
        outcome = _outcome(e, [d for i, d in enumerate(dets) if j in matches[i]], tolerance_s)
        hit = outcome == e.label
        c.truth_all[e.label] += 1
        if detectable:
            c.truth[e.label] += 1
            c.confusion.setdefault(e.label, Counter())[outcome] += 1
        if e.label in ("footstep", "vehicle") and hit:
            c.detected_all[e.label] += 1
            if detectable:
                c.detected[e.label] += 1
        b = _bin(e.label, e.range_m) if e.label in RANGE_BINS else None
        if b is not None and detectable:
            ok = hit if e.label != "unknown" else outcome in ("unknown", "missed")
            c.by_range.setdefault(e.label, Counter())[(b, ok)] += 1
    none_row = c.confusion.setdefault("none", Counter())
    for d, hits in zip(dets, matches, strict=True):
        if not hits:
            none_row[d.cls] += 1
    if not none_row:
        del c.confusion["none"]
    return c
