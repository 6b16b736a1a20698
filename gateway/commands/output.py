"""Writing what a long command made: all of it or nothing, with a message when it cannot."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from gateway.errors import InputError


def write_whole(out: Path, text: str, *, keep_previous: bool = False) -> None:
    """Write ``text`` to ``out`` through a temporary file beside it, so that a full disk or a
    killed run leaves the file that was there (and, with ``keep_previous``, a copy of it as
    ``FILE.prev``); a path that cannot be written is an ``InputError`` naming it."""
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(text)
        if keep_previous and out.exists():
            shutil.copyfile(out, out.with_name(out.name + ".prev"))
        os.replace(tmp, out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise InputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
