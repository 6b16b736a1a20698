"""Is the Numba cache warm? Commands use this to say "compiling" instead of looking hung.

A kernel compiled with ``cache=True`` leaves an index file in the cache directory; when the
index is missing or stale (other sources, other Numba) the first call compiles, which takes
seconds per kernel.

It also drops cached kernels whose inlined code has gone stale (``forget_stale_kernels``).

This is the one place the project reads Numba's internals, as they are in Numba
:data:`NUMBA_CHECKED`: a dispatcher's ``_cache`` (a ``NullCache`` without ``cache=True``) and
its ``_cache_file._load_index()``, and the cache locators ``CacheImpl._locator_classes``.
``tests/dsp/test_numba_cache.py`` fails on any other Numba version. What would let it go: a
public way, upstream, to ask a dispatcher whether it caches to disk and whether its cache
holds an entry usable now, and a cache index keyed on the sources a kernel inlines.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from pathlib import Path
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
        features.autocorrelation,
        features.impact_spacing,
        features.impulsiveness,
        features.spectrum_scores,
        features.parabola_fit,
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


def kind_kernels() -> dict[str, Any]:
    """The kernel only one kind of sensor calls, by kind."""
    from dsp import magnetic, pir, seismic_kernel

    return {
        "seismic": seismic_kernel.seismic_block,
        "pir": pir.pir_block,
        "magnetometer": magnetic.mag_block,
    }


def kernels_cached(kinds: Collection[str] | None = None) -> bool:
    """Whether every kernel a detector of these kinds of sensor calls is ready (all kinds
    when None): a geophone's recording compiles nothing for a PIR never run here."""
    if kinds is None:
        return all(is_cached(k) for k in service_kernels())
    unused = [k for kind, k in kind_kernels().items() if kind not in kinds]
    return all(is_cached(k) for k in service_kernels() if k not in unused)


STAMP_FILE = "ugs-kernel-sources.sha256"


def _kernel_sources() -> list[Path]:
    """This package's modules that define kernels (they import ``dsp.jit``)."""
    here = Path(__file__).resolve().parent
    return sorted(p for p in here.glob("*.py") if "\nfrom dsp.jit import njit\n" in p.read_text())


def _cache_dir(py_file: Path) -> Path | None:
    """Where Numba caches the kernels of ``py_file`` (its locators, in their order)."""
    from numba.core.caching import CacheImpl

    locators: list[Any] = list(CacheImpl._locator_classes)
    for locator in locators:
        # Locators take a function for its line number only; any function will do.
        found = locator.from_function(_cache_dir, str(py_file))
        if found is not None:
            return Path(found.get_cache_path())
    return None


def forget_stale_kernels() -> None:
    """Drop this package's cached kernels when any kernel's source has changed.

    Numba checks a cached kernel against its own source file only: a kernel that inlines
    another module's (every sensor kernel inlines ``dsp.validity`` and ``dsp.filters``) keeps
    the old machine code after that module is edited, with another state layout, and reads
    garbage. A field unit's install replaces every file, but a developer's edit does not. So
    a hash of all kernel sources is kept beside the cache; when it differs, the package's
    cache files are deleted and everything compiles afresh. Anything wrong here only costs a
    compile, so errors are logged and ignored."""
    try:
        sources = _kernel_sources()
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
        directory = _cache_dir(sources[0]) if sources else None
        if directory is None or not directory.is_dir():
            return
        stamp = directory / STAMP_FILE
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        names = {p.stem for p in sources}
        for entry in directory.iterdir():
            if entry.suffix in (".nbi", ".nbc") and entry.name.split(".", 1)[0] in names:
                entry.unlink(missing_ok=True)
        stamp.write_text(digest + "\n")
    except Exception:  # Numba's locators moved, a read-only cache: compile as usual
        log.debug("cannot check the kernel cache against the sources", exc_info=True)
