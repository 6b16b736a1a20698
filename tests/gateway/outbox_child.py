"""A storing process for the outbox tests: killed, limited or run inside a small filesystem.

    python -m tests.gateway.outbox_child store OUTBOX STATE_DIR COUNT   (0 = until killed)
    python -m tests.gateway.outbox_child fsize OUTBOX LIMIT_BYTES COUNT
    python -m tests.gateway.outbox_child tmpfs MOUNTPOINT SIZE COUNT   (inside `unshare -rm`)
    python -m tests.gateway.outbox_child eio OUTBOX - COUNT   (under strace fault injection)

``store`` prints ``boot N`` after taking its boot number, ``open`` once the outbox is open,
then ``stored BOOT SEQ`` after each store call has returned. The other modes print one JSON
summary line.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.boot import next_boot
from gateway.errors import StorageError
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from tests.gateway.outbox_helpers import NODE, SITE, everything, fields


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def store(path: Path, state_dir: Path, count: int) -> None:
    boot = next_boot(state_dir)
    say(f"boot {boot}")
    outbox = Outbox(
        path, OutboxConfig(), node=NODE, site=SITE, boot=boot, uplinks={"a": everything}
    )
    say("open")
    n = 0
    while count == 0 or n < count:
        report = outbox.store(fields())
        say(f"stored {report['boot']} {report['seq']}")
        n += 1
    outbox.close()


def fill(path: Path, count: int, before: Any = None, prefill: int = 1) -> dict[str, Any]:
    """Store ``count`` reports into a disk that runs full after the first ``prefill``."""
    outbox = Outbox(
        path,
        OutboxConfig(min_free_bytes=0),
        node=NODE,
        site=SITE,
        boot=1,
        uplinks={"a": everything},
    )
    returned: list[int] = [outbox.store(fields())["seq"] for _ in range(prefill)]
    if before is not None:
        before(path)
    failures = store_counting_failures(outbox, count - prefill, returned)
    stats = outbox.stats()
    outbox.close()
    return summary(path, returned, failures, stats)


def store_counting_failures(outbox: Outbox, count: int, returned: list[int]) -> int:
    """Store ``count`` reports, appending each returned seq; the number of stores refused."""
    failures = 0
    for _ in range(count):
        try:
            returned.append(outbox.store(fields())["seq"])
        except StorageError:
            failures += 1
    return failures


def summary(
    path: Path, returned: list[int], failures: int, stats: dict[str, Any]
) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    check = conn.execute("PRAGMA quick_check").fetchone()[0]
    kept = [seq for (seq,) in conn.execute("SELECT seq FROM reports ORDER BY row_id")]
    conn.close()
    return {
        "returned": returned,
        "failures": failures,
        "kept": kept,
        "drops": stats["drops"],
        "io_errors": stats.get("io_errors"),
        "last_io_error": stats.get("last_io_error"),
        "check": check,
        "ballast": path.with_name(path.name + ".ballast").exists(),
    }


def eio(path: Path, count: int) -> None:
    """Store ``count`` reports while the test's strace makes some writes fail with EIO."""
    outbox = Outbox(path, OutboxConfig(), node=NODE, site=SITE, boot=1, uplinks={"a": everything})
    returned: list[int] = []
    failures = store_counting_failures(outbox, count, returned)
    stats = outbox.stats()
    outbox.close()
    say(json.dumps(summary(path, returned, failures, stats)))


def fsize(path: Path, limit: int, count: int) -> None:
    # Writing past RLIMIT_FSIZE raises SIGXFSZ, which would kill us: make it EFBIG instead.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def limit_files(_: Path) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    say(json.dumps(fill(path, count, limit_files)))


def tmpfs(mountpoint: Path, size: str, count: int) -> None:
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)], check=True
    )
    path = mountpoint / "outbox.sqlite"

    def fill_disk(_: Path) -> None:
        # Another program takes every free block: the outbox's next writes meet ENOSPC.
        with open(mountpoint / "filler", "wb", buffering=0) as f:
            st = os.statvfs(mountpoint)
            f.write(b"\0" * (st.f_bavail * st.f_frsize))
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 4096)

    say(json.dumps(fill(path, count, fill_disk, prefill=count // 8)))


def main() -> None:
    mode, target, arg, count = sys.argv[1:5]
    if mode == "store":
        store(Path(target), Path(arg), int(count))
    elif mode == "fsize":
        fsize(Path(target), int(arg), int(count))
    elif mode == "tmpfs":
        tmpfs(Path(target), arg, int(count))
    elif mode == "eio":
        eio(Path(target), int(count))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
