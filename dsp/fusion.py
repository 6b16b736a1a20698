"""Joining per-sensor events into one group per physical event, and deciding when a group
is complete.

Two events of different sensors are *joinable* when they come within ``join_s`` of each other
and neither outlasts the other by more than ``overhang_s``, unless the one that lasts longer
is a geophone piece that began first (or, when it begins the geophone's event, at most
``NEST_LEAD_S`` later): the geophone hears a source long before and after the PIR and the
magnetometer do, and its pieces carry theirs. Two events of one sensor are
joinable only when they overlap (its chain already decided they were two). Taken in order
of their start, each event joins the earliest group holding an event it is joinable with.

A group is released only when nothing a stream that is keeping up has still to deliver could
join it: not the event it has open (which starts at a known time and ends no earlier than a
known time), nor anything after that. Groups therefore come out the same whatever the block
sizes and however the streams interleave, and a long event of one sensor holds the others'
groups back by ``overhang_s`` at most (plus its own hold), unless it is a geophone piece
they lie inside. The latency of a group is its end plus ``join_s`` (or the slowest chain's own
decision time, if later) plus the lag of the slowest stream.

A stream that falls further behind the most advanced one than ``stale_s`` (or two of the
biggest blocks any stream delivers, when drivers deliver big blocks) is not waited for: a
dead sensor must not hold up detections from the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dsp.records import SensorEvent

START_MARGIN_S = 0.5
"""A new event starts at its trigger, at most one frame plus the resampler's delay before
the stream's current time; this margin covers that."""

NESTING_KINDS = frozenset({"seismic"})
"""Kinds whose events may hold others of any length inside them (see the module text)."""

NEST_LEAD_S = 1.0
"""How much later than another sensor's event a geophone event may begin and still carry it.
A person close to a PIR trips it with the first swing, while the geophone's trigger needs a
step or two to rise out of its background: its event, begun a fraction of a second after the
PIR's, was left apart from it, and the PIR's, alone beside a working geophone, was reported
a second time as `unknown` (28 times in an hour of the indoor scenario, dev seeds 7000-7001).
Only for the event's first piece: a later piece begins where the one before it was cut at a
valley, and a short event of another sensor there would join the two pieces, two sources,
into one group."""


@dataclass
class StreamClock:
    """How far one stream has got, and what it may still report."""

    kind: str = ""
    time: float | None = None
    """Time just after the last sample delivered (None: nothing yet)."""
    block_s: float = 0.0
    open_since: float | None = None
    """Start of the event the stream's chain has open, if any."""
    open_until: float = 0.0
    """The earliest the open event can end (what the chain has seen of it so far)."""
    next_from: float | None = None
    """The earliest start of anything after the open event (None: ``time`` less
    ``START_MARGIN_S``). A geophone event cut at a valley goes on from the valley, which
    may lie behind the stream's time."""
    open_continues: bool = False
    """The open event is a later piece of a geophone event, begun at a valley where the
    piece before it was cut, not at its trigger (``NEST_LEAD_S`` does not apply to it)."""


@dataclass
class Group:
    t0: float
    t1: float
    events: list[SensorEvent] = field(default_factory=list)

    def add(self, ev: SensorEvent) -> None:
        self.events.append(ev)
        self.t0 = min(self.t0, ev.t0)
        self.t1 = max(self.t1, ev.t1)

    @property
    def sensors(self) -> tuple[str, ...]:
        return tuple(sorted({ev.sensor for ev in self.events}))


def _lead(clock: StreamClock) -> float:
    """How much later than another event the stream's open event may have begun and still
    carry it (``NEST_LEAD_S``, for the first piece of a geophone event)."""
    return 0.0 if clock.open_continues else NEST_LEAD_S


def _order(ev: SensorEvent) -> tuple[float, float, str]:
    return (ev.t0, ev.t1, ev.sensor)


