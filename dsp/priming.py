"""Learning a sensor's noise level from the quiet parts of a stretch of input.

A chain that starts cold must know its noise level before it can tell an event from the
background. Warming up on whatever comes first fails when something is already happening:
a triggered recorder keeps a clip from the moment something happened, and a unit may start,
or a sensor come back, while a vehicle passes. So every chain is *primed* on the first
seconds it is given (``[dsp.input] prime_s`` in the service, the first minutes of a file in
``analyze``) before it runs them: the level is taken from their quietest parts, which is
the background however much of the stretch an event fills, as long as something of it is
quiet (gaps between footsteps are; a vehicle that fills the whole stretch is not, and is
then taken for the background, as a warming-up chain would).

Plain numpy: it runs once per start or reconnect.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.validity import QUIET_STEPS

FloatArray = npt.NDArray[np.float64]

PRIME_MIN_S = 1.0
"""Less input than this is too little to learn a level from: the chain warms up instead."""

SHORTEST_CLIP_S = 1.0
"""The shortest recording worth analysing: what the survey needs to learn a level from
(``PRIME_MIN_S``), and what an event cut short by the end of the record must last to be
named (``[dsp.classifier] min_cut_short_s``) (docs/dsp.md, "Triggered clips")."""

QUIET_WINDOW_S = 0.2
"""Windows over which energy is averaged before the quietest are picked: short enough to
fit between two footsteps, long enough to average the noise."""

QUIET_QUANTILE = 0.1
"""Which window counts as quiet: the quietest quarter (an event may fill the rest)."""

MAD_SIGMA = 1.4826
"""Standard deviation per median absolute deviation, for Gaussian noise."""


QUIET_SPREAD = 4.0
"""Windows within this factor of the quiet quantile are background too: noise scatters that
far around its mean (more in narrow bands), an event rises well above it."""


def quiet_level(
    energy: FloatArray,
    window: int,
    quantile: float = QUIET_QUANTILE,
    spread: float = QUIET_SPREAD,
) -> FloatArray:
    """Per column of ``energy`` (frames, columns): the mean energy of its background.

    Energy is averaged over ``window`` consecutive frames (every window, overlapping); the
    ``quantile`` of those means is surely background, however much of the stretch an event
    fills; the windows within ``spread`` times it are taken as the background, and their
    mean is its level (so a noise that comes and goes is not taken at its quietest)."""
    n = energy.shape[0]
    w = max(1, min(window, n))
    c = np.cumsum(np.vstack([np.zeros((1, energy.shape[1])), energy]), axis=0)
    means = (c[w:] - c[:-w]) / w
    low = np.quantile(means, quantile, axis=0)
    quiet = means <= spread * low
    return np.asarray(np.sum(means * quiet, axis=0) / np.maximum(np.sum(quiet, axis=0), 1))


def running_median(x: FloatArray, window: int, step: int) -> FloatArray:
    """Each column's median over ``window`` samples centred on each sample (fewer at the
    ends), taken every ``step`` samples and held in between. Unlike a moving average it
    follows a step in level at once, and a brief bump not at all."""
    n = x.shape[0]
    half = max(0, window // 2)
    step = max(1, step)
    out = np.empty_like(x)
    for c in range(0, n, step):
        out[c : c + step] = np.median(x[max(0, c - half) : c + half + 1], axis=0)
    return out


def robust_sigma(x: FloatArray) -> float:
    """Standard deviation of the bulk of ``x`` (MAD-based: outliers, events, do not count)."""
    if x.size == 0:
        return 0.0
    med = float(np.median(x))
    return MAD_SIGMA * float(np.median(np.abs(x - med)))


def enough(n: int, rate: float) -> bool:
    """Whether ``n`` samples at ``rate`` are enough to prime on."""
    return n >= math.ceil(PRIME_MIN_S * rate)


def flat_lead(x: FloatArray, run: int) -> int:
    """How many samples at the start of ``x`` repeat its first value, when at least ``run``
    do (else 0). Such a start teaches nothing: a coarse converter in a quiet place reads one
    value, and so does a dead sensor; the level is learnt from what follows."""
    if x.shape[0] == 0:
        return 0
    moved = x != x[0] if x.ndim == 1 else np.any(x != x[0], axis=1)
    changed = np.flatnonzero(moved)
    lead = int(changed[0]) if changed.size else x.shape[0]
    return lead if lead >= run else 0


def quiet_start(value: float, rest: FloatArray, step: float) -> bool:
    """Whether a start that read one ``value`` was the quiet of what follows (``rest``) on a
    converter of ``step``, rather than a dead sensor: it changes by at most ``QUIET_STEPS``
    steps at first, and no more from sample to sample after (robustly: an event that ends
    the flat start moves slowly, or in a few steps, against that)."""
    rest = rest[np.isfinite(rest)]
    within = QUIET_STEPS * step
    if step <= 0.0 or rest.size < 2 or abs(float(rest[0]) - value) > within:
        return False
    return robust_sigma(np.diff(rest)) / math.sqrt(2.0) <= within


def smallest_step(x: FloatArray) -> float:
    """The smallest change between two samples of ``x`` (a converter's step); 0 if none."""
    moves = np.abs(np.diff(x))
    moves = moves[moves > 0.0]
    return float(moves.min()) if moves.size else 0.0
