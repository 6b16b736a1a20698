"""Geometry of a scene: where the sensors are, how sources move past them, what each adds.

The field unit sits at the origin (x east, y north, metres). Every moving source follows a
straight segment past it; its closest point of approach (CPA) is ``range_m`` away in
direction ``bearing``. The PIR looks along ``pir_axis`` (radians, math convention); an angle
``theta`` > 0 is to the right of that axis as seen from the sensor, so a body whose theta
grows crosses "left-to-right".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Self

import numpy as np

from hil.synth.ground import FloatArray, Ground

if TYPE_CHECKING:
    from hil.synth.site import Site


@dataclass(frozen=True)
class Track:
    """A source moving at constant speed along a straight segment."""

    t_cpa: float
    range_m: float
    bearing: float
    """Direction from the sensor to the CPA point, radians (0 = east, pi/2 = north)."""
    direction: int
    """+1: passes counter-clockwise around the sensor (along (-sin b, cos b)); -1: clockwise."""
    speed: float
    t_start: float
    t_end: float
    height: float = 1.0
    """Height of the source's centre above the sensors, m (PIR aim, magnetic dipole)."""

    def along(self, t: FloatArray) -> FloatArray:
        """Signed distance travelled past the CPA point at times ``t``, m."""
        return np.asarray(self.speed * (t - self.t_cpa))

    def position(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        s = self.along(t) * self.direction
        cx, cy = self.range_m * math.cos(self.bearing), self.range_m * math.sin(self.bearing)
        return cx - s * math.sin(self.bearing), cy + s * math.cos(self.bearing)

    def distance(self, t: FloatArray) -> FloatArray:
        """Horizontal distance to the sensor at times ``t``."""
        return np.asarray(np.hypot(self.range_m, self.along(t)))

    def heading_deg(self) -> float:
        """Compass heading of travel (0 = north, 90 = east)."""
        ux = -math.sin(self.bearing) * self.direction
        uy = math.cos(self.bearing) * self.direction
        return math.degrees(math.atan2(ux, uy)) % 360.0

    def shifted(self, dt: float) -> Self:
        """The same track ``dt`` seconds later."""
        return replace(
            self, t_cpa=self.t_cpa + dt, t_start=self.t_start + dt, t_end=self.t_end + dt
        )

    def follower(self, behind_m: float, lateral_m: float) -> Track:
        """The track of someone ``behind_m`` metres behind and ``lateral_m`` further out."""
        delay = behind_m / self.speed
        return replace(
            self,
            t_cpa=self.t_cpa + delay,
            range_m=max(0.5, self.range_m + lateral_m),
            t_start=self.t_start + delay,
            t_end=self.t_end + delay,
        )


@dataclass(frozen=True)
class PacedTrack(Track):
    """The same line walked at a person's own pace: stops, turns back, speeds up. ``knots``
    holds (time, distance past the CPA point) pairs, joined by straight stretches; before the
    first and after the last the body stands still."""

    knots: tuple[tuple[float, float], ...] = ()

    def along(self, t: FloatArray) -> FloatArray:
        times, where = zip(*self.knots, strict=True)
        return np.asarray(np.interp(t, times, where))

    def shifted(self, dt: float) -> Self:
        return replace(super().shifted(dt), knots=tuple((t + dt, s) for t, s in self.knots))

    def follower(self, behind_m: float, lateral_m: float) -> Track:
        raise NotImplementedError("nobody follows a paced walk in file")


def crossing_track(
    rng: np.random.Generator,
    t_cpa: float,
    range_m: float,
    speed: float,
    half_length_m: float,
    *,
    bearing: float | None = None,
    height: float = 1.0,
) -> Track:
    """A track with its CPA at ``t_cpa`` that starts and ends ``half_length_m`` either side."""
    b = float(rng.uniform(0.0, 2.0 * math.pi)) if bearing is None else bearing
    half_t = half_length_m / speed
    return Track(
        t_cpa=t_cpa,
        range_m=range_m,
        bearing=b,
        direction=1 if rng.random() < 0.5 else -1,
        speed=speed,
        t_start=t_cpa - half_t,
        t_end=t_cpa + half_t,
        height=height,
    )


@dataclass(frozen=True)
class Scene:
    """What is fixed for one recording: rates, soil, sensor placement."""

    duration_s: float
    seismic_rate: float
    pir_rate: float
    mag_rate: float
    ground: Ground
    seismic_components: int = 1
    pir_axis: float = math.pi / 2
    """Direction the PIR looks (radians); people's trails mostly cross in front of it."""
    earth_field_nt: tuple[float, float, float] = (20000.0, 1500.0, 44000.0)
    """Earth's field along the magnetometer's axes (north, east, down), nT."""
    site: Site | None = None
    """The unit's hardware when it is not the default one (``hil.synth.site``): the rates
    above are then the rates the physics is rendered at, resampled to the site's own."""

    def n(self, rate: float) -> int:
        return round(self.duration_s * rate)


@dataclass
class Body:
    """What the PIR and the magnetometer see of a source: heat and iron."""

    track: Track
    thermal: float = 0.0
    """Radiating area x temperature contrast, m^2.K (a person about 0.7 x 10)."""
    moment: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Magnetic dipole moment (north, east, down), A.m^2."""


@dataclass
class Contribution:
    """Noise-free signal a single event adds to each sensor, on local windows.

    ``*_i0`` is the sample index (in that sensor's rate) of the first local sample; a window
    may start before 0 or end after the recording, the caller clips.
    """

    seismic: FloatArray
    seismic_i0: int
    bodies: list[Body] = field(default_factory=list)
    info: dict[str, object] = field(default_factory=dict)


def local_window(t0: float, t1: float, rate: float, pad_s: float) -> tuple[int, int]:
    """Sample index range ``[i0, i1)`` covering ``t0 - pad .. t1 + pad``."""
    i0 = math.floor((t0 - pad_s) * rate)
    i1 = math.ceil((t1 + pad_s) * rate) + 1
    return i0, i1


def add_window(total: FloatArray, local: FloatArray, i0: int) -> None:
    """``total[i0 : i0 + len(local)] += local`` clipped to the recording."""
    n = total.shape[0]
    a, b = max(0, i0), min(n, i0 + local.shape[0])
    if a < b:
        total[a:b] += local[a - i0 : b - i0]
