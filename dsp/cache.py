"""Is the Numba cache warm? Commands use this to say "compiling" instead of looking hung.

A kernel compiled with ``cache=True`` leaves an index file in the cache directory; when the
index is missing or stale (other sources, other Numba) the first call compiles, which takes
seconds per kernel.

This is the one place the project reads Numba's internals, as they are in Numba
:data:`NUMBA_CHECKED`: a dispatcher's ``_cache`` (a ``NullCache`` without ``cache=True``) and
its ``_cache_file._load_index()``. ``tests/dsp/test_numba_cache.py`` fails on any other
Numba version. What would let it go: a public way, upstream, to ask a dispatcher whether it
caches to disk and whether its cache holds an entry usable now.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

NUMBA_CHECKED = "0.68.1"


def service_kernels() -> list[Any]:
    """The kernels a detector calls."""
    from dsp import classifier, features, filters, magnetic, pir, seismic_kernel, validity

    return [
        seismic_kernel.seismic_block,
        filters.bank_block,
        filters.resample_block,
        validity.validate_block,
        validity.close_all,
        pir.pir_block,
        magnetic.mag_block,
        classifier.predict_proba,
        features.running_median,
    ]


def caches_to_disk(kernel: Any) -> bool:
    """Whether a dispatcher was made with ``cache=True`` (else it has a ``NullCache``)."""
    return type(getattr(kernel, "_cache", None)).__name__ != "NullCache"


def is_cached(kernel: Any) -> bool:
    """True when the kernel has compiled code in memory or a fresh cache entry on disk."""
    if kernel.signatures:
        return True
    try:
        return bool(kernel._cache._cache_file._load_index())
    except Exception:  # Numba internals moved: assume compiling rather than claim warm
        log.debug("cannot inspect the Numba cache of %s", kernel, exc_info=True)
        return False


def kernels_cached() -> bool:
    return all(is_cached(k) for k in service_kernels())
