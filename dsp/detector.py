"""The streaming detector: sensor chains, fusion and classification behind one small API.

The live service calls it from its one pipeline thread; ``ugs-gateway analyze`` calls it over
recorded files. Blocks from different sensors may arrive interleaved and not aligned in time;
each sensor's chain keeps its own clock (anchored at its first block, advanced by sample
counts, so splitting a stream differently never moves a detection).

Windows that set the latency from the end of an event to its detection (defaults):
the seismic hold (``seismic.hold_s``, 1.5 s: quiet needed to end an event; longer for PIR and
magnetometer events), then ``fusion.join_s`` (1.0 s) plus ``START_MARGIN_S`` (0.5 s) for the
other sensors to show they saw nothing more, plus however far behind the slowest stream runs
(one block).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.chains import Chain, make_chain
from dsp.classifier import CLASSES, KIND_PREFIX, NOISE, Model, configured_model, feature_vector
from dsp.config import ClassifierDspConfig, DspConfig
from dsp.fusion import START_MARGIN_S, Fusion, Group, StreamClock
from dsp.priming import flat_lead
from dsp.records import Detection, Flag, SensorEvent, SensorSpec
from dsp.sample_chain import QUIET_FLATLINE_S, RawFlag, flat_run
from dsp.validity import FLAG_NAMES, GAP, NAN

log = logging.getLogger(__name__)


class UnknownSensorError(ValueError):
    """A block of a sensor the detector was not built with."""


FloatArray = npt.NDArray[np.float64]

_FLOAT64 = np.dtype(np.float64)

IDLE_BATCH_S = 3.0
"""While a stream's chain has no event open and the fusion holds nothing, its input is held
back this long (or ``batch_s``, if longer): nothing waits on it, and fewer calls cost less.
It is shorter than the shortest event worth reporting plus its hold, so an event that
begins meanwhile is seen open, and its input run promptly, before it can end."""

CLOCK_TOLERANCE_S = 1.0
"""A block whose t0 is further than this from where its stream's clock says it should start
is a discontinuity (a jump forward is treated as a gap; backwards re-anchors the clock)."""

FLAG_HISTORY_S = 600.0

PEOPLE_KEPT = 8
"""The geophone's latest `footstep` reports kept to recognise a second report of their people
(``StreamingDetector._repeats``); detections leave in time order, so only the latest few
can overlap the next."""

PRIME_RETRY_S = 1.0
"""A stream that has read one value since it started is looked at again this often for its
first change (see ``_prime_span``)."""

# Features copied into each report (the full vector stays internal to the classifier).
REPORT_FEATURES = {
    "seis_cadence_hz": "cadence_hz",
    "seis_harmonic": "harmonic",
    "seis_centroid_hz": "centroid_hz",
}


@dataclass
class Candidate:
    """A fused group before the decision to report it: what training learns from."""

    t0: float
    t1: float
    sensors: tuple[str, ...]
    vector: dict[str, float]
    proba: tuple[float, ...]
    repeats: tuple[float, float] | None = None
    """The span of the geophone's `footstep` report this group would have reported a second
    time, when it was left out for that (``StreamingDetector._repeats``)."""


@dataclass(slots=True)
class _Stream:
    spec: SensorSpec
    chain: Chain
    column: int
    batch: int
    """Samples held back before the chain runs (at least one) while anything is going on."""
    batch_idle: int
    """... and while every chain is quiet and nothing waits for release."""
    rate: float
    tail: tuple[int]
    """``shape[1:]`` of the blocks the fast path holds back (the sensor's channels)."""
    anchor: float | None = None
    clock: StreamClock = field(default_factory=StreamClock)
    blocks: int = 0
    samples: int = 0
    flags_total: dict[str, int] = field(default_factory=dict)
    next_index: int = 0
    """The chain's ``next_index`` (input samples it has taken)."""
    next_t: float = math.nan
    """Where the next block should start (NaN until the clock is anchored)."""
    held: int = 0
    parts: list[FloatArray] = field(default_factory=list)
    """Blocks received but not yet run through the chain (``held`` samples in all)."""
    prime_n: int = 0
    """Samples surveyed to prime the chain after a start or a restart (0: none)."""
    priming: bool = False
    """The chain waits to be primed: input is held until ``prime_at`` samples have come."""
    prime_at: int = 0
    """Held samples at which priming is tried (``prime_n``, later if the start is flat)."""
    flat_n: int = 1
    """A start that reads one value this long (the input checks' flat line) is flat."""
    flat_limit: int = 1
    """... and is held for its first change at most this long."""


class StreamingDetector:
    """Feed blocks per sensor; get detections when each physical event is complete."""

    def __init__(
        self,
        config: DspConfig,
        sensors: Sequence[SensorSpec],
        model: Model | None = None,
        *,
        keep_candidates: bool = False,
        prime_s: float | None = None,
    ) -> None:
        """``prime_s`` overrides ``[dsp.input] prime_s``: how much of each stream's start
        (and restart) is surveyed to learn its noise level before it is run (dsp.priming);
        offline tools may survey a whole file."""
        if not sensors:
            raise ValueError("a detector needs at least one sensor")
        self.config = config
        self.model = model if model is not None else configured_model(config.classifier)
        self.streams: dict[str, _Stream] = {}
        for spec in sensors:
            if spec.name in self.streams:
                raise ValueError(f"sensor {spec.name!r} given twice")
            if not spec.rate > 0:
                raise ValueError(f"sensor {spec.name!r}: sample rate must be positive")
            chain, column = make_chain(spec, config)
            batch = max(1, round(config.input.batch_s * spec.rate))
            self.streams[spec.name] = _Stream(
                spec,
                chain,
                column,
                batch,
                max(batch, round(IDLE_BATCH_S * spec.rate)),
                float(spec.rate),
                (max(1, spec.channels),),
                clock=StreamClock(spec.kind),
            )
        prime = config.input.prime_s if prime_s is None else prime_s
        for s in self.streams.values():
            s.prime_n = max(0, round(prime * s.rate))
            s.flat_n = flat_run(config, s.rate)
            s.flat_limit = max(s.flat_n, round(QUIET_FLATLINE_S * s.rate))
            self._start_priming(s)
        fusion = config.fusion
        self.fusion = Fusion(fusion.join_s, fusion.stale_s, fusion.overhang_s)
        self.flags: deque[Flag] = deque()
        self._new_flags: list[Flag] = []
        self.keep_candidates = keep_candidates
        self.candidates: list[Candidate] = []
        self.sensor_events: list[SensorEvent] = []
        """Every sensor event, when candidates are kept (training groups them anew for each
        subset of the sensors: ``regroup``)."""
        self.detections = 0
        self._people: deque[tuple[float, float]] = deque(maxlen=PEOPLE_KEPT)
        """Spans of the geophone's latest `footstep` reports."""
        self._holding = False
        """The fusion holds events: every stream's input is run sooner (its clock tells the
        fusion what can be released)."""

    # -- input ------------------------------------------------------------------------------

    def feed(self, sensor: str, t0: float, data: npt.ArrayLike, gap: int = 0) -> list[Detection]:
        """One block of ``sensor``: ``data`` (n, channels) in physical units, ``t0`` the time
        of ``data[0]``, ``gap`` samples lost just before it. Bad samples are flagged, never
        raised on; an unknown sensor name is a programming error (ValueError).

        Blocks that follow on in time are held back until ``[dsp.input] batch_s`` of input
        has come (a driver's 0.1-s blocks would otherwise cost more in calls than in
        signal processing); anything else (a gap, a clock jump, another shape) first runs
        what is held. The detections are the same either way. A held block is kept as it
        is, not copied: do not change ``data`` after handing it over."""
        s = self.streams.get(sensor)
        if s is None:
            raise UnknownSensorError(f"unknown sensor {sensor!r} (have {', '.join(self.streams)})")
        # The fast path: a block of the usual shape that follows on in time is only noted.
        if (
            not gap
            and type(data) is np.ndarray
            and data.dtype is _FLOAT64
            and data.shape[1:] == s.tail
            and -CLOCK_TOLERANCE_S <= t0 - s.next_t <= CLOCK_TOLERANCE_S
        ):
            n = data.shape[0]
            s.parts.append(data)
            s.blocks += 1
            s.held = held = s.held + n
            s.next_t += n / s.rate
            if s.priming:
                return [] if held < s.prime_at else self._drain(s, may_wait=True)
            if held < (
                s.batch if s.clock.open_since is not None or self._holding else s.batch_idle
            ):
                return []
            return self._drain(s)
        arr = self._array(s, data)
        x = self._select(s, arr)
        rate = s.spec.rate
        chain = s.chain
        if s.anchor is None:
            # Samples lost before the first block are part of the stream: they came first.
            s.anchor = float(t0) - (chain.next_index + gap) / rate
        expected = s.anchor + (chain.next_index + s.held) / rate
        jump = 0.0
        if abs(t0 - expected) > CLOCK_TOLERANCE_S + gap / rate and math.isfinite(t0):
            jump = t0 - expected - gap / rate
        # What is held is run first, unless this block simply adds to a stretch held for
        # priming.
        adds = not s.parts or arr.shape[1:] == s.parts[0].shape[1:]
        found = [] if s.priming and not gap and not jump and adds else self._drain(s)
        if x.shape[0]:
            s.blocks += 1
        if jump > 0:
            gap += round(jump * rate)
            log.info("%s: clock jumped %.1f s ahead: treated as a gap", sensor, jump)
        elif jump < 0:
            s.anchor = float(t0) - chain.next_index / rate
            log.warning("%s: clock went back %.1f s: re-anchored", sensor, -jump)
        if gap > 0:
            self._gap(s, int(gap))
        if s.priming and x.shape[0]:
            # Held with what follows until there is enough to prime the chain on. Until
            # then the stream counts as having reached its start (a stream that others wait
            # for, however long it takes to prime).
            s.parts.append(arr)
            s.held += x.shape[0]
            s.next_t = s.anchor + (chain.next_index + s.held) / rate
            if s.clock.time is None:
                s.clock.time = s.anchor + chain.next_index / rate
            if s.held < s.prime_at:
                return found
            return found + self._drain(s, may_wait=True)
        return found + self._run(s, x, t0)

    def _start_priming(self, s: _Stream) -> None:
        s.priming = s.prime_n > 0
        s.prime_at = s.prime_n

    def _drain(self, s: _Stream, may_wait: bool = False) -> list[Detection]:
        """Run the samples ``s`` holds back through its chain. ``may_wait``: a stream
        waiting to prime may go on holding them (nothing else is due to run first)."""
        if not s.held:
            return []
        assert s.anchor is not None  # set before anything is held
        parts = s.parts
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        parts.clear()
        x = np.ascontiguousarray(self._select(s, block))
        if s.priming:
            span = self._prime_span(s, x)
            if may_wait and span > x.shape[0]:
                if s.prime_at == s.prime_n:
                    log.info("%s: reads one value; waiting for its first change", s.spec.name)
                parts.append(block)
                s.prime_at = min(span, x.shape[0] + round(PRIME_RETRY_S * s.rate))
                return []
            s.priming = False
            # Exactly the first ``span`` samples, however the blocks came.
            if not s.chain.prime(x[:span]):
                log.info(
                    "%s: %.1f s is too little or too flat to learn the noise level "
                    "from; warming up instead",
                    s.spec.name,
                    min(span, x.shape[0]) / s.rate,
                )
        s.held = 0
        return self._run(s, x, s.anchor + s.next_index / s.rate)

    @staticmethod
    def _prime_span(s: _Stream, x: FloatArray) -> int:
        """How much of the stream's start to prime on: its first ``prime_n`` samples, or,
        when it starts by reading one value (a coarse converter in a quiet place, or a
        dead sensor), ``prime_n`` from its first change. Such a start teaches nothing, and
        an event that ends it would otherwise find the chain warming up. A start flat for
        longer than ``flat_limit`` is not waited on any further: the chain warms up (and
        the input checks call it a flat line)."""
        lead = flat_lead(x[: s.flat_limit], s.flat_n)
        if not lead or lead >= s.flat_limit:
            return s.prime_n
        return lead + s.prime_n

    def _run(self, s: _Stream, x: FloatArray, t0: float) -> list[Detection]:
        """Samples ``x`` (the chain's columns) that follow on in time through the chain;
        the stream's clock moves on, and groups that are complete come out."""
        assert s.anchor is not None
        chain = s.chain
        n = x.shape[0]
        if n:
            events, flags = chain.feed(x, NAN)
            if events or flags:
                self._collect(s, events, flags)
            s.samples += n
        self._track_open(s)
        s.next_index = chain.next_index
        now = s.anchor + s.next_index / s.rate
        s.next_t = now
        clock = s.clock
        # How far one run moves this stream (lost samples included): the lag the others
        # must tolerate before calling it stale.
        clock.block_s = now - (float(t0) if clock.time is None else clock.time)
        clock.time = now
        if not self.fusion.pending:
            self._holding = False
            return []
        found = self._release()
        self._holding = bool(self.fusion.pending)
        return found

    def flush(self) -> list[Detection]:
        """End of all streams: close open events and report everything still held."""
        found = []
        for s in self.streams.values():
            found += self._drain(s)
        for s in self.streams.values():
            if s.anchor is None:
                continue  # never fed: nothing to close
            events, flags = s.chain.close()
            self._collect(s, events, flags)
            s.clock.open_since = None
            s.clock.next_from = None
        self._holding = False
        return found + self._release(final=True)

    def pop_flags(self) -> list[Flag]:
        """Flagged stretches (NaN/inf, clipping, flat line, gap) closed since the last call."""
        out, self._new_flags = self._new_flags, []
        return out

    def _array(self, s: _Stream, data: npt.ArrayLike) -> FloatArray:
        """A block as float64 ``(n, columns)``; empty (and logged) when it is not one."""
        if isinstance(data, np.ndarray) and data.dtype == np.float64 and data.ndim == 2:
            return data  # the common case: skip the conversions
        try:
            arr = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            log.warning("%s: block is not numeric; ignored", s.spec.name)
            return np.zeros((0, 1))
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] == 0:
            log.warning("%s: block of shape %s ignored", s.spec.name, arr.shape)
            return np.zeros((0, 1))
        return arr

    @staticmethod
    def _select(s: _Stream, arr: FloatArray) -> FloatArray:
        """The columns the stream's chain takes (all, or the chosen component)."""
        if s.column < 0:
            return np.ascontiguousarray(arr)
        return np.ascontiguousarray(arr[:, min(s.column, arr.shape[1] - 1)])

    def _gap(self, s: _Stream, gap: int) -> None:
        assert s.anchor is not None  # set by the first feed
        chain = s.chain
        if gap <= round(self.config.input.gap_reset_s * s.spec.rate):
            # Short: bridge it (held value, flagged, triggers quiet while filters settle).
            fill = np.full((gap, s.spec.channels) if s.column < 0 else gap, np.nan)
            events, flags = chain.feed(fill, GAP)
            self._collect(s, events, flags)
            self._track_open(s)
            return
        # Long: close what was open, start afresh after the gap.
        events, flags = chain.close()
        start = chain.next_index
        flags.append((GAP, start, start + gap))
        self._collect(s, events, flags)
        chain.reset(start + gap)
        s.next_index = chain.next_index
        self._start_priming(s)  # a sensor back after an outage starts afresh

    def _track_open(self, s: _Stream) -> None:
        """Note whether the stream's chain has an event open (``_clocks`` says more)."""
        assert s.anchor is not None
        opened = s.chain.open_since()
        clock = s.clock
        if opened is None:
            clock.open_since = None
            clock.next_from = None
            return
        clock.open_since = s.anchor + opened

    def _clocks(self) -> dict[str, StreamClock]:
        """Every stream's clock, with what its open event may still become."""
        for s in self.streams.values():
            clock = s.clock
            if clock.open_since is None:
                continue
            assert s.anchor is not None
            chain = s.chain
            clock.open_until = s.anchor + chain.open_until()
            clock.open_continues = chain.open_continues()
            later = chain.next_from()
            clock.next_from = None if later is None else s.anchor + later
        return {name: s.clock for name, s in self.streams.items()}

    def _collect(self, s: _Stream, events: list[SensorEvent], flags: list[RawFlag]) -> None:
        assert s.anchor is not None
        for ev in events:
            ev.t0 += s.anchor
            ev.t1 += s.anchor
        self.fusion.add(events)
        if self.keep_candidates:
            self.sensor_events += events
        rate = s.spec.rate
        for kind, first, end in flags:
            name = FLAG_NAMES[kind]
            flag = Flag(s.spec.name, name, s.anchor + first / rate, s.anchor + end / rate)
            self.flags.append(flag)
            self._new_flags.append(flag)
            s.flags_total[name] = s.flags_total.get(name, 0) + 1
        now = s.anchor + s.chain.next_index / rate
        while self.flags and self.flags[0].t1 < now - FLAG_HISTORY_S:
            self.flags.popleft()

    # -- output -----------------------------------------------------------------------------

    def _release(self, final: bool = False) -> list[Detection]:
        if not final:
            # Nothing can be released before every stream has passed the end of an event
            # held: that is cheap to tell.
            times = [s.clock.time for s in self.streams.values() if s.clock.time is not None]
            lead = max(times, default=-math.inf)
            by_name = {n: s.clock for n, s in self.streams.items()}
            limit = self.fusion.stale_limit(by_name)
            laggard = min((t for t in times if lead - t <= limit), default=-math.inf)
            if laggard - START_MARGIN_S < self.fusion.earliest_end():
                return []
            if self.fusion.held_back(by_name, lead, limit):
                return []
        clocks = self._clocks()
        keeping_up = self.fusion.waiting_on(clocks)
        out: list[Detection] = []
        for group in self.fusion.release(clocks, final=final):
            det = self._classify(group, self._working(group, keeping_up))
            if det is not None:
                out.append(det)
        self.detections += len(out)
        return out

    def _repeats(
        self, group: Group, k: int, proba: FloatArray, heard: bool
    ) -> tuple[float, float] | None:
        """The span of the geophone's `footstep` report that already names the people of
        ``group``: when the geophone took no part in the group (not ``heard``), it would be
        reported `unknown` though the model finds a person its likeliest class (``decide``),
        and it overlaps that report (a PIR's event that outlasted the geophone's piece that
        carried it, or spans two pieces of a long walk). The people are reported; a second,
        vaguer report of them is noise to the command post. A group the model itself calls
        `unknown` (an animal, to it) is reported whatever it overlaps."""
        if heard or k != UNKNOWN or likeliest(proba) != FOOTSTEP:
            return None
        return next(((t0, t1) for t0, t1 in self._people if t0 < group.t1 and group.t0 < t1), None)

    def _classify(self, group: Group, live: set[str]) -> Detection | None:
        vector = feature_vector(group.events, live)
        proba = self.model.proba(vector)
        if self.keep_candidates:
            self.candidates.append(
                Candidate(group.t0, group.t1, group.sensors, vector, tuple(map(float, proba)))
            )
        named = decide(proba, vector, self.config.classifier)
        if named is None or not long_enough(group.t1 - group.t0, vector, self.config.classifier):
            return None
        k, conf = named
        heard = vector.get("seis_present", 0.0) != 0.0
        repeated = self._repeats(group, k, proba, heard)
        if repeated is not None:
            if self.keep_candidates:
                self.candidates[-1].repeats = repeated
            return None
        if heard and k == FOOTSTEP:
            self._people.append((group.t0, group.t1))
        cls = self.model.classes[k]
        flags = sorted(
            {f"{f.kind}:{f.sensor}" for f in self.flags if f.t0 < group.t1 and f.t1 > group.t0}
        )
        return Detection(
            cls=cls,
            conf=round(conf, 3),
            t0=group.t0,
            t1=group.t1,
            sensors=group.sensors,
            features=_report_features(group, vector),
            flags=tuple(flags),
        )

    def _working(self, group: Group, keeping_up: list[str]) -> set[str]:
        """The kinds installed and working over the group's span: their streams keep up
        and, for a chain that can tell, delivered usable samples over most of it. A
        geophone whose cable was cut may go on streaming a flat line or NaNs; it hears
        nothing, and the group is classified as the unit without it would be."""
        kinds = set()
        for name in keeping_up:
            s = self.streams[name]
            share = getattr(s.chain, "usable_share", None)
            heard = (
                share is None
                or s.anchor is None
                or share(group.t0 - s.anchor, group.t1 - s.anchor) >= WORKING_SHARE
            )
            if heard:
                kinds.add(s.spec.kind)
        return kinds

    def status(self) -> dict[str, Any]:
        """Plain JSON: per sensor its noise floor, open event, flags; detector totals."""
        sensors = {}
        for name, s in self.streams.items():
            st = s.chain.status()
            st.update(
                kind=s.spec.kind,
                blocks=s.blocks,
                samples=s.samples,
                time=s.clock.time,
                flags=dict(s.flags_total),
            )
            sensors[name] = st
        return {
            "sensors": sensors,
            "waiting_on": self.fusion.waiting_on({n: s.clock for n, s in self.streams.items()}),
            "pending_events": len(self.fusion.pending),
            "detections": self.detections,
            "model": self.model.info.get("id", "unversioned"),
            "classes": list(CLASSES),
        }


