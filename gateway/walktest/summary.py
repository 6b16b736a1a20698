"""What was seen against what was marked: per pass detected, missed or named wrong.

A pass is *detected* when a report of its class overlaps it (its span widened by the same
2 s tolerance as ``eval``'s matching rule), *wrong class* when reports overlap it but none of
its class, *missed* when none does, and *no signal* when no sensor's chain even rose out of
its noise during it (the source was too far, or nothing happened). Of a missed pass the
summary also says what the model made of the event it judged there and why it was not
reported (``dsp.detector.why_not_reported``): how near the miss was.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dsp.classifier import CLASSES, NOISE
from dsp.config import ClassifierDspConfig
from dsp.detector import Candidate, why_not_reported
from dsp.records import Detection, SensorEvent
from hil.marks import PASSES, Mark, passes

TOLERANCE_S = 2.0
SIGNAL_TOLERANCE_S = 1.0


@dataclass
class PassOutcome:
    index: int
    """Position of the mark among all marks."""
    mark: Mark
    until: float
    outcome: str
    detection: Detection | None = None
    """The report that speaks for the pass: of its class if any, else the longest overlap."""
    seen_by: list[str] = field(default_factory=list)
    judged: tuple[str, str] | None = None
    """Of a missed pass: the class the model found it most like, and why the event it
    judged there (the one it was surest was real) was not reported."""

    @property
    def label(self) -> str:
        return PASSES[self.mark.kind][0]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mark": self.index,
            "kind": self.mark.kind,
            "range_m": self.mark.range_m,
            "t0": round(self.mark.t, 3),
            "t1": round(self.until, 3),
            "outcome": self.outcome,
            "seen_by": self.seen_by,
        }
        if self.detection is not None:
            d = self.detection
            out["class"] = d.cls
            out["conf"] = d.conf
            out["snr_db"] = d.features.get("snr_db")
            out["sensors"] = list(d.sensors)
        if self.judged is not None:
            out["judged"] = {"like": self.judged[0], "why_not_reported": self.judged[1]}
        return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def outcomes(
    marks: Sequence[Mark],
    end: float,
    detections: Sequence[Detection],
    events: Sequence[SensorEvent],
    candidates: Sequence[Candidate] = (),
    classifier: ClassifierDspConfig | None = None,
) -> list[PassOutcome]:
    """Every pass with what came of it (times in epoch seconds); with the detector's
    ``candidates`` and its ``classifier`` settings, what the model made of a missed one."""
    out = []
    for i, mark, until in passes(marks, end):
        label = PASSES[mark.kind][0]
        hits = [
            (d, _overlap(d.t0 - TOLERANCE_S, d.t1 + TOLERANCE_S, mark.t, until)) for d in detections
        ]
        hits = [(d, o) for d, o in hits if o > 0]
        own = [d for d, _ in hits if d.cls == label]
        seen = sorted(
            {
                e.sensor
                for e in events
                if _overlap(e.t0, e.t1, mark.t - SIGNAL_TOLERANCE_S, until + SIGNAL_TOLERANCE_S) > 0
            }
        )
        if own:
            outcome, best = "detected", max(own, key=lambda d: d.conf)
        elif hits:
            outcome, best = "wrong class", max(hits, key=lambda h: h[1])[0]
        else:
            outcome, best = ("missed" if seen else "no signal"), None
        result = PassOutcome(i, mark, until, outcome, best, seen)
        if outcome == "missed" and classifier is not None:
            result.judged = _judged(candidates, mark.t, until, classifier)
        out.append(result)
    return out


def _judged(
    candidates: Sequence[Candidate], t0: float, t1: float, cfg: ClassifierDspConfig
) -> tuple[str, str] | None:
    """Of the events judged during a pass, the one the model was surest was real: the
    class it found it most like, and why it was not reported."""
    near = [c for c in candidates if _overlap(c.t0 - TOLERANCE_S, c.t1 + TOLERANCE_S, t0, t1) > 0]
    if not near:
        return None
    best = min(near, key=lambda c: c.proba[NOISE])
    proba = np.asarray(best.proba)
    why = why_not_reported(proba, best.vector, best.t1 - best.t0, cfg)
    like = max(
        (c for i, c in enumerate(CLASSES) if i != NOISE), key=lambda c: proba[CLASSES.index(c)]
    )
    return (like, why) if why is not None else None


def unmarked(marks: Sequence[Mark], end: float, detections: Sequence[Detection]) -> list[Detection]:
    """Reports that overlap no pass: false alarms, or something nobody marked."""
    spans = [(mark.t, until) for _, mark, until in passes(marks, end)]
    return [
        d
        for d in detections
        if not any(_overlap(d.t0 - TOLERANCE_S, d.t1 + TOLERANCE_S, a, b) > 0 for a, b in spans)
    ]


def farthest(results: Sequence[PassOutcome]) -> dict[str, float | None]:
    """Per class, the farthest marked distance at which a pass was still detected."""
    out: dict[str, float | None] = {}
    for label in ("footstep", "vehicle"):
        ranges = [
            r.mark.range_m
            for r in results
            if r.label == label and r.outcome == "detected" and r.mark.range_m is not None
        ]
        out[label] = max(ranges) if ranges else None
    return out


def clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def summary_lines(
    results: Sequence[PassOutcome],
    stray: Sequence[Detection],
    incidents: Sequence[str],
) -> list[str]:
    """The end-of-test table for a technician, 80 columns wide."""
    lines = []
    if not results:
        lines.append("No passes were marked: nothing to compare the reports with.")
    else:
        lines.append(" #  at        mark      dist    result       class     conf   SNR  sensors")
        for number, r in enumerate(results, start=1):
            dist = f"{r.mark.range_m:g} m" if r.mark.range_m is not None else "-"
            cls = conf = snr = sensors = ""
            if r.detection is not None:
                d = r.detection
                cls, conf = d.cls, f"{d.conf:.2f}"
                value = d.features.get("snr_db")
                snr = f"{value:.0f} dB" if value is not None else ""
                sensors = ",".join(d.sensors)
            elif r.outcome == "missed":
                sensors = "seen by " + ",".join(r.seen_by)
            lines.append(
                f"{number:>2}  {clock_time(r.mark.t)}  {r.mark.kind:<8}  {dist:>6}  "
                f"{r.outcome:<11}  {cls:<8}  {conf:>4}  {snr:>5}  {sensors}"[:80].rstrip()
            )
        lines += [
            f"{number:>2}  missed: most like {r.judged[0]}, {r.judged[1]}"[:80]
            for number, r in enumerate(results, start=1)
            if r.judged is not None
        ]
        done = sum(r.outcome == "detected" for r in results)
        lines.append(f"Detected {done} of {len(results)} passes.")
        far = farthest(results)
        for label, name in (("footstep", "people"), ("vehicle", "vehicles")):
            if any(r.label == label for r in results):
                value = far[label]
                lines.append(
                    f"Farthest {name} detected: "
                    + (f"{value:g} m" if value is not None else "none (or no distance given)")
                )
    if stray:
        lines.append(f"Reports outside every pass (false, or nobody marked them): {len(stray)}")
        lines += [
            f"    {clock_time(d.t0)}  {d.cls} {d.conf:.2f} by {','.join(d.sensors)}" for d in stray
        ]
    lines += incidents
    return lines
