"""Input checks: NaN/inf, clipping, flat lines, filled gaps, flagged as stretches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dsp.validity import (
    CLIPPED,
    FLATLINE,
    GAP,
    N_VPARAMS,
    NAN,
    VP_CLIP_DEV,
    VP_CLIP_FLAT_RUN,
    VP_CLIP_RUN,
    VP_DC,
    VP_FLAT_RUN,
    VP_MERGE,
    VP_QUIET_RUN,
    VP_SETTLE,
    close_all,
    validate_block,
    validity_state,
)


def _params(clip_dev: float = 5.0, flat_run: int = 50, merge: int = 10) -> np.ndarray:
    vp = np.zeros(N_VPARAMS)
    vp[VP_CLIP_RUN] = 3
    vp[VP_CLIP_DEV] = clip_dev
    vp[VP_FLAT_RUN] = flat_run
    vp[VP_QUIET_RUN] = 20 * flat_run
    vp[VP_CLIP_FLAT_RUN] = flat_run
    vp[VP_MERGE] = merge
    vp[VP_SETTLE] = 20
    vp[VP_DC] = 0.01
    return vp


def _run(x: np.ndarray, blocks: list[int], fn=validate_block, bad_kind: int = NAN):
    vp = _params()
    vs = validity_state()
    clean, settling, flags = [], [], []
    start = 0
    for size in [*blocks, x.size]:
        chunk = np.ascontiguousarray(x[start : start + size])
        start += size
        if not chunk.size:
            continue
        c = np.empty(chunk.size)
        s = np.empty(chunk.size, dtype=bool)
        f = np.zeros((chunk.size + 8, 3), dtype=np.int64)
        n = fn(chunk, bad_kind, vp, vs, c, s, f)
        clean.append(c)
        settling.append(s)
        flags += [tuple(r) for r in f[:n]]
        if start >= x.size:
            break
    tail = np.zeros((8, 3), dtype=np.int64)
    n = close_all(vs, tail)
    flags += [tuple(r) for r in tail[:n]]
    return np.concatenate(clean), np.concatenate(settling), flags


def _signal() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(2000)
    x[300:310] = np.nan
    x[318] = np.inf
    x[700:705] = 9.0  # clipped at +9 (far beyond 5 from the mean)
    x[708:712] = -9.0
    x[1200:1300] = 0.25  # flat line
    return x


def test_stretches_are_flagged_once_with_their_extent():
    clean, settling, flags = _run(_signal(), [])
    assert (NAN, 300, 319) in flags  # 300-309 and 318 are closer than merge: one stretch
    assert (CLIPPED, 700, 712) in flags
    assert (FLATLINE, 1200, 1300) in flags
    assert len(flags) == 3
    # Bad samples hold the last good value; the filters never see NaN.
    assert np.all(np.isfinite(clean))
    assert clean[305] == clean[299]
    # Settling follows bad input (ten lost samples: the full 20; the lone one at 318 adds
    # nothing to the 12 still to go), clipped samples stay usable.
    assert settling[300:331].all() and not settling[331]
    assert not settling[700:712].any()
    assert settling[1250:1320].all()


@pytest.mark.parametrize("blocks", [[1] * 50, [7, 293, 1, 400], [1999]])
def test_any_split_gives_the_same_flags(blocks):
    whole = _run(_signal(), [])
    split = _run(_signal(), blocks)
    assert np.array_equal(whole[0], split[0])
    assert np.array_equal(whole[1], split[1])
    assert whole[2] == split[2]


def test_twin_agrees():
    jit = _run(_signal(), [500])
    twin = _run(_signal(), [500], fn=validate_block.py_func)
    assert np.array_equal(jit[0], twin[0]) and jit[2] == twin[2]


def test_a_lost_sample_settles_briefly_and_a_dropout_for_the_full_time():
    x = np.random.default_rng(1).standard_normal(400)
    x[100] = np.nan  # one lost sample: four samples settle after it
    x[200:202] = np.nan  # two: eight
    x[300:330] = np.nan  # a dropout: the chain's full 20
    _, settling, _ = _run(x, [])
    assert settling[100:105].all() and not settling[105:200].any()
    assert settling[200:210].all() and not settling[210:300].any()
    assert settling[300:350].all() and not settling[350:].any()


def test_gap_fill_is_reported_as_gap_not_nan():
    x = np.full(30, math.nan)
    _, _, flags = _run(x, [], bad_kind=GAP)
    assert flags == [(GAP, 0, 30)]


def test_quantised_quiet_signal_is_not_flagged():
    # A 24-bit converter at a quiet site repeats values often; that is not clipping.
    rng = np.random.default_rng(1)
    x = np.round(rng.standard_normal(5000) * 2.0)
    _, _, flags = _run(x, [])
    assert flags == []


def test_a_coarse_converter_reading_one_value_while_all_is_quiet_is_not_a_flat_line():
    # A 12-bit node at a quiet site: its noise is a fraction of a step, so it reads the
    # same count for long stretches (here 400 samples, eight times the flat-line run).
    rng = np.random.default_rng(2)
    x = np.round(2150.0 + rng.standard_normal(6000) * 0.4)
    x[3000:3400] = 2150.0
    _, _, flags = _run(x, [])
    assert not [f for f in flags if f[0] == FLATLINE]
    # The same converter stuck away from where it sits is a flat line at once; so is one
    # that never moved at all.
    stuck = x.copy()
    stuck[3000:3400] = 2163.0
    _, _, flags = _run(stuck, [])
    flat = [f for f in flags if f[0] == FLATLINE]
    assert len(flat) == 1 and flat[0][1] <= 3050
    _, _, flags = _run(np.full(600, 2150.0), [])
    assert [f[0] for f in flags] == [FLATLINE]


def test_a_slow_peak_on_a_coarse_converter_is_not_clipping_but_its_end_is():
    # 40 steps tall at 2 Hz, 250 samples/s: each crest reads one value for several samples,
    # reached a step at a time. The same wave twice as tall, stuck at the converter's end
    # (40 steps), jumps there: that is clipping.
    t = np.arange(2500) / 250.0
    slow = np.round(40.0 * np.sin(2.0 * np.pi * 2.0 * t))
    _, _, flags = _run(slow, [])
    assert not [f for f in flags if f[0] == CLIPPED]
    stuck = np.clip(np.round(80.0 * np.sin(2.0 * np.pi * 2.0 * t)), -40.0, 40.0)
    _, _, flags = _run(stuck, [])
    assert len([f for f in flags if f[0] == CLIPPED]) == 20  # every crest and trough


def test_a_kind_whose_swings_hold_a_rail_sees_a_long_clip_before_a_flat_line():
    # An analog PIR's swing may hold its converter's end for longer than a flat line takes:
    # up to VP_CLIP_FLAT_RUN samples that is a clip, usable; past it, a sensor stuck there.
    rng = np.random.default_rng(3)
    quiet = np.round(rng.standard_normal(400) * 2.0)
    for held, expect in ((120, {CLIPPED}), (400, {CLIPPED, FLATLINE})):
        x = np.concatenate((quiet, np.full(held, 100.0), quiet))
        vp = _params(flat_run=50)
        vp[VP_CLIP_FLAT_RUN] = 250
        vs = validity_state()
        clean, settling = np.empty(x.size), np.empty(x.size, dtype=bool)
        flags = np.zeros((x.size + 8, 3), dtype=np.int64)
        n = validate_block(x, NAN, vp, vs, clean, settling, flags)
        kinds = {int(k) for k in flags[:n, 0]}
        n_tail = close_all(vs, flags[n:])
        kinds |= {int(k) for k in flags[n : n + n_tail, 0]}
        assert kinds == expect
        if expect == {CLIPPED}:
            assert not settling[400 : 400 + held].any()  # the clip stays usable


def test_a_value_held_below_a_peak_already_passed_is_not_a_clip():
    # A converter that holds some values for a few samples (an oversampled node, 2-4 equal
    # samples with jumps between) is at no rail mid-swing: a rail is never passed.
    rng = np.random.default_rng(5)
    quiet = np.round(rng.standard_normal(400) * 2.0)
    swing = np.array([30.0, 70.0, 100.0, 70.0, 30.0, 60.0, 60.0, 60.0, 20.0, -5.0])
    again = np.array([40.0, 100.0, 100.0, 100.0, 40.0])
    x = np.concatenate((quiet, swing, quiet, again, quiet))
    _, _, flags = _run(x, [])
    clipped = [(f[1], f[2]) for f in flags if f[0] == CLIPPED]
    at = 2 * 400 + swing.size + 1  # the held 100s of the second swing
    assert clipped == [(at, at + 3)]
