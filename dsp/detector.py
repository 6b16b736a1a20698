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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dsp.classifier import CLASSES, NOISE, Model, feature_vector, load_model
from dsp.config import DspConfig
from dsp.fusion import Fusion, Group, StreamClock
from dsp.magnetic import MagChain
from dsp.pir import PirChain
from dsp.records import Detection, Flag, SensorEvent, SensorSpec
from dsp.seismic import SeismicChain
from dsp.simple_chain import RawFlag
from dsp.validity import FLAG_NAMES, GAP, NAN

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Chain = SeismicChain | PirChain | MagChain

CLOCK_TOLERANCE_S = 1.0
"""A block whose t0 is further than this from where its stream's clock says it should start
is a discontinuity (a jump forward is treated as a gap; backwards re-anchors the clock)."""

FLAG_HISTORY_S = 600.0

ADJACENT_S = 0.5
"""Detections released together that touch (an event cut in pieces) and share a class are
reported as one."""

# Features copied into each report (the full vector stays internal to the classifier).
REPORT_FEATURES = {
    "seis_cadence_hz": "cadence_hz",
    "seis_harmonic": "harmonic",
    "seis_centroid_hz": "centroid_hz",
    "mag_log_peak_nt": "mag_peak_nt",
}


@dataclass
class Candidate:
    """A fused group before the decision to report it: what training learns from."""

    t0: float
    t1: float
    sensors: tuple[str, ...]
    vector: dict[str, float]
    proba: tuple[float, ...]


@dataclass
class _Stream:
    spec: SensorSpec
    chain: Chain
    column: int
    anchor: float | None = None
    clock: StreamClock = field(default_factory=StreamClock)
    blocks: int = 0
    samples: int = 0
    flags_total: dict[str, int] = field(default_factory=dict)
    active_flags: set[str] = field(default_factory=set)


def _make_chain(spec: SensorSpec, config: DspConfig) -> tuple[Chain, int]:
    if spec.kind == "seismic":
        column = min(config.seismic.component, max(spec.channels - 1, 0))
        return SeismicChain(spec.name, spec.rate, config), column
    if spec.kind == "pir":
        return PirChain(spec.name, spec.rate, config), 0
    if spec.kind == "magnetometer":
        return MagChain(spec.name, spec.rate, config), -1
    raise ValueError(f"sensor {spec.name!r}: unknown kind {spec.kind!r}")


