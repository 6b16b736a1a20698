"""Streaming, Numba-compiled detection and classification. Knows nothing of I/O."""
