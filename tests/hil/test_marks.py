"""Walk-test marks: plan files, passes, truth events, and marks made from a scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.marks import (
    UNKNOWN_RANGE_M,
    Mark,
    MarkError,
    parse_plan,
    passes,
    plan_from_truth,
    read_plan,
    truth_events,
)
from hil.scenarios import generate

PLAN = """
# when  what  distance
20   walk     5
45   nothing
50   vehicle  50   # the pickup
80   run
95   end
"""


def test_a_plan_gives_marks_in_time_order() -> None:
    plan = parse_plan(PLAN)
    assert [(p.offset_s, p.kind, p.range_m) for p in plan] == [
        (20.0, "walk", 5.0),
        (45.0, "nothing", None),
        (50.0, "vehicle", 50.0),
        (80.0, "run", None),
        (95.0, "end", None),
    ]
    assert plan[0].due(1000.0) == 1020.0


def test_a_plan_may_give_utc_times() -> None:
    plan = parse_plan("2026-11-27T18:02:11Z walk 3\n2026-11-27T18:02:40.5Z nothing\n")
    assert plan[0].epoch == pytest.approx(1795802531.0)
    assert plan[1].due(0.0) == pytest.approx(1795802560.5)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("10 stroll 5", "unknown mark 'stroll'"),
        ("10 walk far", "distance 'far' is not a number"),
        ("10 walk 5000", "not within 0-1000 m"),
        ("10 nothing 5", "a distance only goes with"),
        ("soon walk", "neither seconds from the start nor an ISO-8601"),
        ("10 walk\n2026-11-27T18:02:11Z nothing", "every time as seconds or every time"),
        ("10 end\n20 walk", "marks after 'end'"),
        ("10", "expected 'WHEN WHAT"),
    ],
)
def test_a_bad_plan_line_is_named(text: str, words: str) -> None:
    with pytest.raises(MarkError, match=words):
        parse_plan(text, "plan.txt")


def test_a_plan_without_passes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.txt"
    path.write_text("10 nothing\n20 end\n")
    with pytest.raises(MarkError, match="no walk, run or vehicle mark"):
        read_plan(path)
    with pytest.raises(MarkError, match="cannot read the plan"):
        read_plan(tmp_path / "missing.txt")


def test_a_pass_lasts_until_the_next_mark_and_becomes_a_truth_event() -> None:
    marks = [
        Mark(1000.0, "walk", 5.0),
        Mark(1030.0, "nothing"),
        Mark(1040.0, "vehicle"),
        Mark(1070.0, "run", 12.0),
    ]
    spans = [(m.kind, m.t, until) for _, m, until in passes(marks, 1090.0)]
    assert spans == [("walk", 1000.0, 1030.0), ("vehicle", 1040.0, 1070.0), ("run", 1070.0, 1090.0)]
    truth = truth_events(marks, start=990.0, end=1090.0)
    assert [(e.label, e.source, e.t0, e.t1, e.range_m) for e in truth] == [
        ("footstep", "walker", 10.0, 40.0, 5.0),
        ("vehicle", "wheeled", 50.0, 80.0, UNKNOWN_RANGE_M),
        ("footstep", "runner", 80.0, 100.0, 12.0),
    ]
    assert truth[1].extra == {"kind": "vehicle", "mark": 2, "range_known": False, "marked": True}


def test_marks_made_from_a_scenario_cover_every_event_a_little_wider() -> None:
    rec = generate("walktest", 300.0, 4)
    assert rec.truth
    plan = parse_plan(plan_from_truth(rec.truth, duration_s=rec.duration, seed=4))
    marks = [Mark(p.offset_s or 0.0, p.kind, p.range_m) for p in plan if p.kind != "end"]
    truth = truth_events(marks, 0.0, rec.duration)
    assert len(truth) == len(rec.truth)
    for marked, ev in zip(truth, sorted(rec.truth, key=lambda e: e.t0), strict=True):
        assert marked.t0 <= ev.t0 - 0.9 and marked.t1 >= ev.t1 + 0.9
        assert marked.label == ev.label and marked.range_m == ev.range_m
    assert plan[-1].kind == "end" and plan[-1].offset_s == pytest.approx(rec.duration, abs=0.05)
