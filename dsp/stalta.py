"""Recursive STA/LTA (Withers et al. 1998), streamed.

Same recursion as ObsPy's ``recursive_sta_lta`` (its C ``recstalta``), but the two averages
are carried across blocks in ``state`` instead of restarting from zero on every call, so a
live stream cut into blocks gives the same ratio as one pass over the whole recording.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.jit import njit

FloatArray = npt.NDArray[np.float64]

STA = 0
LTA = 1


def stalta_state() -> FloatArray:
    """``[sta, lta]`` both zero: ObsPy's starting point."""
    return np.zeros(2, dtype=np.float64)


@njit(cache=True)
def recursive_stalta(
    a: FloatArray, state: FloatArray, out: FloatArray, nsta: float, nlta: float
) -> None:
    """Write ``sta/lta`` of ``a**2`` into ``out``; ``state`` ``[sta, lta]`` in and out.

    ``nsta`` and ``nlta`` are the averaging lengths in samples. While ``lta`` is still zero
    (the very first sample of a silent stream) the ratio is 0, not NaN.
    """
    csta = 1.0 / nsta
    clta = 1.0 / nlta
    ista = 1.0 - csta
    ilta = 1.0 - clta
    sta = state[STA]
    lta = state[LTA]
    for i in range(a.shape[0]):
        sq = a[i] * a[i]
        sta = csta * sq + ista * sta
        lta = clta * sq + ilta * lta
        out[i] = sta / lta if lta > 0.0 else 0.0
    state[STA] = sta
    state[LTA] = lta


def _warm() -> object:
    x = np.zeros(64)
    recursive_stalta(x, stalta_state(), np.empty(64), 5.0, 50.0)
    return x


WARMUP = {"recursive_stalta": _warm}
"""For ``ugs-gateway warmup``."""