UNKNOWN = CLASSES.index("unknown")
FOOTSTEP = CLASSES.index("footstep")
WORKING_SHARE = 0.5
"""A sensor counts as working for a group when this share of its span was usable."""


def long_enough(duration_s: float, vector: dict[str, float], cfg: ClassifierDspConfig) -> bool:
    """Whether a group (its ``feature_vector``) lasts long enough to report. The geophone,
    when it took part, hears knocks and spikes, too short for a passer-by; the PIR and the
    magnetometer see a fast car for a second or two. An event the end of the record cut
    short (the geophone's, when it took part: it sets the length) may have gone on for long,
    but a fraction of a second of it says nothing, whichever sensor saw it (a PIR's swing
    just begun as a clip ends)."""
    heard = vector.get("seis_present", 0.0) != 0.0
    kinds = ("seis",) if heard else tuple(KIND_PREFIX.values())
    if any(vector.get(f"{k}_truncated", 0.0) != 0.0 for k in kinds):
        return duration_s >= cfg.min_cut_short_s
    return not heard or duration_s >= cfg.min_duration_s


def likeliest(proba: FloatArray) -> int:
    """The class the model finds likeliest, noise aside."""
    return int(np.argmax(proba[1:])) + 1


def decide(
    proba: FloatArray, vector: Mapping[str, float], cfg: ClassifierDspConfig
) -> tuple[int, float] | None:
    """The class to report for a group (its ``feature_vector``), with its confidence, or
    None.

    An event is reported when the model is at least ``min_conf`` sure it is real (not
    noise); it is named for the class that holds at least ``name_share`` of that, and
    otherwise reported as ``unknown``, real but not nameable (a PIR on its own can be sure
    a warm body went past without being sure it walked on two legs). A person is not named
    from a PIR (or magnetometer) event a working geophone took no part in: a person that
    close is heard and named by the geophone's own event, so this is either a second report
    of them or an animal, which the PIR cannot tell apart. A named report's confidence is
    its class's probability; an ``unknown`` one's is the probability that it is real, which
    is all it claims, whether the model named it so or could not name it."""
    real = 1.0 - float(proba[NOISE])
    if real < cfg.min_conf:
        return None
    k = likeliest(proba)
    conf = float(proba[k])
    geophone_left_out = (
        vector.get("seis_live", 0.0) != 0.0 and vector.get("seis_present", 0.0) == 0.0
    )
    if k == UNKNOWN or conf < cfg.name_share * real or (k == FOOTSTEP and geophone_left_out):
        k, conf = UNKNOWN, real
    if k == UNKNOWN and not cfg.report_unknown:
        return None
    return k, conf


