"""Run the streaming detector over a recording, the way the live pipeline would.

Shared by ``analyze``, ``eval``, ``train`` and the benchmarks. Samples marked invalid in a
recording (dropouts) are lost samples: they reach the detector as the ``gap`` before the next
valid sample, exactly as a live driver reports samples lost on the wire, whatever the block
boundaries. Blocks of every sensor are interleaved in time order, as the drivers would
deliver them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np

from drivers.kinds import KINDS
from drivers.recordings.waveforms import Channel, Recording
from dsp.chains import slowest_rate
from dsp.classifier import Model
from dsp.config import DspConfig
from dsp.detector import StreamingDetector
from dsp.priming import SHORTEST_CLIP_S
from dsp.records import Detection, Flag, SensorSpec

Progress = Callable[[float], None]
"""Called with the fraction done (0..1)."""

OFFLINE_PRIME_S = 120.0
"""How much of a file's start the offline tools survey to learn each sensor's noise level
before running it (dsp.priming): all of a triggered clip, the first minutes of a long
recording. A live unit surveys ``[dsp.input] prime_s``; it cannot look further ahead."""


@contextmanager
def per_file_notes_quiet() -> Iterator[None]:
    """The detector's notes about one stream (a clip too short to prime on, a magnetometer's
    steady lines notched out) are right for a file someone analyses, and noise over the
    hundreds of recordings and clips a training or calibration run goes through: only its
    warnings are kept meanwhile."""
    dsp_log = logging.getLogger("dsp")
    level = dsp_log.level
    dsp_log.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        dsp_log.setLevel(level)


@dataclass
class AnalysisResult:
    detections: list[Detection]
    flags: list[Flag]
    detector: StreamingDetector
    duration_s: float
    channels: dict[str, Channel] = field(default_factory=dict)
    emitted_s: list[float] = field(default_factory=list)
    """Per detection, the stream time at which the detector gave it out: the end of the
    block whose ``feed`` returned it (the end of the recording for those left to ``flush``).
    ``emitted_s[i] - detections[i].t1`` is the detector's latency as a live unit sees it."""


def usability(recording: Recording) -> list[str]:
    """Why a recording (or one of its channels) cannot give detections, in words."""
    if recording.duration < SHORTEST_CLIP_S:
        return [
            f"{recording.duration:.2f} s is too short to analyse: the detector needs at least "
            f"{SHORTEST_CLIP_S:g} s (to learn the background from, and to name what it hears)"
        ]
    out = []
    slow = too_slow(recording)
    for ch in recording.channels.values():
        if ch.name in slow:
            out.append(
                f"{ch.name} is sampled at {ch.rate:.4g} Hz, too slow for the {ch.kind} "
                f"detector (at least {slowest_rate(ch.kind):g} Hz): left out"
                + _too_slow_hint(recording, ch)
            )
            continue
        good = ch.data if ch.valid is None else ch.data[ch.valid]
        finite = good[np.isfinite(good).all(axis=1)]
        if finite.shape[0] and np.all(finite == finite[0]):
            out.append(
                f"{ch.name} never changes ({finite[0, 0]:g}): a dead sensor, a stuck converter "
                "or a file of padding; nothing can be detected in it"
            )
    return out


HORIZONTAL = frozenset({"N", "E", "R", "T"})
"""SEED orientation codes of horizontal components (north, east, radial, transverse)."""


def cautions(recording: Recording) -> list[str]:
    """What makes a usable recording's classes less sure than usual, in words."""
    out = []
    for ch in recording.channels.values():
        if ch.kind == "seismic" and ch.components and set(ch.components) <= HORIZONTAL:
            # Of a 3-component node the vertical is taken; alone, a horizontal is read as
            # if it were one, though a passing source fades on it abeam and its spectrum is
            # not a vertical's (docs/dsp.md, "Using it").
            out.append(
                f"{ch.name} holds horizontal components only ({', '.join(ch.components)}): "
                "the detector learnt vertical geophones and names what it hears less surely "
                "on a horizontal one; give the vertical (Z) file with it if there is one"
            )
    return out


def _other_kinds_at(recording: Recording, ch: Channel, rate: float) -> str:
    """``--sensor K or --sensor L``: the kinds but ``ch``'s whose detector could use ``rate``,
    when ``ch``'s kind was only assumed for the file's one channel; else ''."""
    if not recording.meta.get("kind_assumed") or len(recording.channels) != 1:
        return ""
    others = [k for k in KINDS if k != ch.kind and 0.0 < slowest_rate(k) <= rate]
    return " or ".join(f"--sensor {k}" for k in others)


def _too_slow_hint(recording: Recording, ch: Channel) -> str:
    """What may have gone wrong when a channel is too slow: a slow sensor of another kind
    taken for the default one, a time column in milliseconds read as seconds, or both."""
    flags = _other_kinds_at(recording, ch, ch.rate)
    if flags:
        return (
            f" (the file does not name its sensor's kind, so {ch.kind} was assumed: give "
            f"{flags} if it is one of those)"
        )
    if not recording.meta.get("time_as_written"):
        return ""
    by_ms = ch.rate * 1000.0
    # A file without a header has no column to rename: --rate spaces the samples alone.
    rename = ", or name the column time_ms" if recording.meta.get("time_header") else ""
    if by_ms >= slowest_rate(ch.kind):
        return (
            f" (is the time column in milliseconds? that would be {by_ms:.4g} Hz:"
            f" give --rate {by_ms:.4g}{rename})"
        )
    flags = _other_kinds_at(recording, ch, by_ms)
    if flags:
        # Both at once: a roadside magnetometer's log, its clock in milliseconds since boot.
        return (
            f" (the file does not name its sensor's kind, so {ch.kind} was assumed; if the time"
            f" column is in milliseconds, that is {by_ms:.4g} Hz: give --rate {by_ms:.4g}"
            f"{rename} with {flags} if it is one of those)"
        )
    return ""


