"""Numba's ``njit`` for this package's kernels, behind a guard against stale cached kernels
(``dsp.cache.forget_stale_kernels``), which runs once, before the first kernel is defined."""

from numba import njit

from dsp.cache import forget_stale_kernels

forget_stale_kernels()

__all__ = ["njit"]