class StreamingDetector:
    """Feed blocks per sensor; get detections when each physical event is complete."""

    def __init__(
        self,
        config: DspConfig,
        sensors: Sequence[SensorSpec],
        model: Model | None = None,
        *,
        keep_candidates: bool = False,
    ) -> None:
        if not sensors:
            raise ValueError("a detector needs at least one sensor")
        self.config = config
        self.model = model if model is not None else load_model(config.classifier.model)
        self.streams: dict[str, _Stream] = {}
        for spec in sensors:
            if spec.name in self.streams:
                raise ValueError(f"sensor {spec.name!r} given twice")
            if not spec.rate > 0:
                raise ValueError(f"sensor {spec.name!r}: sample rate must be positive")
            chain, column = _make_chain(spec, config)
            self.streams[spec.name] = _Stream(spec, chain, column)
        self.fusion = Fusion(config.fusion.join_s, config.fusion.stale_s)
        self.flags: deque[Flag] = deque()
        self._new_flags: list[Flag] = []
        self.keep_candidates = keep_candidates
        self.candidates: list[Candidate] = []
        self.detections = 0

    # -- input ------------------------------------------------------------------------------

    def feed(self, sensor: str, t0: float, data: npt.ArrayLike, gap: int = 0) -> list[Detection]:
        """One block of ``sensor``: ``data`` (n, channels) in physical units, ``t0`` the time
        of ``data[0]``, ``gap`` samples lost just before it. Bad samples are flagged, never
        raised on; an unknown sensor name is a programming error (ValueError)."""
        s = self.streams.get(sensor)
        if s is None:
            raise ValueError(f"unknown sensor {sensor!r} (have {', '.join(self.streams)})")
        x = self._column(s, data)
        rate = s.spec.rate
        chain = s.chain
        if s.anchor is None:
            s.anchor = float(t0) - chain.next_index / rate
        expected = s.anchor + chain.next_index / rate
        if abs(t0 - expected) > CLOCK_TOLERANCE_S + gap / rate and math.isfinite(t0):
            jump = t0 - expected - gap / rate
            if jump > 0:
                gap += round(jump * rate)
                log.info("%s: clock jumped %.1f s ahead: treated as a gap", sensor, jump)
            else:
                s.anchor = float(t0) - chain.next_index / rate
                log.warning("%s: clock went back %.1f s: re-anchored", sensor, -jump)
        if gap > 0:
            self._gap(s, int(gap))
        n = x.shape[0]
        if n:
            events, flags = chain.feed(x, NAN)
            if events or flags:
                self._collect(s, events, flags)
            s.blocks += 1
            s.samples += n
        opened = chain.open_since()
        s.clock.open_since = None if opened is None else s.anchor + opened
        now = s.anchor + chain.next_index / rate
        if s.clock.time is not None:
            # How far one delivery moves this stream (lost samples included): the lag the
            # others must tolerate before calling it stale.
            s.clock.block_s = now - s.clock.time
        else:
            s.clock.block_s = now - float(t0)
        s.clock.time = now
        if not self.fusion.pending:
            return []
        return self._release()

    def flush(self) -> list[Detection]:
        """End of all streams: close open events and report everything still held."""
        for s in self.streams.values():
            if s.anchor is None:
                continue  # never fed: nothing to close
            events, flags = s.chain.close()
            self._collect(s, events, flags)
            s.clock.open_since = None
        return self._release(final=True)

    def pop_flags(self) -> list[Flag]:
        """Flagged stretches (NaN/inf, clipping, flat line, gap) closed since the last call."""
        out, self._new_flags = self._new_flags, []
        return out

    def _column(self, s: _Stream, data: npt.ArrayLike) -> FloatArray:
        if isinstance(data, np.ndarray) and data.dtype == np.float64 and data.ndim == 2:
            arr = data  # the common case: skip the conversions
        else:
            try:
                arr = np.asarray(data, dtype=np.float64)
            except (TypeError, ValueError):
                log.warning("%s: block is not numeric; ignored", s.spec.name)
                return np.zeros(0)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[1] == 0:
                log.warning("%s: block of shape %s ignored", s.spec.name, arr.shape)
                return np.zeros(0)
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
            opened = chain.open_since()
            s.clock.open_since = None if opened is None else s.anchor + opened
            return
        # Long: close what was open, start afresh after the gap.
        events, flags = chain.close()
        start = chain.next_index
        flags.append((GAP, start, start + gap))
        self._collect(s, events, flags)
        chain.reset(start + gap)

    def _collect(self, s: _Stream, events: list[SensorEvent], flags: list[RawFlag]) -> None:
        assert s.anchor is not None
        for ev in events:
            ev.t0 += s.anchor
            ev.t1 += s.anchor
        self.fusion.add(events)
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
        clocks = {name: s.clock for name, s in self.streams.items()}
        out: list[Detection] = []
        for group in self.fusion.release(clocks, final=final):
            det = self._classify(group)
            if det is None:
                continue
            prev = out[-1] if out else None
            if prev is not None and prev.cls == det.cls and det.t0 - prev.t1 < ADJACENT_S:
                # Pieces of one event cut at a valley, and of one class after all: one
                # source (a vehicle's approach and departure), one report.
                out[-1] = _merged(prev, det)
            else:
                out.append(det)
        shortest = self.config.classifier.min_duration_s
        out = [det for det in out if det.t1 - det.t0 >= shortest]
        self.detections += len(out)
        return out

    def _classify(self, group: Group) -> Detection | None:
        vector = feature_vector(group.events)
        proba = self.model.proba(vector)
        if self.keep_candidates:
            self.candidates.append(
                Candidate(group.t0, group.t1, group.sensors, vector, tuple(map(float, proba)))
            )
        k = int(np.argmax(proba))
        cls = self.model.classes[k]
        cfg = self.config.classifier
        if k == NOISE or float(proba[k]) < cfg.min_conf:
            return None
        if cls == "unknown" and not cfg.report_unknown:
            return None
        flags = sorted(
            {f"{f.kind}:{f.sensor}" for f in self.flags if f.t0 < group.t1 and f.t1 > group.t0}
        )
        return Detection(
            cls=cls,
            conf=round(float(proba[k]), 3),
            t0=group.t0,
            t1=group.t1,
            sensors=group.sensors,
            features=_report_features(group, vector),
            flags=tuple(flags),
        )

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


def _merged(a: Detection, b: Detection) -> Detection:
    lead = a if a.conf >= b.conf else b
    features = dict(lead.features)
    features["duration_s"] = round(b.t1 - a.t0, 2)
    return Detection(
        cls=a.cls,
        conf=max(a.conf, b.conf),
        t0=a.t0,
        t1=b.t1,
        sensors=tuple(sorted(set(a.sensors) | set(b.sensors))),
        features=features,
        flags=tuple(sorted(set(a.flags) | set(b.flags))),
    )


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
    if vector["mag_present"]:
        feats["mag_peak_nt"] = round(10.0 ** vector["mag_log_peak_nt"], 2)
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
    det.model.proba(dict.fromkeys(det.model.features, 0.0))
    return det.flush()


WARMUP = {"detector": _warm_detector}
"""Entries for ``ugs-gateway warmup`` (see gateway/warmup.py)."""
