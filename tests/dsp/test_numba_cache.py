"""The Numba internals dsp/cache.py reads are where it says (see its docstring).

If a test here fails, Numba was upgraded: check ``caches_to_disk`` and ``is_cached``
against the new Numba, then set NUMBA_CHECKED to the new version.
"""

from __future__ import annotations

import numba

from dsp import cache
from dsp.stalta import recursive_stalta


def test_the_pinned_numba_is_the_one_checked() -> None:
    assert numba.__version__ == cache.NUMBA_CHECKED


def test_cache_internals_answer() -> None:
    assert cache.caches_to_disk(recursive_stalta)
    assert callable(recursive_stalta._cache._cache_file._load_index)
    assert isinstance(cache.is_cached(recursive_stalta), bool)

    @numba.njit(cache=False)
    def not_cached(x: float) -> float:
        return x

    assert not cache.caches_to_disk(not_cached)
