"""The in-memory form of a multi-sensor recording and its ground truth.

Every file format (MiniSEED, SAC, WAV, CSV, JSON, NPZ) and the scenario generator meet here: a
:class:`Recording` holds one :class:`Channel` per sensor in physical units, plus the
:class:`TruthEvent` list a detector is scored against. Raw device integers are derived on
demand (``Channel.to_counts``) for the emulators and for integer file formats.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from drivers.errors import RecordingError
from drivers.kinds import KINDS

log = logging.getLogger(__name__)

DEFAULT_SCALE = {kind.name: kind.scale for kind in KINDS.values()}
"""Physical units per device count, by kind (a view of :mod:`drivers.kinds`)."""

DEFAULT_BITS = {kind.name: kind.bits for kind in KINDS.values()}
"""Signed sample width of each kind of device: the range ``to_counts`` clips to."""


def units_of(kind: str) -> str:
    """Physical unit of a kind's samples (``counts`` for a kind the gateway does not know)."""
    known = KINDS.get(kind)
    return known.units if known else "counts"


def scale_of(kind: str) -> float:
    """Default physical units per count of a kind (1.0 for a kind the gateway does not know)."""
    known = KINDS.get(kind)
    return known.scale if known else 1.0


TRUTH_SUFFIX = ".truth.json"
TRUTH_FORMAT = "ugs-truth"
TRUTH_VERSION = 1
TRUTH_LABELS = ("footstep", "vehicle", "unknown")
"""What a truth event may be: the classes a detection can have (animals are ``unknown``)."""


@dataclass
class Channel:
    """One sensor's samples in physical units, shape ``(n, components)``.

    Units: seismic ground velocity in m/s (geophone output after gain, flat above the
    geophone's natural frequency), PIR output in volts AC-coupled around 0, magnetometer total
    field per axis in nT (Earth's field included).
    """

    name: str
    kind: str
    rate: float
    data: npt.NDArray[np.float64]
    scale: float
    """Physical units per raw device count."""
    valid: npt.NDArray[np.bool_] | None = None
    """Per-sample validity (False during dropouts, where ``data`` holds 0); None = all valid."""
    components: tuple[str, ...] = ()
    """Component names: ``("Z",)``, ``("Z", "N", "E")``; empty means ``"1", "2", ...``."""
    bits: int | None = None
    """Signed width of the device's samples; None = the kind's default (DEFAULT_BITS)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance (source file, SEED id, units, clipping level ...)."""

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise ValueError(f"{self.name}: channel data must be (n,) or (n, components)")
        self.data = data
        if not self.components:
            self.components = tuple(str(i + 1) for i in range(data.shape[1]))
        if len(self.components) != data.shape[1]:
            raise ValueError(
                f"{self.name}: {len(self.components)} component names for {data.shape[1]} columns"
            )
        if self.valid is not None:
            valid = np.asarray(self.valid, dtype=np.bool_)
            if valid.shape != (data.shape[0],):
                raise ValueError(f"{self.name}: valid mask must have one entry per sample")
            self.valid = valid

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration(self) -> float:
        return len(self) / self.rate

    @property
    def units(self) -> str:
        return str(self.info.get("units", units_of(self.kind)))

    @property
    def device_bits(self) -> int:
        return self.bits if self.bits is not None else DEFAULT_BITS.get(self.kind, 32)

    def times(self) -> npt.NDArray[np.float64]:
        """Seconds from the recording start of each sample."""
        return np.arange(len(self), dtype=np.float64) / self.rate

    def count_range(self, bits: int | None = None) -> tuple[int, int]:
        """Lowest and highest raw value of a two's-complement ``bits``-wide device."""
        width = min(bits if bits is not None else self.device_bits, 32)
        return -(2 ** (width - 1)), 2 ** (width - 1) - 1

    def to_counts(self, bits: int | None = None) -> npt.NDArray[np.int32]:
        """Raw device integers ``round(data / scale)``, clipped to a signed ``bits`` range.

        Clipping is what the device's converter would do; it is logged as a warning with the
        number of samples affected, so a wrong ``scale`` does not pass unnoticed.
        """
        low, high = self.count_range(bits)
        counts = np.rint(self.data / self.scale)
        over = int(np.count_nonzero((counts < low) | (counts > high)))
        if over:
            log.warning(
                "%s: %d of %d samples beyond the %d-bit range of the device were clipped "
                "(scale %g %s per count)",
                self.name,
                over,
                counts.size,
                high.bit_length() + 1,
                self.scale,
                self.units,
            )
        return np.ascontiguousarray(np.clip(counts, low, high).astype(np.int32))

    def clipped_fraction(self, bits: int | None = None) -> float:
        """Share of samples that ``to_counts`` would clip."""
        low, high = self.count_range(bits)
        counts = np.rint(self.data / self.scale)
        return float(np.mean((counts < low) | (counts > high)))


@dataclass
class TruthEvent:
    """One physical event, as the detector should report it.

    ``t0``/``t1`` bound the span in which the event is physically detectable: the expected
    (noise-free) signal of at least one sensor reaches ``DETECTABLE_SNR`` times that sensor's
    background level (see docs/scenarios.md). ``extra["present"]`` gives the longer span the
    source was moving in the scene; ``extra["detectable"]`` is False for an event too weak to
    be seen at all (then t0/t1 frame its closest approach).
    """

    label: str
    source: str
    t0: float
    t1: float
    t_cpa: float
    range_m: float
    extra: dict[str, Any] = field(default_factory=dict)

    def overlaps(self, other: TruthEvent) -> bool:
        return self.t0 < other.t1 and other.t0 < self.t1

    def overlaps_span(self, t0: float, t1: float) -> bool:
        return self.t0 < t1 and t0 < self.t1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TruthEvent:
        return cls(
            label=str(obj["label"]),
            source=str(obj["source"]),
            t0=float(obj["t0"]),
            t1=float(obj["t1"]),
            t_cpa=float(obj["t_cpa"]),
            range_m=float(obj["range_m"]),
            extra=dict(obj.get("extra") or {}),
        )


