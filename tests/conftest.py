"""Session-wide test settings shared by every package's tests."""

from __future__ import annotations

import os

# Kernels compile into the source tree's __pycache__ by default; keep a dedicated cache so a
# read-only checkout still works and repeated runs stay warm.
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "numba-cache"
    ),
)
