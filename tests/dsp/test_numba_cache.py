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


def test_a_kernel_source_edit_drops_the_package_cache(tmp_path, monkeypatch) -> None:
    # Numba keys a cached kernel on its own file only: after an edit of a module it
    # inlines, its machine code would be stale. The guard keeps a hash of every kernel
    # source beside the cache and clears the package's entries when it changes.
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    sources = cache._kernel_sources()
    assert {p.stem for p in sources} >= {"validity", "filters", "seismic_kernel", "pir"}
    directory = cache._cache_dir(sources[0])
    assert directory is not None and tmp_path in directory.parents
    directory.mkdir(parents=True, exist_ok=True)  # the locator may have made it
    stale = directory / "seismic_kernel.seismic_block-150.py311.nbi"
    other = directory / "elsewhere.kernel-3.py311.nbi"
    stale.write_bytes(b"old")
    other.write_bytes(b"not ours")
    cache.forget_stale_kernels()
    assert not stale.exists() and other.exists()
    assert (directory / cache.STAMP_FILE).read_text().strip()
    # With the sources unchanged, the cache is left alone.
    stale.write_bytes(b"fresh")
    cache.forget_stale_kernels()
    assert stale.exists()
    (directory / cache.STAMP_FILE).write_text("an older source\n")
    cache.forget_stale_kernels()
    assert not stale.exists()
