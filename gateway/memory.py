"""Hand back the compiler's code pages once the signal kernels are loaded.

Loading a kernel from Numba's cache initialises LLVM, which touches about 65 MB of
``libllvmlite.so``. Those pages are clean and file-backed, so the kernel would drop them under
memory pressure anyway, but until then they count in the process's resident memory, which on
a 512 MB field unit is what a technician watches. Once every kernel is loaded the service no
longer runs LLVM (the machine code lives in its own memory), so it advises the kernel to page
LLVM out now (``MADV_PAGEOUT``, Linux 5.4+). Should LLVM be needed again (a kernel compiled
for new argument types) the pages simply fault back in.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MADV_PAGEOUT = 21
LIBRARIES = ("libllvmlite",)


def _mappings(names: tuple[str, ...], maps: Path) -> list[tuple[int, int]]:
    spans = []
    for line in maps.read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and any(name in parts[5] for name in names):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            spans.append((start, end))
    return spans


def release_compiler_pages(maps: Path = Path("/proc/self/maps")) -> int:
    """Advise the kernel to page out LLVM's mapped code; returns the bytes advised (0 when
    the platform cannot: no /proc, no madvise, or a kernel without MADV_PAGEOUT)."""
    try:
        spans = _mappings(LIBRARIES, maps)
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    advised = 0
    for start, end in spans:
        if madvise(start, end - start, MADV_PAGEOUT) == 0:
            advised += end - start
        else:
            log.debug("madvise(MADV_PAGEOUT) refused: errno %d", ctypes.get_errno())
            return advised
    return advised
