"""First stage of every sensor kernel: checks of the raw input, sample by sample.

Finds non-finite values (NaN/inf in the data, or a gap the caller filled), clipping (a value
repeated at far more than the noise from the running mean, jumped to rather than reached a
converter step at a time, and the highest or lowest the stream has shown) and flat lines (a
value repeated for a long time: a dead sensor or a stuck converter). A bad sample is
replaced by the last good one, so filters never see NaN (which would poison their state for
ever) nor a step, and the sample is marked as *settling* for a while so that triggers stay
quiet until the filters have forgotten it (after lost samples, for four times as long as
they were lost, up to the chain's settle time). Clipped samples stay usable: a strong event
clips, and is still an event.

Each stretch is reported once as ``(kind, first_sample, end_sample)`` in absolute input
sample indices; stretches of one kind closer than ``merge`` samples are reported as one.
State lives in a small float64 array and is copied into locals for the block, so the common
case (a fresh finite value, nothing flagged) costs a few instructions.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.jit import njit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Flag kinds (index into FLAG_NAMES).
NAN = 0
CLIPPED = 1
FLATLINE = 2
GAP = 3
FLAG_NAMES = ("nan", "clipped", "flatline", "gap")
N_KINDS = 4

QUIET_STEPS = 2.0
"""A signal within this many converter steps of its running mean is at its background
level: a coarse converter there may read one value for a long time (``VP_QUIET_RUN``)."""

# Parameters (vp).
VP_CLIP_RUN = 0  # identical samples that make a clip ...
VP_CLIP_DEV = 1  # ... at more than this from the running mean (inf: no clip detection yet)
VP_FLAT_RUN = 2  # identical samples that make a flat line
VP_MERGE = 3  # stretches closer than this (samples) are one
VP_SETTLE = 4  # samples marked as settling after a bad one
VP_DC = 5  # coefficient of the running mean, per sample
VP_QUIET_RUN = 6  # ... and at the background level of a signal within its converter's step
VP_CLIP_FLAT_RUN = 7  # ... and at a clip: how long the kind's swings may hold a rail
N_VPARAMS = 8

# State (vs); sample indices are exact in float64 up to 2**53.
V_INDEX = 0  # absolute index of the next sample
V_LAST_GOOD = 1
V_PREV = 2  # previous raw value (runs of identical values)
V_RUN = 3
V_N_OPEN = 4  # stretches currently open
V_SETTLE = 5  # samples still settling
V_DC = 6  # running mean of good samples (centre for clip detection)
V_HAVE_GOOD = 7
V_STEP = 8  # smallest change seen between two samples (the converter's step, if it has one)
V_DEV = 9  # running mean of |sample - running mean|
V_ENTRY = 10  # the change into the current run of identical values
V_HIGH = 11  # the highest and ...
V_LOW = 12  # ... the lowest finite value seen: a rail is never passed
V_OPEN = 13  # per kind: start of the open stretch, -1 if none
V_LAST = V_OPEN + N_KINDS  # per kind: last sample inside the open stretch
V_BAD_RUN = V_LAST + N_KINDS  # non-finite samples in a row, up to this one
V_SIZE = V_BAD_RUN + 1

SETTLE_PER_LOST = 4.0
"""A stretch of lost samples (bridged by the last good value) keeps the triggers quiet for
this many times its own length, up to the chain's settle time. A lost sample or two is a
blip the filters forget at once, and a 10-Hz magnetometer whose clock drops every other
sample for a while must not go deaf for the seconds after; a dropout of half a second or
more (field hardware's, and the scenarios') settles for the chain's full time, as any bad
stretch does."""


def validity_state(start_index: int = 0) -> FloatArray:
    vs = np.zeros(V_SIZE, dtype=np.float64)
    vs[V_OPEN : V_OPEN + N_KINDS] = -1.0
    vs[V_PREV] = np.nan
    vs[V_STEP] = np.inf
    vs[V_HIGH] = -np.inf
    vs[V_LOW] = np.inf
    vs[V_INDEX] = start_index
    return vs


def start_on_flat(
    vs: FloatArray, vp: FloatArray, value: float, rest: FloatArray, step: float, quiet: bool
) -> None:
    """Checks about to start on a stretch that reads ``value`` for its first samples and
    ``rest`` after (priming saw both). ``quiet``: that was a quiet converter's background,
    and the checks know its ``step`` from the first sample, so the run is no flat line. Else
    a dead start: its first sample already continues a flat line and is flagged as one, and
    the running mean starts at the level that follows, so that the input coming back is not
    taken for clipping while the mean would catch up."""
    if quiet:
        vs[V_STEP] = min(vs[V_STEP], step)
        return
    finite = rest[np.isfinite(rest)]
    vs[V_PREV] = value
    vs[V_RUN] = vp[VP_FLAT_RUN]
    vs[V_LAST_GOOD] = value
    vs[V_DC] = float(np.median(finite)) if finite.size else value
    vs[V_HAVE_GOOD] = 1.0


@njit(cache=True, inline="always")
def _emit(vs: FloatArray, kind: int, flags: IntArray, n_flags: int) -> int:
    flags[n_flags, 0] = kind
    flags[n_flags, 1] = np.int64(vs[V_OPEN + kind])
    flags[n_flags, 2] = np.int64(vs[V_LAST + kind] + 1.0)
    vs[V_OPEN + kind] = -1.0
    vs[V_N_OPEN] -= 1.0
    return n_flags + 1


@njit(cache=True, inline="always")
def _mark(
    vs: FloatArray, kind: int, index: float, merge: float, flags: IntArray, n_flags: int
) -> int:
    if vs[V_OPEN + kind] >= 0.0 and index - vs[V_LAST + kind] > merge:
        n_flags = _emit(vs, kind, flags, n_flags)
    if vs[V_OPEN + kind] < 0.0:
        vs[V_OPEN + kind] = index
        vs[V_N_OPEN] += 1.0
    vs[V_LAST + kind] = index
    return n_flags


@njit(cache=True)
def validate_block(
    x: FloatArray,
    bad_kind: int,
    vp: FloatArray,
    vs: FloatArray,
    clean: FloatArray,
    settling: BoolArray,
    flags: IntArray,
) -> int:
    """Check ``x``; write usable values to ``clean`` and settling marks to ``settling``.

    ``bad_kind`` names what non-finite samples are in this call (NAN, or GAP for a gap the
    caller filled with NaN). Returns the number of flag rows written (one row per sample
    plus four is always enough).
    """
    n_flags = 0
    index = vs[V_INDEX]
    prev = vs[V_PREV]
    run = vs[V_RUN]
    last_good = vs[V_LAST_GOOD]
    settle = vs[V_SETTLE]
    dc = vs[V_DC]
    step = vs[V_STEP]
    entry = vs[V_ENTRY]
    high = vs[V_HIGH]
    low = vs[V_LOW]
    dev = vs[V_DEV]
    have_good = vs[V_HAVE_GOOD] != 0.0
    bad_run = vs[V_BAD_RUN]
    c_dc = vp[VP_DC]
    merge = vp[VP_MERGE]
    for i in range(x.shape[0]):
        raw = x[i]
        idx = index + i
        if vs[V_N_OPEN] == 0.0 and raw != prev and math.isfinite(raw) and have_good:
            # The common case: a fresh finite value, nothing being flagged.
            entry = abs(raw - prev)
            step = min(step, entry)
            high = max(high, raw)
            low = min(low, raw)
            run = 1.0
            prev = raw
            last_good = raw
            dev += c_dc * (abs(raw - dc) - dev)
            dc += c_dc * (raw - dc)
            clean[i] = raw
            if settle > 0.0:
                settle -= 1.0
                settling[i] = True
            else:
                settling[i] = False
            continue
        if vs[V_N_OPEN] != 0.0:
            for kind in range(N_KINDS):
                if vs[V_OPEN + kind] >= 0.0 and idx - vs[V_LAST + kind] > merge:
                    n_flags = _emit(vs, kind, flags, n_flags)
        if not math.isfinite(raw):
            n_flags = _mark(vs, bad_kind, idx, merge, flags, n_flags)
            run = 0.0
            prev = math.nan
            clean[i] = last_good
            bad_run += 1.0
            settle = max(settle, min(vp[VP_SETTLE], SETTLE_PER_LOST * bad_run))
            settling[i] = True
            continue
        bad_run = 0.0
        if not have_good:
            have_good = True
            dc = raw
        if raw == prev:
            run += 1.0
        else:
            entry = abs(raw - prev) if math.isfinite(prev) else math.inf
            step = min(step, entry)
            run = 1.0
        high = max(high, raw)
        low = min(low, raw)
        prev = raw
        last_good = raw
        clean[i] = raw
        usable = True
        # A converter whose noise is no bigger than its step reads the same value for long
        # stretches while all is quiet: that is a flat line only when it lasts far longer.
        quiet = (
            step < math.inf and dev <= QUIET_STEPS * step and abs(raw - dc) <= QUIET_STEPS * step
        )
        # Stuck at the converter's end, come to at speed: a slow peak that a coarse
        # converter reads as one value for a few samples is reached a step at a time, and
        # a value held below a peak already passed is no end of any range.
        clip = (
            run >= vp[VP_CLIP_RUN]
            and abs(raw - dc) > vp[VP_CLIP_DEV]
            and entry > QUIET_STEPS * step
            and (raw >= high or raw <= low)
        )
        if quiet:
            flat_run = vp[VP_QUIET_RUN]
        elif clip:
            flat_run = vp[VP_CLIP_FLAT_RUN]
        else:
            flat_run = vp[VP_FLAT_RUN]
        if run >= flat_run:
            first = idx - flat_run + 1.0 if run == flat_run else idx
            j = first
            while j <= idx:  # the whole run so far belongs to the flat line
                n_flags = _mark(vs, FLATLINE, j, merge, flags, n_flags)
                j += 1.0
            usable = False
        elif clip:
            first = idx - vp[VP_CLIP_RUN] + 1.0 if run == vp[VP_CLIP_RUN] else idx
            j = first
            while j <= idx:
                n_flags = _mark(vs, CLIPPED, j, merge, flags, n_flags)
                j += 1.0
        if usable:
            dev += c_dc * (abs(raw - dc) - dev)
            dc += c_dc * (raw - dc)
            if settle > 0.0:
                settle -= 1.0
                settling[i] = True
            else:
                settling[i] = False
        else:
            settle = vp[VP_SETTLE]
            settling[i] = True
    vs[V_INDEX] = index + x.shape[0]
    vs[V_PREV] = prev
    vs[V_RUN] = run
    vs[V_LAST_GOOD] = last_good
    vs[V_SETTLE] = settle
    vs[V_BAD_RUN] = bad_run
    vs[V_DC] = dc
    vs[V_STEP] = step
    vs[V_ENTRY] = entry
    vs[V_HIGH] = high
    vs[V_LOW] = low
    vs[V_DEV] = dev
    vs[V_HAVE_GOOD] = 1.0 if have_good else 0.0
    return n_flags


@njit(cache=True)
def close_all(vs: FloatArray, flags: IntArray) -> int:
    """End of stream: report every open stretch; returns how many were written."""
    n_flags = 0
    for kind in range(N_KINDS):
        if vs[V_OPEN + kind] >= 0.0:
            n_flags = _emit(vs, kind, flags, n_flags)
    return n_flags
