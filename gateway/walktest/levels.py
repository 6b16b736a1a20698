"""How far above its own noise each sensor is right now: the walk test's bars.

A deliberately simple meter, independent of the detector (whose chains batch their input
and would make a bar lag by seconds): the signal less its slowly moving mean (the DC level,
a PIR's mid-rail, Earth's field), its mean square smoothed over half a second, against a
floor that follows the quiet level down quickly and up slowly, so that a person walking past
moves the bar and the wind does not hold it up for long.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

DC_S = {"seismic": 1.0, "pir": 5.0, "magnetometer": 30.0}
"""How slowly each kind's resting level moves (seconds)."""
SMOOTH_S = 0.5
FLOOR_DOWN_S = 2.0
FLOOR_UP_S = 60.0
FULL_SCALE_DB = 40.0
"""A bar is full this far above the floor."""
WARMUP_S = 2.0


def _alpha(dt: float, tau: float) -> float:
    return 1.0 - math.exp(-dt / tau) if tau > 0 else 1.0


class LevelMeter:
    """Level above the noise floor (dB) of one sensor, block by block."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dc: npt.NDArray[np.float64] | None = None
        self.mean_square: float | None = None
        self.floor_db: float | None = None
        self.level_db: float | None = None
        self.seen_s = 0.0
        self.peak_above_db = 0.0
        """Highest level above the floor since the last ``take_peak``."""

    def feed(self, data: npt.NDArray[np.float64], rate: float) -> None:
        """One block of samples in physical units, ``(n, columns)``."""
        x = np.asarray(data, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        x = x[np.isfinite(x).all(axis=1)]
        if x.shape[0] == 0 or rate <= 0:
            return
        dt = x.shape[0] / rate
        mean = x.mean(axis=0)
        if self.dc is None or self.dc.shape != mean.shape:
            self.dc = mean
        else:
            self.dc = self.dc + _alpha(dt, DC_S.get(self.kind, 1.0)) * (mean - self.dc)
        ms = float(np.mean(np.sum((x - self.dc) ** 2, axis=1)))
        if self.mean_square is None:
            self.mean_square = ms
        else:
            self.mean_square += _alpha(dt, SMOOTH_S) * (ms - self.mean_square)
        level = 10.0 * math.log10(max(self.mean_square, 1e-300))
        self.level_db = level
        self.seen_s += dt
        if self.floor_db is None:
            self.floor_db = level
        else:
            tau = FLOOR_DOWN_S if level < self.floor_db else FLOOR_UP_S
            if self.seen_s < WARMUP_S:
                tau = SMOOTH_S  # learn the quiet level quickly at first
            self.floor_db += _alpha(dt, tau) * (level - self.floor_db)
        self.peak_above_db = max(self.peak_above_db, self.above_db or 0.0)

    @property
    def ready(self) -> bool:
        return self.seen_s >= WARMUP_S

    @property
    def above_db(self) -> float | None:
        """dB above the floor (None until it has seen a block)."""
        if self.level_db is None or self.floor_db is None:
            return None
        return max(0.0, self.level_db - self.floor_db)

    def take_peak(self) -> float:
        """The highest level above the floor since the last call, then start again."""
        peak, self.peak_above_db = self.peak_above_db, 0.0
        return peak


def bar(above_db: float | None, width: int) -> str:
    """``|#####.....|`` for a level above the floor, full at ``FULL_SCALE_DB``."""
    if width < 3:
        return ""
    inner = width - 2
    if above_db is None:
        return "|" + " " * inner + "|"
    filled = round(inner * min(max(above_db, 0.0), FULL_SCALE_DB) / FULL_SCALE_DB)
    return "|" + "#" * filled + "." * (inner - filled) + "|"