def why_not_reported(
    proba: FloatArray, vector: Mapping[str, float], duration_s: float, cfg: ClassifierDspConfig
) -> str | None:
    """Why a group the classifier judged was not reported, in words (None when it was): what
    ``decide`` and ``long_enough`` weighed, for someone looking at a miss."""
    real = 1.0 - float(proba[NOISE])
    if decide(proba, vector, cfg) is None:
        if real < cfg.min_conf:
            return f"{real:.2f} sure it is real, under min_conf {cfg.min_conf:g}"
        return "real but not nameable (unknown), and report_unknown is off"
    if not long_enough(duration_s, dict(vector), cfg):
        return f"{duration_s:.2f} s, too short to report (min_duration_s, min_cut_short_s)"
    return None


def regroup(
    events: Sequence[SensorEvent], kinds: Sequence[str], config: DspConfig
) -> list[Candidate]:
    """The candidates a detector with only sensors of ``kinds`` would have classified, from
    the sensor events of a detector that had them all (each chain runs on its own input, so
    only the grouping differs). For training on every subset of the sensors."""
    fusion = Fusion(config.fusion.join_s, config.fusion.stale_s, config.fusion.overhang_s)
    fusion.add([ev for ev in events if ev.kind in kinds])
    out = []
    for group in fusion.release({}, final=True):
        vector = feature_vector(group.events, kinds)
        out.append(Candidate(group.t0, group.t1, group.sensors, vector, ()))
    return out