def as_analysed(recording: Recording) -> Recording | None:
    """The recording as ``analyze`` runs the detector over it (without the channels sampled
    too slowly for their kind's detector), or None when ``analyze`` reports nothing of it:
    shorter than ``SHORTEST_CLIP_S``, or no channel fast enough. ``usability`` says why."""
    if recording.duration < SHORTEST_CLIP_S:
        return None
    slow = too_slow(recording)
    if not slow:
        return recording
    kept = {n: ch for n, ch in recording.channels.items() if n not in slow}
    return replace(recording, channels=kept) if kept else None


def too_slow(recording: Recording) -> list[str]:
    """Channels sampled slower than their kind's detector can use."""
    _load_chains(recording)
    return [ch.name for ch in recording.channels.values() if ch.rate < slowest_rate(ch.kind)]


def _load_chains(recording: Recording) -> None:
    """Register with dsp the chains of the recording's kinds (those outside dsp too)."""
    for kind in {ch.kind for ch in recording.channels.values()} & set(KINDS):
        importlib.import_module(KINDS[kind].chain)


def sensor_specs(recording: Recording) -> list[SensorSpec]:
    _load_chains(recording)
    return [
        SensorSpec(ch.name, ch.kind, ch.rate, int(ch.data.shape[1]))
        for ch in recording.channels.values()
    ]


def _feed(
    det: StreamingDetector, ch: Channel, a: int, b: int, pending: dict[str, int]
) -> list[Detection]:
    """Feed samples a..b of a channel; invalid runs become the gap before the next valid
    sample (``pending`` carries a run that reaches the end of the block)."""
    if ch.valid is None or ch.valid[a:b].all():
        gap = pending.pop(ch.name, 0)
        return det.feed(ch.name, a / ch.rate, ch.data[a:b], gap=gap)
    out: list[Detection] = []
    valid = ch.valid[a:b]
    edges = np.flatnonzero(np.diff(valid.astype(np.int8))) + 1
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, valid.size], strict=True):
        if not valid[lo]:
            pending[ch.name] = pending.get(ch.name, 0) + int(hi - lo)
            continue
        gap = pending.pop(ch.name, 0)
        out += det.feed(ch.name, (a + lo) / ch.rate, ch.data[a + lo : a + hi], gap=gap)
    return out


def run_detector(
    recording: Recording,
    config: DspConfig | None = None,
    *,
    model: Model | None = None,
    block_s: float = 1.0,
    block_samples: int | None = None,
    keep_candidates: bool = False,
    progress: Progress | None = None,
    prime_s: float | None = None,
) -> AnalysisResult:
    """Feed the whole recording (times in seconds from its start) and flush.

    Blocks are ``block_s`` long, or exactly ``block_samples`` samples of each sensor;
    either way they are delivered in order of their start time. ``prime_s`` overrides
    ``[dsp.input] prime_s`` (``OFFLINE_PRIME_S`` for tools that may look ahead).
    """
    config = config or DspConfig()
    specs = sensor_specs(recording)
    det = StreamingDetector(config, specs, model, keep_candidates=keep_candidates, prime_s=prime_s)
    channels = list(recording.channels.values())
    starts = [0] * len(channels)
    sizes = [
        block_samples if block_samples else max(1, round(block_s * ch.rate)) for ch in channels
    ]
    detections: list[Detection] = []
    emitted: list[float] = []
    flags: list[Flag] = []
    pending: dict[str, int] = {}
    total = sum(len(ch) for ch in channels) or 1
    done = 0
    last_report = 0.0
    while True:
        # The sensor whose next block starts earliest goes next (ties: recording order).
        best = -1
        best_t = np.inf
        for i, ch in enumerate(channels):
            if starts[i] < len(ch):
                t = starts[i] / ch.rate
                if t < best_t:
                    best, best_t = i, t
        if best < 0:
            break
        ch = channels[best]
        a = starts[best]
        b = min(a + sizes[best], len(ch))
        got = _feed(det, ch, a, b, pending)
        detections += got
        emitted += [b / ch.rate] * len(got)
        flags += det.pop_flags()
        starts[best] = b
        done += b - a
        if progress is not None and done / total - last_report >= 0.01:
            last_report = done / total
            progress(last_report)
    for ch in channels:
        if pending.get(ch.name):  # the recording ends in a dropout
            got = det.feed(ch.name, len(ch) / ch.rate, ch.data[:0], gap=pending[ch.name])
            detections += got
            emitted += [len(ch) / ch.rate] * len(got)
    got = det.flush()
    detections += got
    emitted += [recording.duration] * len(got)
    flags += det.pop_flags()
    if progress is not None:
        progress(1.0)
    return AnalysisResult(detections, flags, det, recording.duration, recording.channels, emitted)
