"""How long the detector holds a detection back, by design.

Kept apart from the chains so that tools measuring a running service (gateway/bench/
service.py) can know the window without importing Numba: a second process mapping
LLVM would keep the service's copy of it resident.
"""

from __future__ import annotations

from dsp.config import DspConfig

LOUDNESS_SMOOTH_S = 1.0
"""Boxcar over which the geophone's loudness (mean over bands of energy / floor) is averaged
for the valley search: a valley is known half of it late."""

SETTLE_MARGIN_S = 0.1
"""The resampler's delay and the rounding of frames to samples."""


def latency_window_s(config: DspConfig) -> float:
    """The longest the detector holds a detection after its end (``t1``).

    The slowest chain's decision that an event is over (the geophone: its hold after the
    last activity or the valley, plus half the loudness smoothing and a frame; the PIR's and
    the magnetometer's holds), plus how long another sensor's event may still join it
    (``overhang_s``), plus the input batch (``batch_s``). Blocks arriving late add their own
    length on top."""
    decided = max(
        config.seismic.hold_s + LOUDNESS_SMOOTH_S / 2 + 2 * config.seismic.frame_s,
        config.pir.hold_s,
        config.magnetometer.hold_s,
    )
    return decided + config.fusion.overhang_s + config.input.batch_s + SETTLE_MARGIN_S
