"""Play a recording or a generated scenario through the device emulators.

A :class:`~drivers.recordings.Recording` is in physical units; the emulators take raw device
integers. :func:`load_playback` turns each sensor of the recording into a
:class:`~hil.emulators.source.WaveformSource` of counts (``Channel.to_counts`` at the
device's width: 24-bit digitizer, 16-bit PIR level, 32-bit magnetometer in nT) and says which
``calibration`` the gateway needs to get the physical units back. A sensor missing from the
recording plays quiet background noise, and so does every sensor once the recording has
ended (unless it loops), so the gateway never sees a dead device.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from drivers.errors import RecordingError
from drivers.kinds import KINDS, kind_of
from drivers.recordings.waveforms import Channel, Recording, TruthEvent
from hil.emulators.ambient import AmbientSource, count_limits, waveform
from hil.emulators.source import ArraySource, Samples, WaveformSource

log = logging.getLogger(__name__)


class ThenSource:
    """Plays ``first`` to its end, then ``after`` (from its own sample 0)."""

    def __init__(self, first: ArraySource, after: WaveformSource) -> None:
        if after.channels != first.channels or after.rate != first.rate:
            raise ValueError("the follow-up source must have the same rate and channels")
        self._first = first
        self._after = after

    @property
    def rate(self) -> float:
        return self._first.rate

    @property
    def channels(self) -> int:
        return self._first.channels

    def read(self, start: int, n: int) -> Samples:
        length = len(self._first)
        if start + n <= length:
            return self._first.read(start, n)
        head = self._first.read(start, max(0, length - start)) if start < length else None
        tail_start = max(0, start - length)
        tail = self._after.read(tail_start, n - (0 if head is None else len(head)))
        if head is None or len(head) == 0:
            return tail
        return np.ascontiguousarray(np.concatenate((head, tail)), dtype=np.int32)


@dataclass
class Playback:
    """What the emulators play, and what the gateway config must say about it."""

    sources: dict[str, WaveformSource]
    calibration: dict[str, dict[str, Any]]
    channels: dict[str, str]
    """Sensor kind -> the recording's channel playing on that emulator."""
    duration_s: float
    truth: list[TruthEvent] = field(default_factory=list)
    description: str = ""

    def summary(self) -> list[str]:
        lines = [self.description] if self.description else []
        for kind in KINDS:
            name = self.channels.get(kind)
            src = self.sources[kind]
            what = f"plays {name}" if name else "plays quiet background (not in the recording)"
            lines.append(f"{kind:<13}{what}, {src.rate:g} Hz x {src.channels}")
        return lines


def quiet_source(
    kind: str, rate: float, channels: int, seed: int, baseline: Sequence[float] | None = None
) -> AmbientSource:
    """Steady background noise in counts around ``baseline`` (default: zero, or a typical
    Earth's field for the magnetometer), no events."""
    wave = waveform(kind)
    if baseline is None:
        baseline = list(wave.baseline)[:channels] or [0.0]
    baseline = list(baseline) + [0.0] * (channels - len(baseline))
    limits = count_limits(kind)
    return AmbientSource(
        rate,
        channels,
        seed=seed,
        baseline=baseline,
        noise=wave.quiet_noise,
        event=None,
        limits=limits,
    )


def _check_rate(ch: Channel) -> None:
    kind = kind_of(ch.kind)
    lo, hi = kind.rate_range
    whole_hz = kind.reading == "poll"  # a Modbus device's rate register holds whole Hz
    if not lo <= ch.rate <= hi or (whole_hz and ch.rate != round(ch.rate)):
        raise RecordingError(
            f"{ch.name}: an emulated {ch.kind} device samples at {lo:g}-{hi:g} Hz"
            f"{' (whole Hz)' if whole_hz else ''}, not {ch.rate:g} Hz; "
            f"resample the recording first"
        )
    if kind.reading == "stream":
        from drivers.stream.codec import SAMPLE_RATES, rate_code

        try:
            rate_code(ch.rate)
        except ValueError:
            raise RecordingError(
                f"{ch.name}: the digitizer runs at {', '.join(map(str, SAMPLE_RATES))} Hz, "
                f"not {ch.rate:g} Hz; resample the recording first"
            ) from None
    if kind.reading == "stream" and ch.data.shape[1] > kind.max_components:
        raise RecordingError(
            f"{ch.name}: the digitizer carries 1-{kind.max_components} components, "
            f"not {ch.data.shape[1]}"
        )


def _counts(ch: Channel) -> np.ndarray:
    counts = ch.to_counts(kind_of(ch.kind).bits)
    wanted = waveform(ch.kind).play_channels
    if wanted is not None and counts.shape[1] >= wanted:
        counts = counts[:, :wanted]
    elif wanted is not None:
        counts = np.repeat(counts[:, :1], wanted, axis=1)
    return counts


def load_playback(rec: Recording, *, loop: bool = False, seed: int = 0) -> Playback:
    """Sources for the three emulators from a recording (first channel of each kind)."""
    sources: dict[str, WaveformSource] = {}
    calibration: dict[str, dict[str, Any]] = {}
    names: dict[str, str] = {}
    for i, kind in enumerate(KINDS):
        chans = rec.by_kind(kind)
        if not chans:
            wave = waveform(kind)
            sources[kind] = quiet_source(kind, wave.quiet_rate, wave.quiet_channels, seed + i)
            continue
        ch = chans[0]
        if len(chans) > 1:
            log.warning("the recording has %d %s channels; playing %s", len(chans), kind, ch.name)
        _check_rate(ch)
        counts = _counts(ch)
        if ch.valid is not None:
            counts[~ch.valid] = 0
        array = ArraySource(counts, ch.rate, loop=loop)
        if loop:
            sources[kind] = array
        else:
            # Carry on from where the recording ends (Earth's field stays where it was).
            tail = counts[-max(1, round(ch.rate)) :].mean(axis=0)
            level = [float(v) for v in tail] if waveform(kind).holds_level else None
            quiet = quiet_source(kind, ch.rate, counts.shape[1], seed + i, level)
            sources[kind] = ThenSource(array, quiet)
        calibration[kind] = {"scale": ch.scale, "offset": 0.0, "units": ch.units}
        names[kind] = ch.name
    return Playback(sources, calibration, names, rec.duration, list(rec.truth))


def scenario_playback(name: str, duration_s: float, seed: int, *, loop: bool = False) -> Playback:
    from hil.scenarios import generate

    rec = generate(name, duration_s, seed)
    pb = load_playback(rec, loop=loop, seed=seed)
    pb.description = f"scenario {name}, seed {seed}, {duration_s:g} s, {len(rec.truth)} events"
    return pb


def recording_playback(
    paths: Sequence[str],
    *,
    sensor: str | None = None,
    rate: float | None = None,
    loop: bool = False,
    seed: int = 0,
) -> Playback:
    from drivers.recordings import read_recording

    rec = read_recording(paths, sensor=sensor, rate=rate)
    pb = load_playback(rec, loop=loop, seed=seed)
    pb.description = (
        f"recording {', '.join(paths)}, {rec.duration:.1f} s, {len(rec.truth)} truth events"
    )
    return pb


def apply_calibration(sensors: Sequence[dict[str, Any]], playback: Playback) -> None:
    """Put the recording's scales into the ``[[sensors]]`` entries of the gateway config."""
    for sensor in sensors:
        cal = playback.calibration.get(str(sensor.get("kind")))
        if cal is not None:
            sensor["calibration"] = dict(cal)