def _report_features(group: Group, vector: dict[str, float]) -> dict[str, float]:
    feats: dict[str, float] = {"duration_s": round(group.t1 - group.t0, 2)}
    if vector["seis_present"]:
        feats["snr_db"] = round(10.0 * vector["seis_log_snr"], 1)  # STA/LTA is an energy ratio
        for key, name in REPORT_FEATURES.items():
            if key.startswith("seis_"):
                feats[name] = round(vector[key], 3)
        peaks = [ev.features.get("peak", 0.0) for ev in group.events if ev.kind == "seismic"]
        if peaks:
            feats["peak"] = float(f"{max(peaks):.3g}")
    if vector["pir_present"]:
        dirs = [ev.features["pir_direction"] for ev in group.events if ev.kind == "pir"]
        feats["pir_direction"] = dirs[0] if dirs else 0.0
    mags = [ev for ev in group.events if ev.kind == "magnetometer"]
    if mags:
        # In the sensor's units: nT for a calibrated unit, counts for raw files.
        peak = max(mags, key=lambda ev: ev.strength).features["mag_log_peak_nt"]
        feats["mag_peak_nt"] = round(10.0**peak, 2)
    return feats


def _warm_detector() -> object:
    """Compile every kernel a detector calls, with the service's array types."""
    rng = np.random.default_rng(0)
    specs = [
        SensorSpec("geo", "seismic", 500.0, 1),
        SensorSpec("pir", "pir", 50.0, 2),
        SensorSpec("mag", "magnetometer", 50.0, 3),
    ]
    det = StreamingDetector(DspConfig(), specs)
    det.feed("geo", 0.0, rng.standard_normal((2000, 1)) * 1e-7)
    det.feed("pir", 0.0, rng.standard_normal((200, 2)) * 0.01)
    det.feed("mag", 0.0, 40000.0 + rng.standard_normal((200, 3)))
    # A vector with no live sensor has no trees to walk: name the sensors of a set the
    # model has, or the tree walker would compile at the unit's first detection.
    det.model.proba(feature_vector([], live=next(iter(det.model.boosters), ())))
    return det.flush()


WARMUP = {"detector": _warm_detector}
"""Entries for ``ugs-gateway warmup`` (see gateway/warmup.py)."""
