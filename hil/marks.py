"""Walk-test marks: what the technician said was happening, and when.

A walk test is marked with single keys (or a plan file): *walk*, *run* and *vehicle* start
a pass, *nothing* ends one, and a pass may be given the distance at which it goes by. Each
pass lasts from its mark to the next mark of any kind. The passes become a truth file in the
format ``eval`` reads (``drivers.recordings.waveforms``), so a walk test is scored, and a
site model is taught, like any recording with ground truth.

Plan files, one mark per line (``#`` starts a comment)::

    # when (seconds from the start, or an ISO-8601 UTC time)   what   [distance m]
    20        walk     5
    45        nothing
    2026-11-27T18:03:10Z  vehicle  50
    180       end

``end`` finishes the walk test; without one it ends ``PLAN_TAIL_S`` after the last mark.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from drivers.recordings.waveforms import TruthEvent

PASSES = {
    "walk": ("footstep", "walker"),
    "run": ("footstep", "runner"),
    "vehicle": ("vehicle", "wheeled"),
}
"""Mark kinds that start a pass: the truth label and source they stand for."""
KINDS = (*PASSES, "nothing", "end")
KEYS = {"w": "walk", "r": "run", "v": "vehicle", "n": "nothing"}
"""Single keys of the live display."""

PLAN_TAIL_S = 15.0
UNKNOWN_RANGE_M = -1.0
"""``range_m`` of a pass whose distance was not given (outside every range bin)."""
MAX_RANGE_M = 1000.0


class MarkError(ValueError):
    """A plan file or mark that cannot be used; the message names the line."""


@dataclass
class Mark:
    """One mark: ``t`` epoch seconds, ``kind`` one of :data:`KINDS`, the distance if given."""

    t: float
    kind: str
    range_m: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": round(self.t, 3), "kind": self.kind}
        if self.range_m is not None:
            out["range_m"] = self.range_m
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Mark:
        try:
            kind = str(obj["kind"])
            t = float(obj["t"])
            r = obj.get("range_m")
            range_m = None if r is None else float(r)
        except (KeyError, TypeError, ValueError) as exc:
            raise MarkError(f"malformed mark {obj!r} ({exc})") from None
        if kind not in KINDS or not math.isfinite(t):
            raise MarkError(f"malformed mark {obj!r}")
        return cls(t, kind, range_m)

    def describe(self) -> str:
        where = f" at {self.range_m:g} m" if self.range_m is not None else ""
        return f"{self.kind}{where}"


@dataclass(frozen=True)
class PlanLine:
    """A mark as a plan gives it: ``offset_s`` from the start, or an absolute ``epoch``."""

    line: int
    kind: str
    range_m: float | None
    offset_s: float | None = None
    epoch: float | None = None

    def due(self, start: float) -> float:
        """Epoch seconds at which this mark falls for a walk test started at ``start``."""
        return self.epoch if self.epoch is not None else start + (self.offset_s or 0.0)


def check_range(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MarkError(f"{where}: distance {text!r} is not a number of metres") from None
    if not 0.0 <= value <= MAX_RANGE_M:
        raise MarkError(f"{where}: distance {value:g} m is not within 0-{MAX_RANGE_M:g} m")
    return value


def _when(text: str, where: str) -> tuple[float | None, float | None]:
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise MarkError(f"{where}: time {text!r} must be seconds from the start, >= 0")
        return seconds, None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MarkError(
            f"{where}: {text!r} is neither seconds from the start nor an ISO-8601 UTC time"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return None, stamp.timestamp()


def parse_plan(text: str, origin: str = "plan") -> list[PlanLine]:
    """The marks of a plan file, in time order; :class:`MarkError` names a bad line."""
    out: list[PlanLine] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        body = raw.split("#", 1)[0].strip()
        if not body:
            continue
        where = f"{origin}:{number}"
        parts = body.split()
        if len(parts) < 2 or len(parts) > 3:
            raise MarkError(f"{where}: expected 'WHEN WHAT [DISTANCE]', got {body!r}")
        offset, epoch = _when(parts[0], where)
        kind = parts[1].lower()
        if kind not in KINDS:
            raise MarkError(f"{where}: unknown mark {parts[1]!r}; one of {', '.join(KINDS)}")
        range_m = check_range(parts[2], where) if len(parts) == 3 else None
        if range_m is not None and kind not in PASSES:
            raise MarkError(f"{where}: a distance only goes with {', '.join(PASSES)}")
        out.append(PlanLine(number, kind, range_m, offset, epoch))
    kinds = {(p.offset_s is None) for p in out}
    if len(kinds) > 1:
        raise MarkError(f"{origin}: give every time as seconds or every time as a UTC time")
    out.sort(key=lambda p: (p.epoch if p.epoch is not None else p.offset_s or 0.0, p.line))
    if any(p.kind == "end" for p in out[:-1]):
        first = next(p for p in out if p.kind == "end")
        raise MarkError(f"{origin}:{first.line}: marks after 'end'")
    return out


def read_plan(path: str | Path) -> list[PlanLine]:
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MarkError(f"{p}: cannot read the plan ({exc})") from None
    plan = parse_plan(text, str(p))
    if not any(line.kind in PASSES for line in plan):
        raise MarkError(f"{p}: the plan has no walk, run or vehicle mark")
    return plan


def passes(marks: Sequence[Mark], end: float) -> list[tuple[int, Mark, float]]:
    """``(index, mark, until)`` of every mark that starts a pass: until the next mark of any
    kind, or ``end``."""
    ordered = sorted(enumerate(marks), key=lambda im: (im[1].t, im[0]))
    out = []
    for k, (i, mark) in enumerate(ordered):
        if mark.kind not in PASSES:
            continue
        until = ordered[k + 1][1].t if k + 1 < len(ordered) else end
        if until > mark.t:
            out.append((i, mark, min(until, end)))
    return out


def truth_events(marks: Sequence[Mark], start: float, end: float) -> list[TruthEvent]:
    """The passes as truth events, times in seconds from ``start`` (the recording's first
    sample). ``extra.mark`` is the mark's index; ``detectable`` is left to the caller."""
    out = []
    for i, mark, until in passes(marks, end):
        label, source = PASSES[mark.kind]
        t0, t1 = mark.t - start, until - start
        out.append(
            TruthEvent(
                label=label,
                source=source,
                t0=round(t0, 3),
                t1=round(t1, 3),
                t_cpa=round((t0 + t1) / 2.0, 3),
                range_m=UNKNOWN_RANGE_M if mark.range_m is None else mark.range_m,
                extra={
                    "kind": mark.kind,
                    "mark": i,
                    "range_known": mark.range_m is not None,
                    "marked": True,
                },
            )
        )
    return out


