"""Streaming filter kernels: cascaded biquads and a polyphase rational resampler.

Every kernel takes a block, the state left by the previous block, and preallocated outputs;
it updates the state array in place (that array *is* the new state), so splitting a signal
into any blocks gives bit-identical output to one pass. Each has a plain-Python twin,
``kernel.py_func``, and golden tests against ``scipy.signal``.

The per-sample steps (``biquad_step``...) are small Numba functions that the fused sensor
kernels (``dsp.seismic``...) inline, so the same arithmetic is tested once here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

FloatArray = npt.NDArray[np.float64]


@njit(cache=True, inline="always")
def biquad_step(sos: FloatArray, zi: FloatArray, s: int, x: float) -> float:
    """One sample through section ``s`` (transposed direct form II, scipy's state layout)."""
    y: float = sos[s, 0] * x + zi[s, 0]
    zi[s, 0] = sos[s, 1] * x - sos[s, 4] * y + zi[s, 1]
    zi[s, 1] = sos[s, 2] * x - sos[s, 5] * y
    return y


@njit(cache=True, inline="always")
def cascade_step(sos: FloatArray, zi: FloatArray, first: int, count: int, x: float) -> float:
    """One sample through sections ``first .. first+count`` of a stacked filter bank."""
    for s in range(first, first + count):
        x = biquad_step(sos, zi, s, x)
    return x


@njit(cache=True)
def sosfilt_block(sos: FloatArray, x: FloatArray, zi: FloatArray, y: FloatArray) -> None:
    """Filter ``x`` through all sections of ``sos`` into ``y``; ``zi`` (n_sections, 2) is
    the state in and, on return, the state out (like ``scipy.signal.sosfilt(..., zi=zi)``)."""
    n_sections = sos.shape[0]
    for i in range(x.shape[0]):
        v = x[i]
        for s in range(n_sections):
            v = biquad_step(sos, zi, s, v)
        y[i] = v


# Resampler state: a history ring written twice (at pos and pos+taps) so the newest taps are
# always one contiguous run, and two counters in a small int64 array.
RS_POS = 0  # ring write position
RS_ACC = 1  # up-sampled offset of the next output relative to the newest input


def resampler_state(h: FloatArray, up: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Fresh state for ``resample_block`` with filter ``h`` and up-sampling factor ``up``."""
    taps_per_phase = -(-h.shape[0] // up)
    ring = np.zeros(2 * taps_per_phase, dtype=np.float64)
    counters = np.zeros(2, dtype=np.int64)
    return ring, counters


@njit(cache=True, inline="always")
def resample_push(
    h: FloatArray, up: int, down: int, ring: FloatArray, counters: npt.NDArray[np.int64], x: float
) -> int:
    """Push one input sample; return how many outputs are now due (0, 1, ... up//down+1).

    Read them with ``resample_output(h, up, ring, counters, j)`` for j in 0..due-1, then call
    ``resample_advance``. Split this way so fused kernels process each output in line.
    """
    taps = ring.shape[0] // 2
    pos = counters[RS_POS]
    pos = pos + 1 if pos + 1 < taps else 0
    ring[pos] = x
    ring[pos + taps] = x
    counters[RS_POS] = pos
    acc = counters[RS_ACC]
    due = 0
    while acc + due * down < up:
        due += 1
    return due


@njit(cache=True, inline="always")
def resample_output(
    h: FloatArray, up: int, down: int, ring: FloatArray, counters: npt.NDArray[np.int64], j: int
) -> float:
    """The ``j``-th output due after the last push: sum over the taps of one polyphase branch."""
    taps = ring.shape[0] // 2
    phase = counters[RS_ACC] + j * down
    newest = counters[RS_POS] + taps  # ring[newest - t] is the input t samples ago
    acc = 0.0
    n_h = h.shape[0]
    t = 0
    k = phase
    while k < n_h:
        acc += h[k] * ring[newest - t]
        t += 1
        k += up
    return acc


@njit(cache=True, inline="always")
def resample_advance(up: int, down: int, counters: npt.NDArray[np.int64], due: int) -> None:
    counters[RS_ACC] = counters[RS_ACC] + due * down - up


@njit(cache=True)
def resample_block(
    h: FloatArray,
    up: int,
    down: int,
    x: FloatArray,
    ring: FloatArray,
    counters: npt.NDArray[np.int64],
    y: FloatArray,
) -> int:
    """Polyphase resampling by ``up/down`` with FIR ``h`` (gain ``up``); returns outputs written.

    Output k is ``sum_j h[j] * x_up[k*down - j]`` where ``x_up`` is ``x`` with ``up - 1``
    zeros after each sample: exactly ``scipy.signal.upfirdn(h, x, up, down)``, streamed.
    ``y`` must hold ``ceil(len(x) * up / down) + 1`` values.
    """
    n_out = 0
    for i in range(x.shape[0]):
        due = resample_push(h, up, down, ring, counters, x[i])
        for j in range(due):
            y[n_out] = resample_output(h, up, down, ring, counters, j)
            n_out += 1
        resample_advance(up, down, counters, due)
    return n_out


def resample_capacity(n_in: int, up: int, down: int) -> int:
    """Output buffer size that ``resample_block`` needs for ``n_in`` inputs."""
    return -(-n_in * up // down) + 1