class Fusion:
    def __init__(self, join_s: float, stale_s: float, overhang_s: float) -> None:
        self.join_s = join_s
        self.stale_s = stale_s
        self.overhang_s = overhang_s
        self.pending: list[SensorEvent] = []
        self._earliest: float | None = None
        self._groups_held: list[Group] | None = None
        self._held_by: tuple[str, float] | None = None
        """A stream and the start of the event it has open that hold the oldest group back
        for as long as that event stays open (``held_back``)."""

    def add(self, events: list[SensorEvent]) -> None:
        self.pending.extend(events)
        self._earliest = None
        self._groups_held = None
        self._held_by = None

    def earliest_end(self) -> float:
        """The earliest end of an event held (inf if none): no group can be released before
        every stream that is keeping up has passed it."""
        if self._earliest is None:
            self._earliest = min((ev.t1 for ev in self.pending), default=math.inf)
        return self._earliest

    def joinable(self, a: SensorEvent, b: SensorEvent) -> bool:
        """Whether two sensor events may belong to one physical event (see the module)."""
        if a.sensor == b.sensor:
            return a.t0 < b.t1 and b.t0 < a.t1
        if a.t0 > b.t1 + self.join_s or b.t0 > a.t1 + self.join_s:
            return False
        longer, other = (a, b) if a.t1 >= b.t1 else (b, a)
        if longer.t1 - other.t1 <= self.overhang_s:
            return True
        lead = 0.0 if longer.features.get("cont", 0.0) else NEST_LEAD_S
        return longer.kind in NESTING_KINDS and longer.t0 <= other.t0 + lead

    def _groups(self) -> list[Group]:
        groups: list[Group] = []
        for ev in sorted(self.pending, key=_order):
            for g in groups:
                if any(self.joinable(ev, other) for other in g.events):
                    g.add(ev)
                    break
            else:
                groups.append(Group(ev.t0, ev.t1, [ev]))
        return groups

    def held_back(self, clocks: dict[str, StreamClock], lead: float, limit: float) -> bool:
        """True when the oldest group is still held by the open event that held it at the
        last ``release``: the same stream, keeping up (within ``limit`` of ``lead``), has
        the same event open, and nothing was added since. A geophone piece that carries a
        PIR's or a magnetometer's event keeps it back for as long as it lasts; this spares
        grouping and checking every stream again at each block until then."""
        if self._held_by is None:
            return False
        name, since = self._held_by
        clock = clocks[name]
        return clock.open_since == since and clock.time is not None and lead - clock.time <= limit

    def _holds(self, group: Group, name: str, clock: StreamClock) -> bool:
        """True when the event stream ``name`` has open keeps ``group`` back for as long as
        it stays open, whatever else the stream delivers meanwhile (the parts of ``_settled``
        that depend only on where that event began)."""
        opened = clock.open_since
        if opened is None:
            return False
        lead = _lead(clock)
        for ev in group.events:
            if ev.sensor == name:
                if opened < ev.t1:
                    return True
            elif (
                (ev.t0 <= opened or opened < group.t0)
                and opened <= ev.t1 + self.join_s
                and clock.kind in NESTING_KINDS
                and opened <= ev.t0 + lead
            ):
                return True
        return False

    def _settled(self, group: Group, name: str, clock: StreamClock) -> bool:
        """True when nothing stream ``name`` has still to deliver can join ``group``."""
        if clock.time is None:
            return False
        later = clock.time - START_MARGIN_S
        if clock.next_from is not None:
            later = min(later, clock.next_from)
        opened = clock.open_since
        lead = _lead(clock)
        for ev in group.events:
            if ev.sensor == name:
                # Its own later events (and the open one) start after this one ended.
                if later < ev.t1 or (opened is not None and opened < ev.t1):
                    return False
                continue
            # Anything later may be short: joinable if it starts close enough.
            if later <= ev.t1 + self.join_s:
                return False
            # The open event, however long it turns out, from its start and least end. It is
            # grouped after the events that start before it: if the group started before it,
            # only those can take it in (the others still go to the earliest group that takes
            # them, this one); if not, it would come first and take what it can.
            if (
                opened is not None
                and (ev.t0 <= opened or opened < group.t0)
                and opened <= ev.t1 + self.join_s
                and (
                    clock.open_until <= ev.t1 + self.overhang_s
                    or (clock.kind in NESTING_KINDS and opened <= ev.t0 + lead)
                )
            ):
                return False
        return True

    def stale_limit(self, clocks: dict[str, StreamClock]) -> float:
        """How far behind the most advanced stream one may fall and still be waited for.

        Streams delivered in big blocks are that far apart even when all is well: two of the
        biggest blocks (or runs) of any stream are allowed."""
        return max(self.stale_s, 2.0 * max((c.block_s for c in clocks.values()), default=0.0))

    def waiting_on(self, clocks: dict[str, StreamClock]) -> list[str]:
        """Streams that are keeping up (the ones a group waits for)."""
        times = [c.time for c in clocks.values() if c.time is not None]
        if not times:
            return []
        lead = max(times)
        limit = self.stale_limit(clocks)
        return [name for name, c in clocks.items() if c.time is not None and lead - c.time <= limit]

    def release(self, clocks: dict[str, StreamClock], final: bool = False) -> list[Group]:
        """Groups that can no longer change (all of them when ``final``), oldest first."""
        if not self.pending:
            return []
        if self._groups_held is None:
            self._groups_held = self._groups()
        groups = self._groups_held
        if final:
            self.pending = []
            self._earliest = None
            self._groups_held = None
            self._held_by = None
            return groups
        live = [(name, clocks[name]) for name in self.waiting_on(clocks)]
        ready: list[Group] = []
        for g in groups:
            if all(self._settled(g, name, c) for name, c in live):
                ready.append(g)
                continue
            # Later groups wait too: detections leave in time order.
            if not ready:
                for name, c in live:
                    if c.open_since is not None and self._holds(g, name, c):
                        self._held_by = (name, c.open_since)
                        break
            break
        if ready:
            done = {id(ev) for g in ready for ev in g.events}
            self.pending = [ev for ev in self.pending if id(ev) not in done]
            self._earliest = None
            self._groups_held = None
            self._held_by = None
        return ready
