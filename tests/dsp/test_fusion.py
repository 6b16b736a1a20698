"""Fusion: which sensor events belong together, and when a group can no longer change."""

from __future__ import annotations

import pytest

from dsp.fusion import Fusion, StreamClock
from dsp.records import SensorEvent

KINDS = {"geo1": "seismic", "pir1": "pir", "mag1": "magnetometer"}


def _ev(sensor: str, t0: float, t1: float) -> SensorEvent:
    return SensorEvent(sensor, KINDS[sensor], t0, t1, {}, strength=1.0)


def _fusion() -> Fusion:
    return Fusion(join_s=1.0, stale_s=10.0, overhang_s=1.0)


def _clock(sensor: str, time: float, opened: tuple[float, float] | None = None) -> StreamClock:
    clock = StreamClock(KINDS[sensor], time=time, block_s=0.1)
    if opened is not None:
        clock.open_since, clock.open_until = opened
        if sensor == "geo1":
            clock.next_from = opened[1]  # a geophone piece may be cut where it could end
    return clock


def test_joinable_events():
    f = _fusion()
    vehicle = _ev("geo1", 177.0, 209.0)
    assert f.joinable(vehicle, _ev("pir1", 195.0, 195.6))  # a crossing inside the pass
    assert f.joinable(vehicle, _ev("mag1", 209.5, 210.0))  # just after, ends close
    assert not f.joinable(vehicle, _ev("pir1", 211.0, 212.0))  # more than join_s after
    # A PIR event outlasting the geophone's piece by far is another matter (vegetation in
    # the wind, someone lingering), and so is one that holds the piece inside itself.
    assert not f.joinable(vehicle, _ev("pir1", 205.0, 240.0))
    assert not f.joinable(_ev("geo1", 100.0, 110.0), _ev("pir1", 95.0, 150.0))
    # A geophone piece that began later and goes on long does not swallow a crossing.
    assert not f.joinable(_ev("pir1", 50.0, 53.0), _ev("geo1", 52.0, 90.0))
    # Unless it began a moment later: a person close to the PIR trips it with the first
    # swing, and the geophone's trigger needs a step or two to rise out of the background.
    assert f.joinable(_ev("pir1", 59.4, 61.9), _ev("geo1", 59.8, 63.7))
    # Not a later piece, begun at the valley where the one before it was cut: a short event
    # of another sensor there would join the two pieces, two sources, into one group.
    later_piece = SensorEvent("geo1", "seismic", 59.8, 63.7, {"cont": 2.0}, strength=1.0)
    assert not f.joinable(_ev("pir1", 59.4, 61.9), later_piece)
    # Pieces of one geophone event touch without overlapping: two events.
    assert not f.joinable(_ev("geo1", 100.0, 120.0), _ev("geo1", 120.0, 150.0))


def test_a_group_waits_for_what_may_still_join_it():
    f = _fusion()
    f.add([_ev("geo1", 100.0, 120.0)])
    # The PIR has an event open since 119 that may end within overhang_s of 120: wait.
    clocks = {"geo1": _clock("geo1", 122.0), "pir1": _clock("pir1", 122.0, (119.0, 120.5))}
    assert f.release(clocks) == []
    # Once it is clear that it outlasts the group by more than overhang_s, release.
    clocks["pir1"] = _clock("pir1", 123.5, (119.0, 121.5))
    clocks["geo1"] = _clock("geo1", 123.5)
    (group,) = f.release(clocks)
    assert group.sensors == ("geo1",)


def test_the_piece_after_a_valley_does_not_hold_up_the_one_before():
    f = _fusion()
    f.add([_ev("geo1", 300.0, 330.0)])
    # The geophone's event goes on past the valley at 330: its next piece starts there.
    clocks = {
        "geo1": _clock("geo1", 332.1, (330.0, 330.5)),
        "pir1": _clock("pir1", 332.1),
        "mag1": _clock("mag1", 332.1),
    }
    (group,) = f.release(clocks)
    assert (group.t0, group.t1) == (300.0, 330.0)


