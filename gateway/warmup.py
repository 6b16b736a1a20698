"""Fill the Numba cache before the service needs it.

Numba compiles a kernel the first time it is called with a given set of argument types
(0.5-1.7 s per kernel here, several times that on a Pi) and, with ``cache=True``, keeps the
machine code in ``$NUMBA_CACHE_DIR``. A field unit whose cache is cold spends its first start
compiling while systemd waits for READY, so ``install.sh`` runs ``ugs-gateway warmup`` as the
service user, with the service's cache directory, after every install and upgrade (an upgrade
changes the sources' timestamps, which invalidates the cache).

The registry
------------
Any module under ``dsp`` may define::

    WARMUP: dict[str, Callable[[], object]]

mapping a name to a function without arguments that calls the module's kernels the way the
service does: the same dtypes, dimensions and memory layouts (a cache entry is per type
signature), on a few hundred samples. Kernels compiled at import time (explicit signatures)
need no entry, and neither do ``inline="always"`` helpers, which are compiled into their
callers. ``run()`` imports every ``dsp`` module, calls every entry, and lists each cacheable
kernel that is neither compiled nor in the cache as ``cold``, so a missing entry shows in
the install log.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from dsp.cache import caches_to_disk, is_cached
from gateway.errors import UgsError

log = logging.getLogger(__name__)

# Packages searched for WARMUP entries and kernels.
PACKAGES = ("dsp",)
# Modules that are not part of the service (benchmarks import dev-only references).
SKIP_MODULES = ("bench",)

WarmupEntry = Callable[[], object]


def _modules(package: str) -> list[ModuleType]:
    root = importlib.import_module(package)
    found = [root]
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=f"{package}."):
        if info.name.rpartition(".")[2] in SKIP_MODULES:
            continue
        found.append(importlib.import_module(info.name))
    return found


def _is_cacheable_kernel(obj: object) -> bool:
    from numba.core.dispatcher import Dispatcher

    if not isinstance(obj, Dispatcher):
        return False
    if obj.targetoptions.get("inline") == "always":
        return False
    # A kernel without cache=True: warming it would not survive the process.
    return caches_to_disk(obj)


def _kernel_name(kernel: Any) -> str:
    func = kernel.py_func
    return f"{func.__module__}.{func.__qualname__}"


def discover(packages: tuple[str, ...] = PACKAGES) -> tuple[dict[str, WarmupEntry], dict[str, Any]]:
    """Import the packages; return their WARMUP entries and their cacheable kernels."""
    entries: dict[str, WarmupEntry] = {}
    kernels: dict[str, Any] = {}
    for package in packages:
        for module in _modules(package):
            for name, entry in getattr(module, "WARMUP", {}).items():
                entries[f"{module.__name__}:{name}"] = entry
            for obj in vars(module).values():
                if _is_cacheable_kernel(obj):
                    kernels.setdefault(_kernel_name(obj), obj)
    return entries, kernels


def check_cache_dir(env: dict[str, str] | None = None) -> str | None:
    """The cache directory in use (None: next to the sources); fail clearly if unwritable."""
    env = dict(os.environ) if env is None else env
    cache_dir = env.get("NUMBA_CACHE_DIR")
    if not cache_dir:
        return None
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UgsError(
            f"cannot create the Numba cache directory {path}: {exc.strerror or exc}; "
            "it must be writable by the service user (CacheDirectory= in the unit)"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UgsError(
            f"the Numba cache directory {path} is not writable by uid {os.getuid()}; "
            "run the warm-up as the service user (sudo -u ugs-gateway ...)"
        )
    return str(path)


def run(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """Compile (or load) every kernel; return what was done, as JSON types."""
    cache_dir = check_cache_dir()
    started = time.perf_counter()
    try:
        entries, kernels = discover(packages)
    except ImportError as exc:
        raise UgsError(
            f"cannot import the signal-processing code ({exc}); the installed package is "
            "incomplete or broken: reinstall it"
        ) from exc
    except RuntimeError as exc:
        # Numba's "cannot cache function ...: no locator available" when nothing is writable.
        raise UgsError(f"cannot load the signal-processing kernels: {exc}") from None
    timings = {}
    for name, entry in entries.items():
        t0 = time.perf_counter()
        try:
            entry()
        except Exception as exc:
            raise UgsError(f"warm-up {name} failed: {type(exc).__name__}: {exc}") from exc
        timings[name] = round(time.perf_counter() - t0, 3)
    compiled: list[str] = []
    cold: list[str] = []
    hits = misses = 0
    for name, kernel in sorted(kernels.items()):
        # A kernel that only others call (the filters inside the geophone's kernel) is
        # loaded with them and never on its own: its cache entry on disk is what counts.
        (compiled if is_cached(kernel) else cold).append(name)
        hits += sum(kernel.stats.cache_hits.values())
        misses += sum(kernel.stats.cache_misses.values())
    return {
        "cache_dir": cache_dir,
        "entries": timings,
        "kernels": len(kernels),
        "compiled": compiled,
        "cold": cold,
        "loaded_from_cache": hits,
        "compiled_now": misses,
        "seconds": round(time.perf_counter() - started, 3),
    }
