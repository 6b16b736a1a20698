"""Triggered clips: what an event-triggered recorder keeps of a recording.

Most public datasets, and many field loggers, keep a few seconds from the moment something
happened rather than a continuous record: the detector must find the event with no quiet
lead-in to learn the background from. ``triggered_clips`` cuts such clips out of a recording
with ground truth, each starting ``lead_s`` before an event's detectable span, so that they
can be scored (``ugs-gateway eval --clips``) and trained on. ``slower_seismic`` reads a
recording's geophones as a slower logger would have sampled them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from drivers.recordings.waveforms import Channel, Recording, TruthEvent
from dsp.priming import SHORTEST_CLIP_S
from dsp.records import SensorEvent
from hil.synth.hardware import resample

CLIP_S = 10.0
LEAD_S = 0.5
BAR_RANGE_M = {"footstep": 15.0, "vehicle": 100.0}
"""Events a clip is cut for when scoring: people within 15 m, vehicles within 100 m (the
ranges of the detection bars)."""

LULL_S = 0.5
"""How far past the wanted end ``stopped_sooner`` looks for a quiet moment to join at."""

PRE_TRIGGER_S = (0.0, 0.3)
SHORT_PASS_S = (0.1, 1.5)
SHORT_TAIL_S = (0.5, 2.5)
"""A short clip (``short_clip``): from up to 0.3 s before what set the recorder off, 0.1-1.5 s
of it (a step or a few), then 0.5-2.5 s of the recording's own background, as a recorder
that stops after a while below its trigger keeps a guest who crossed a floor in a stride
or two (capstone's floor clips: 0.1 s before the trigger, 2 s after the last step, of which
the bridge that stored its demo day's clips dropped the last 1-1.5 s). Clips cut 6-25 s
long never show so little of a pass."""

Trigger = Callable[[TruthEvent], bool]


def bar_trigger(kinds: Sequence[str] = ()) -> Trigger:
    """Detectable footsteps within 15 m and vehicles within 100 m, which one of ``kinds``
    (any, if empty) could perceive."""

    def fires(ev: TruthEvent) -> bool:
        limit = BAR_RANGE_M.get(ev.label)
        if limit is None or ev.range_m > limit or not ev.extra.get("detectable", True):
            return False
        seen = ev.extra.get("sensors")
        return not kinds or seen is None or any(k in seen for k in kinds)

    return fires


def cut(rec: Recording, t0: float, t1: float, *, label: str = "") -> Recording:
    """Seconds ``t0``..``t1`` of every channel, with the truth that overlaps them (clipped
    to the clip, times from its start)."""
    channels = {}
    for ch in rec.channels.values():
        i0 = max(0, round(t0 * ch.rate))
        i1 = min(len(ch), round(t1 * ch.rate))
        channels[ch.name] = replace(
            ch,
            data=ch.data[i0:i1].copy(),
            valid=None if ch.valid is None else ch.valid[i0:i1].copy(),
            info=dict(ch.info),
        )
    truth = [
        replace(
            ev,
            t0=round(max(ev.t0, t0) - t0, 3),
            t1=round(min(ev.t1, t1) - t0, 3),
            t_cpa=round(ev.t_cpa - t0, 3),
            extra=dict(ev.extra),
        )
        for ev in rec.truth
        if ev.t0 < t1 and ev.t1 > t0
    ]
    meta = dict(rec.meta)
    meta["clip"] = {"of": label or rec.meta.get("scenario", ""), "t0": t0, "t1": t1}
    return Recording(channels, truth, rec.start_time + t0 if rec.start_time else 0.0, meta)


def slower_seismic(recording: Recording, rate: float) -> Recording:
    """``recording`` with each geophone sampled faster than ``rate`` read at ``rate``,
    band-limited to its Nyquist; a lost sample's validity goes to the samples after it."""
    channels = {}
    for name, ch in recording.channels.items():
        if ch.kind != "seismic" or ch.rate <= rate:
            channels[name] = ch
            continue
        n_out = max(1, int(len(ch) * rate / ch.rate))
        data = resample(np.asarray(ch.data, dtype=np.float64), ch.rate, rate, n_out)
        valid = None
        if ch.valid is not None:
            nearest = np.minimum((np.arange(n_out) * ch.rate / rate).astype(int), len(ch) - 1)
            valid = ch.valid[nearest]
        channels[name] = replace(ch, data=data, rate=rate, valid=valid)
    return replace(recording, channels=channels)


QUIET_FIELD_NT = (20000.0, 3000.0, 45000.0)
"""Earth's field along the three axes of a magnetometer that nothing ferrous comes near..."""
QUIET_NOISE_NT = 0.3
"""... and its own noise (a fluxgate or a good magnetoresistive sensor at 10 Hz)."""
QUIET_RATE_HZ = 10.0


def beside_quiet_magnetometer(recording: Recording, key: str) -> Recording:
    """``recording`` as a unit with a magnetometer beside its sensors would have recorded
    it, nothing ferrous about: a three-axis magnetometer (``mag1``) reading Earth's field
    and its own noise at 10 Hz, the same noise for the same ``key``. A recording that has a
    magnetometer already is returned as it is."""
    if any(ch.kind == "magnetometer" for ch in recording.channels.values()):
        return recording
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    n = max(2, int(recording.duration * QUIET_RATE_HZ) + 1)
    field = np.asarray(QUIET_FIELD_NT) + rng.normal(0.0, QUIET_NOISE_NT, (n, 3))
    mag = Channel("mag1", "magnetometer", QUIET_RATE_HZ, field, 0.01)
    return replace(recording, channels={**recording.channels, "mag1": mag})


def triggered_clips(
    rec: Recording,
    trigger: Trigger,
    *,
    length_s: float = CLIP_S,
    lead_s: float = LEAD_S,
    alone: bool = True,
) -> list[Recording]:
    """One clip per event ``trigger`` accepts, from ``lead_s`` before its detectable span,
    ``length_s`` long, that fits in the recording. With ``alone``, clips in which another
    detectable event shows are left out (they score the event, not the crowd)."""
    out = []
    for ev in rec.truth:
        if not trigger(ev):
            continue
        a = ev.t0 - lead_s
        b = a + length_s
        if a < 0.0 or b > rec.duration:
            continue
        if alone and any(
            other is not ev and other.extra.get("detectable", True) and other.overlaps_span(a, b)
            for other in rec.truth
        ):
            continue
        out.append(cut(rec, a, b))
    return out


def quiet_clips(
    rec: Recording, rng: np.random.Generator, count: int, length_s: float = CLIP_S
) -> list[Recording]:
    """``count`` clips at random places that no truth event touches (background only)."""
    out: list[Recording] = []
    if rec.duration < length_s:
        return out
    for _ in range(count * 10):
        if len(out) == count:
            break
        a = float(rng.uniform(0.0, rec.duration - length_s))
        if any(ev.overlaps_span(a, a + length_s) for ev in rec.truth):
            continue
        out.append(cut(rec, a, a + length_s))
    return out


def longest_quiet(rec: Recording, at_least_s: float) -> tuple[float, float] | None:
    """The longest stretch of ``rec`` that no truth event touches, if it lasts
    ``at_least_s``: background to end a short clip with."""
    best: tuple[float, float] | None = None
    t = 0.0
    for t0, t1 in [*sorted((ev.t0, ev.t1) for ev in rec.truth), (rec.duration, rec.duration)]:
        if t0 - t >= at_least_s and (best is None or t0 - t > best[1] - best[0]):
            best = (t, t0)
        t = max(t, t1)
    return best


def stopped_sooner(
    rec: Recording, t0: float, t_stop: float, quiet: tuple[float, float]
) -> Recording:
    """What a triggered recorder keeps of a pass that ended sooner: seconds ``t0``..``t_stop``
    of the recording, then the background ``quiet`` (a stretch of the same recording with
    nothing in it), as a recorder that stops after a while below its trigger keeps it. The
    join is the earliest moment, within ``LULL_S`` after ``t_stop``, at which a channel
    comes closest to its background's median, so that the join is no step of its own. The
    truth is the pass's up to the join."""
    q0, q1 = quiet
    joins = []
    for ch in rec.channels.values():
        data = np.asarray(ch.data, dtype=np.float64)
        background = data[round(q0 * ch.rate) : round(q1 * ch.rate)]
        level = np.median(background, axis=0) if len(background) else np.zeros(data.shape[1])
        i0 = round(t_stop * ch.rate)
        i1 = min(len(ch), i0 + max(1, round(LULL_S * ch.rate)))
        away = np.abs(data[i0:i1] - level).max(axis=1) if i1 > i0 else np.zeros(1)
        joins.append((i0 + int(np.argmin(away))) / ch.rate)
    t_join = min(joins) if joins else t_stop
    head = cut(rec, t0, t_join)
    tail = cut(replace(rec, truth=[]), q0, q1)
    channels = {}
    for name, ch in head.channels.items():
        other = tail.channels[name]
        valid = None
        if ch.valid is not None or other.valid is not None:
            valid = np.concatenate(
                [
                    ch.valid if ch.valid is not None else np.ones(len(ch), bool),
                    other.valid if other.valid is not None else np.ones(len(other), bool),
                ]
            )
        channels[name] = replace(ch, data=np.concatenate([ch.data, other.data]), valid=valid)
    return replace(head, channels=channels)


def short_clip(
    rec: Recording,
    onset: float,
    end: float,
    quiet: tuple[float, float],
    rng: np.random.Generator,
) -> Recording | None:
    """A short clip of what began at ``onset`` (and lasted until ``end`` at most), ended
    with the background ``quiet`` (``SHORT_PASS_S``); None when it comes out too short to
    analyse."""
    a = max(0.0, onset - float(rng.uniform(*PRE_TRIGGER_S)))
    stop = min(a + float(rng.uniform(*SHORT_PASS_S)), end)
    q0 = max(quiet[0], quiet[1] - float(rng.uniform(*SHORT_TAIL_S)))
    clip = stopped_sooner(rec, a, stop, (q0, quiet[1]))
    return clip if clip.duration >= SHORTEST_CLIP_S else None


def onsets_apart(
    events: Sequence[SensorEvent], truth: Sequence[TruthEvent], margin_s: float
) -> list[float]:
    """Where sensor events began that come within ``margin_s`` of no truth event: what set
    a sensor off that nobody walked or drove (a knock, a door, a gust)."""
    return [
        e.t0
        for e in events
        if not any(e.t0 < ev.t1 + margin_s and e.t1 > ev.t0 - margin_s for ev in truth)
    ]
