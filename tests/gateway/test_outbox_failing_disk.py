"""A failing disk and a stepping clock must not cost stored reports.

- EIO: a storing process runs under strace, which makes the kernel's answer to some of its
  writes of the outbox's log (or their fsync) an I/O error; the disk itself has room. The
  outbox retries, counts and reports the errors, and drops nothing.
- Clock steps of a day either way while reports wait: nothing is aged out by the step, and
  ``max_age`` keeps working after it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from tests.gateway.outbox_helpers import NODE, SITE, everything, fields

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0


def _strace() -> str | None:
    tool = shutil.which("strace")
    if tool is None:
        return None
    probe = subprocess.run(
        [tool, "-f", "-qq", "-o", "/dev/null", "-e", "trace=getpid",
         "-e", "inject=getpid:error=EIO", "true"],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    return tool if probe.returncode == 0 else None


@pytest.mark.parametrize("syscall", ["pwrite64", "fdatasync"])
@pytest.mark.parametrize(
    "when",
    # Every 40th call from the 150th on: single errors among good writes (a marginal card).
    # Calls 200 to 260: a stretch in which every write fails (a card resetting).
    ["150+40", "200..260"],
    ids=["sporadic", "burst"],
)
def test_an_io_error_is_retried_and_reported_and_deletes_nothing(
    tmp_path: Path, syscall: str, when: str
) -> None:
    tool = _strace()
    if tool is None:
        pytest.skip("strace with fault injection is not available (apt-get install strace)")
    path = tmp_path / "outbox.sqlite"
    wal = path.with_name(path.name + "-wal")
    # Some calls of that system call on the log fail with EIO while 400 reports are stored
    # (each store writes and syncs the log once or more).
    cmd = [
        tool, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "-P", str(wal),
        "-e", f"trace={syscall}", "-e", f"inject={syscall}:error=EIO:when={when}",
        sys.executable, "-m", "tests.gateway.outbox_child", "eio", str(path), "-", "400",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])

    assert result["check"] == "ok"
    # Nothing was dropped for it: every store that returned is in the file ...
    assert result["drops"]["total"] == 0, result["drops"]
    assert result["kept"] == result["returned"]
    # ... the errors were seen, counted and logged ...
    assert result["io_errors"] > 0, "the injected errors were not seen"
    assert "I/O error" in proc.stderr
    assert "disk I/O error" in result["last_io_error"]["error"]
    # ... a store that failed used no seq ...
    returned = result["returned"]
    assert returned == list(range(1, len(returned) + 1))
    assert len(returned) + result["failures"] == 400
    # ... and most stores succeeded: errors were retried, not given up on at once.
    assert len(returned) > 300


def _outbox(path: Path, wall: list[float], **limits: float) -> Outbox:
    return Outbox(
        path,
        OutboxConfig(min_free_bytes=0, ballast_bytes=0, **limits),
        node=NODE,
        site=SITE,
        boot=1,
        uplinks={"a": everything},
        clock=lambda: wall[0],
    )


def _store_for(outbox: Outbox, seconds: float) -> None:
    """Store reports for ``seconds`` of real (monotonic) time: the once-a-second checks run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outbox.store(fields())
        time.sleep(0.05)


@pytest.mark.parametrize("step", [DAY, -DAY], ids=["forward", "backward"])
def test_a_clock_step_of_a_day_deletes_nothing(tmp_path: Path, step: float) -> None:
    wall = [time.time()]
    with _outbox(tmp_path / "outbox.sqlite", wall, max_age=3600) as outbox:
        for _ in range(50):
            outbox.store(fields())
        wall[0] += step  # NTP or GNSS steps the clock while 50 reports wait
        _store_for(outbox, 2.5)
        stats = outbox.stats()
        assert stats["drops"]["total"] == 0, stats["drops"]
        assert stats["depth"] == stats["seq"] > 50
        assert 0 <= stats["oldest_age_s"] < 60
    # Nor at the next start, for a clock that went back: the file's newest report is the
    # outbox's "now" at least, so no report looks younger (or older) than it is.
    wall[0] = time.time() - DAY
    with _outbox(tmp_path / "outbox.sqlite", wall, max_age=3600) as outbox:
        _store_for(outbox, 1.5)
        assert outbox.stats()["drops"]["total"] == 0


def test_max_age_still_works_after_the_clock_went_back(tmp_path: Path) -> None:
    wall = [time.time()]
    with _outbox(tmp_path / "outbox.sqlite", wall, max_age=2) as outbox:
        old = [outbox.store(fields())["seq"] for _ in range(10)]
        wall[0] -= DAY  # the wall clock says these reports were stored tomorrow
        _store_for(outbox, 3.5)  # really 3.5 s later: the first ten are past max_age
        kept = {row.report["seq"] for row in outbox.pending("a", 10_000)}
        stats = outbox.stats()
    assert not kept & set(old)
    assert stats["drops"]["max_age"] >= len(old)


def test_the_first_setting_of_an_unset_clock_is_not_a_step(tmp_path: Path) -> None:
    # A unit without RTC boots in 1970: its first reports have no known age and are kept.
    # Once NTP sets the clock, new reports age normally.
    wall = [1000.0]
    with _outbox(tmp_path / "outbox.sqlite", wall, max_age=2) as outbox:
        unset = [outbox.store(fields())["seq"] for _ in range(5)]
        wall[0] = time.time()
        aged = [outbox.store(fields())["seq"] for _ in range(5)]
        _store_for(outbox, 3.5)
        kept = {row.report["seq"] for row in outbox.pending("a", 10_000)}
    assert set(unset) <= kept
    assert not set(aged) & kept
