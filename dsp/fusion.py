"""Joining per-sensor events into one group per physical event, and deciding when a group
is complete.

Sensor events whose spans come within ``join_s`` of each other belong to one group. A group
is released only when every stream that is keeping up has moved past the group's end plus
``join_s`` (so nothing it could still report would join the group), and has no event open
that started before that point. Groups therefore come out the same whatever the block sizes
and however the streams interleave; the price is latency: a detection leaves at the end of
the event plus ``join_s`` plus the lag of the slowest stream.

A stream that falls further behind the most advanced one than ``stale_s`` (or two of the
biggest blocks any stream delivers, when drivers deliver big blocks) is not waited for: a
dead sensor must not hold up detections from the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dsp.records import SensorEvent

# Events start at their trigger, at most one frame plus the resampler's delay before the
# stream's current time; this margin covers that.
START_MARGIN_S = 0.5


@dataclass
class StreamClock:
    """How far one stream has got, and whether it has an event open."""

    time: float | None = None
    """Time just after the last sample delivered (None: nothing yet)."""
    block_s: float = 0.0
    open_since: float | None = None
    """Start of the event the stream's chain has open, if any."""


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


class Fusion:
    def __init__(self, join_s: float, stale_s: float) -> None:
        self.join_s = join_s
        self.stale_s = stale_s
        self.pending: list[SensorEvent] = []

    def add(self, events: list[SensorEvent]) -> None:
        self.pending.extend(events)

    def _groups(self) -> list[Group]:
        groups: list[Group] = []
        for ev in sorted(self.pending, key=lambda e: (e.t0, e.t1, e.sensor)):
            if groups and self._joins(groups[-1], ev):
                groups[-1].add(ev)
            else:
                groups.append(Group(ev.t0, ev.t1, [ev]))
        return groups

    def _joins(self, group: Group, ev: SensorEvent) -> bool:
        # Another sensor's event within join_s joins; the same sensor's next event only if
        # they truly overlap (its chain already decided they were two events).
        return any(
            ev.t0 <= other.t1 + self.join_s if other.sensor != ev.sensor else ev.t0 < other.t1
            for other in group.events
        )

    def waiting_on(self, clocks: dict[str, StreamClock]) -> list[str]:
        """Streams that are keeping up (the ones a group waits for)."""
        times = [c.time for c in clocks.values() if c.time is not None]
        if not times:
            return []
        lead = max(times)
        # Streams delivered in big blocks are that far apart even when all is well: allow
        # two of the biggest blocks of any stream before calling one stale.
        limit = max(self.stale_s, 2.0 * max(c.block_s for c in clocks.values()))
        return [name for name, c in clocks.items() if c.time is not None and lead - c.time <= limit]

    def release(self, clocks: dict[str, StreamClock], final: bool = False) -> list[Group]:
        """Groups that can no longer change (all of them when ``final``), oldest first."""
        if not self.pending:
            return []
        groups = self._groups()
        if final:
            self.pending = []
            return groups
        live = [clocks[name] for name in self.waiting_on(clocks)]
        ready: list[Group] = []
        for g in groups:
            horizon = g.t1 + self.join_s
            if all(
                c.time is not None
                and c.time >= horizon + START_MARGIN_S
                and (c.open_since is None or c.open_since > horizon)
                for c in live
            ):
                ready.append(g)
            else:
                break  # later groups wait too: detections leave in time order
        if ready:
            done = {id(ev) for g in ready for ev in g.events}
            self.pending = [ev for ev in self.pending if id(ev) not in done]
        return ready