MARK_SLACK_S = (1.0, 4.0)
"""How much earlier and later than an event's truth span a technician marks it: they
press the key as the source comes up and *nothing* once it has gone by."""


def plan_from_truth(
    truth: Sequence[TruthEvent],
    *,
    duration_s: float,
    start: float | None = None,
    seed: int = 0,
) -> str:
    """A plan that marks a scenario's events the way a technician would: each pass from
    1-4 s before its truth span to 1-4 s after it (drawn from ``seed``), then *nothing*;
    ``end`` at ``duration_s``. Times are seconds from the start, or UTC times when
    ``start`` (epoch of the scenario's first sample) is given."""
    rng = np.random.default_rng([seed, 17])
    kinds = {"walker": "walk", "group": "walk", "runner": "run"}
    lines = ["# when  what  distance (m)"]
    last = 0.0

    def when(t: float) -> str:
        if start is None:
            return f"{t:.1f}"
        return datetime.fromtimestamp(start + t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    for ev in sorted(truth, key=lambda e: e.t0):
        kind = "vehicle" if ev.label == "vehicle" else kinds.get(ev.source)
        if kind is None:
            continue
        a = max(last, ev.t0 - float(rng.uniform(*MARK_SLACK_S)), 0.0)
        b = min(ev.t1 + float(rng.uniform(*MARK_SLACK_S)), duration_s)
        if b <= a:
            continue
        lines.append(f"{when(a)}  {kind}  {ev.range_m:g}")
        lines.append(f"{when(b)}  nothing")
        last = b
    lines.append(f"{when(duration_s)}  end")
    return "\n".join(lines) + "\n"