def test_a_crossing_inside_an_open_geophone_piece_waits_for_it():
    f = _fusion()
    f.add([_ev("pir1", 195.0, 195.6)])
    clocks = {"geo1": _clock("geo1", 260.0, (177.0, 258.0)), "pir1": _clock("pir1", 260.0)}
    assert f.release(clocks) == []  # it belongs to the vehicle still passing
    f.add([_ev("geo1", 177.0, 259.0)])
    clocks = {"geo1": _clock("geo1", 261.0), "pir1": _clock("pir1", 261.0)}
    (group,) = f.release(clocks)
    assert group.sensors == ("geo1", "pir1") and group.t1 == 259.0


@pytest.mark.parametrize("order", [0, 1])
def test_groups_do_not_depend_on_arrival_order(order):
    events = [
        _ev("geo1", 100.0, 110.0),
        _ev("pir1", 105.0, 150.0),  # long: its own group
        _ev("mag1", 108.0, 109.0),  # inside the geophone's piece: with it
    ]
    f = _fusion()
    f.add(events if order == 0 else events[::-1])
    groups = f.release({}, final=True)
    assert [g.sensors for g in groups] == [("geo1", "mag1"), ("pir1",)]


def test_a_stale_stream_is_not_waited_for():
    f = _fusion()
    f.add([_ev("geo1", 10.0, 20.0)])
    clocks = {"geo1": _clock("geo1", 40.0), "pir1": _clock("pir1", 5.0, (4.0, 4.5))}
    assert f.waiting_on(clocks) == ["geo1"]
    assert len(f.release(clocks)) == 1


def test_a_crossing_held_by_an_open_piece_goes_when_the_geophone_falls_silent():
    f = _fusion()
    f.add([_ev("pir1", 195.0, 195.6)])
    clocks = {"geo1": _clock("geo1", 200.0, (177.0, 199.0)), "pir1": _clock("pir1", 200.0)}
    assert f.release(clocks) == []
    # Still the same piece open half a minute on: still held, without grouping anew.
    clocks = {"geo1": _clock("geo1", 230.0, (177.0, 229.0)), "pir1": _clock("pir1", 230.0)}
    assert f.held_back(clocks, lead=230.0, limit=f.stale_limit(clocks))
    assert f.release(clocks) == []
    # The geophone stops delivering with its piece open: once it is stale the crossing is
    # reported on its own.
    clocks["pir1"] = _clock("pir1", 245.0)
    assert not f.held_back(clocks, lead=245.0, limit=f.stale_limit(clocks))
    (group,) = f.release(clocks)
    assert group.sensors == ("pir1",)


def test_a_crossing_held_by_an_open_piece_goes_with_it_when_it_closes():
    f = _fusion()
    f.add([_ev("pir1", 195.0, 195.6)])
    clocks = {"geo1": _clock("geo1", 200.0, (177.0, 199.0)), "pir1": _clock("pir1", 200.0)}
    assert f.release(clocks) == []
    # The piece is cut at a valley at 210 and the next one opens there: the crossing
    # joins the piece that carried it, and the new piece does not hold it.
    f.add([_ev("geo1", 177.0, 210.0)])
    clocks = {"geo1": _clock("geo1", 213.0, (210.0, 212.0)), "pir1": _clock("pir1", 213.0)}
    (group,) = f.release(clocks)
    assert group.sensors == ("geo1", "pir1")


def test_a_crossing_the_geophone_heard_a_moment_later_waits_for_its_piece():
    f = _fusion()
    f.add([_ev("pir1", 59.4, 61.9)])
    clocks = {"geo1": _clock("geo1", 64.0, (59.8, 63.5)), "pir1": _clock("pir1", 64.0)}
    assert f.release(clocks) == []  # the piece still open carries it
    f.add([_ev("geo1", 59.8, 63.7)])
    clocks = {"geo1": _clock("geo1", 66.0), "pir1": _clock("pir1", 66.0)}
    (group,) = f.release(clocks)
    assert group.sensors == ("geo1", "pir1") and (group.t0, group.t1) == (59.4, 63.7)


def test_a_later_piece_open_does_not_hold_a_crossing_that_began_before_it():
    f = _fusion()
    f.add([_ev("pir1", 59.4, 61.9)])
    clocks = {"geo1": _clock("geo1", 64.0, (59.8, 63.5)), "pir1": _clock("pir1", 64.0)}
    clocks["geo1"].open_continues = True  # begun at a valley, not at a trigger
    (group,) = f.release(clocks)
    assert group.sensors == ("pir1",)