@dataclass
class Recording:
    """Channels of one field unit over one stretch of time, and what happened in it."""

    channels: dict[str, Channel]
    truth: list[TruthEvent] = field(default_factory=list)
    start_time: float = 0.0
    """Epoch seconds of sample 0 (0.0 if unknown)."""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds covered by the longest channel."""
        return max((ch.duration for ch in self.channels.values()), default=0.0)

    def only(self, kinds: Sequence[str]) -> Recording:
        """The recording as a unit with only sensors of ``kinds`` would have made it: their
        channels, and the truth with events none of them could perceive (``extra.sensors``
        names the kinds that could) marked not detectable."""
        channels = {n: ch for n, ch in self.channels.items() if ch.kind in kinds}
        truth = []
        for ev in self.truth:
            seen = ev.extra.get("sensors")
            blind = seen is not None and not any(k in seen for k in kinds)
            truth.append(replace(ev, extra={**ev.extra, "detectable": False}) if blind else ev)
        return Recording(channels, truth, self.start_time, self.meta)

    def single_axes(self) -> list[Recording]:
        """Every axis of each multi-axis magnetometer on its own, with the same truth: what a
        one-axis sensor in its place would have recorded (roadside units often have one)."""
        out = []
        for ch in self.channels.values():
            if ch.kind != "magnetometer" or ch.data.shape[1] < 2:
                continue
            for i, comp in enumerate(ch.components):
                one = replace(
                    ch,
                    data=ch.data[:, i : i + 1].copy(),
                    valid=None if ch.valid is None else ch.valid.copy(),
                    components=(comp,),
                    info=dict(ch.info),
                )
                out.append(Recording({ch.name: one}, self.truth, self.start_time, self.meta))
        return out

    def by_kind(self, kind: str) -> list[Channel]:
        return [ch for ch in self.channels.values() if ch.kind == kind]

    def channel(self, name_or_kind: str) -> Channel:
        """A channel by name, or the first one of a kind."""
        if name_or_kind in self.channels:
            return self.channels[name_or_kind]
        found = self.by_kind(name_or_kind)
        if not found:
            raise KeyError(
                f"no channel or sensor kind {name_or_kind!r} in this recording "
                f"(has {', '.join(self.channels) or 'none'})"
            )
        return found[0]

    def truth_json(self) -> dict[str, Any]:
        return {
            "format": TRUTH_FORMAT,
            "version": TRUTH_VERSION,
            "start_time": self.start_time,
            "duration_s": self.duration,
            "meta": jsonable(self.meta),
            "events": [ev.to_json() for ev in self.truth],
        }

    def write_truth(self, path: str | Path) -> Path:
        """Write the truth as JSON to ``path`` (usually ``truth_path(recording_file)``)."""
        path = Path(path)
        path.write_text(json.dumps(self.truth_json(), indent=1, allow_nan=False) + "\n")
        return path


def truth_path(recording_path: str | Path) -> Path:
    """``FILE`` -> ``FILE.truth.json`` (the sidecar written next to every recording)."""
    p = Path(recording_path)
    return p.with_name(p.name + TRUTH_SUFFIX)


def read_truth(path: str | Path) -> tuple[list[TruthEvent], dict[str, Any]]:
    """Events and the file's header fields (``meta``, ``start_time``, ``duration_s``)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read truth file ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingError(f"{path}: not a JSON truth file ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != TRUTH_FORMAT:
        raise RecordingError(f"{path}: not a ugs-gateway truth file (no format={TRUTH_FORMAT!r})")
    version = obj.get("version", TRUTH_VERSION)
    if not isinstance(version, int) or version > TRUTH_VERSION:
        raise RecordingError(
            f"{path}: truth file version {version!r}: this version reads up to {TRUTH_VERSION}"
        )
    listed = obj.get("events", [])
    if not isinstance(listed, list):
        raise RecordingError(f"{path}: 'events' must be a list of events")
    events = []
    for n, ev in enumerate(listed):
        try:
            event = TruthEvent.from_json(ev)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordingError(f"{path}: malformed truth event {n} ({exc})") from None
        problem = _truth_problem(event)
        if problem:
            raise RecordingError(f"{path}: truth event {n}: {problem}")
        events.append(event)
    header = {k: v for k, v in obj.items() if k != "events"}
    return events, header


def _truth_problem(event: TruthEvent) -> str:
    """Why an event cannot be scored against, or '' (a label no class has would match no
    detection, and a span that ends before it starts none either, without a word)."""
    if event.label not in TRUTH_LABELS:
        return f"label {event.label!r} is not one of {', '.join(TRUTH_LABELS)}"
    times = (event.t0, event.t1, event.t_cpa, event.range_m)
    if not all(math.isfinite(v) for v in times):
        return "t0, t1, t_cpa and range_m must be finite numbers"
    if event.t1 < event.t0:
        return f"t1 ({event.t1:g} s) is before t0 ({event.t0:g} s)"
    return ""


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays become Python numbers/lists, NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
