"""Durable file operations shared by the recorder and the gateway's state files."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so that a file created or renamed in it survives a power cut.

    Raises :class:`OSError`; callers for whom the entry's durability is a nicety suppress it.
    """
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
