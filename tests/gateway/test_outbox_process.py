"""The outbox across processes: SIGKILL of a storing process, stats read by another process
while the service writes, and a disk that runs full (a file size limit, and a real full
tmpfs when unprivileged mounts are allowed)."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.outbox.stats import read_stats
from tests.gateway.outbox_helpers import NODE, open_outbox

ROOT = Path(__file__).resolve().parents[2]
CHILD = [sys.executable, "-m", "tests.gateway.outbox_child"]


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def spawn(children: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [*CHILD, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children.append(proc)
    return proc


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"child ended early (rc {proc.returncode}): {err[-2000:]}")
    return line.strip()


def test_every_returned_store_survives_sigkill_and_seq_has_no_holes(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    path, state = tmp_path / "outbox.sqlite", tmp_path / "state"
    rng = random.Random(20261127)
    returned: dict[int, set[int]] = {}
    boots = []
    for trial in range(12):
        proc = spawn(children, "store", str(path), str(state), "0")
        # Kill while it opens, before its first store, or after a random number of stores
        # (the child keeps storing meanwhile, so the kill lands anywhere in its loop).
        stage = trial % 4
        lines = [read_line(proc)]
        boots.append(int(lines[0].split()[1]))
        if stage >= 1:
            lines.append(read_line(proc))
            assert lines[-1] == "open"
        if stage >= 2:
            lines.extend(read_line(proc) for _ in range(rng.randrange(1, 150)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        lines.extend(out.splitlines())  # what it printed before it died
        for line in lines:
            if line.startswith("stored "):
                _, b, seq = line.split()
                returned.setdefault(int(b), set()).add(int(seq))
    assert boots == sorted(set(boots)), "every start took a new boot number"
    assert sum(len(s) for s in returned.values()) > 100
    with open_outbox(path, boot=boots[-1] + 1) as outbox:
        rows = outbox.pending("a", 1_000_000)
    found: dict[int, list[int]] = {}
    for row in rows:
        assert row.report["id"] == f"{NODE}-{row.report['boot']}-{row.report['seq']}"
        found.setdefault(row.report["boot"], []).append(row.report["seq"])
    for boot, seqs in returned.items():
        assert seqs <= set(found.get(boot, [])), f"boot {boot}: a returned store was lost"
    for boot, seqs in found.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"boot {boot}: hole in seq"


SENSOR = """[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/serial/by-id/usb-FTDI_digitizer-if00-port0"
baudrate = 115200
sample_rate = 500
"""


def write_config(tmp_path: Path, outbox: Path) -> Path:
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[node]\nid = "{NODE}"\nsite = "sector-12"\nstate_dir = "state"\n\n'
        f'[outbox]\npath = "{outbox}"\nmax_bytes = "32MiB"\n\n{SENSOR}'
    )
    return config


def stats_cli(config: Path) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "outbox", "stats", "-c", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode, json.loads(proc.stdout) if proc.returncode == 0 else {}, proc.stderr


def test_stats_from_another_process_while_the_service_stores(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "outbox.sqlite"
    config = write_config(tmp_path, path)
    code, stats, err = stats_cli(config)
    assert code == 0, err
    assert stats["exists"] is False and stats["depth"] == 0  # no outbox yet: empty, not created
    assert not path.exists()
    proc = spawn(children, "store", str(path), str(tmp_path / "state"), "0")
    read_line(proc), read_line(proc)
    depths = []
    for _ in range(3):
        seen = int(read_line(proc).split()[2])
        code, stats, err = stats_cli(config)
        assert code == 0, err
        assert stats["last_stored"]["seq"] >= seen
        assert stats["depth"] >= seen
        assert stats["uplinks"]["a"]["pending"] == stats["depth"]
        assert stats["uplinks"]["a"]["cursor"] == 1
        assert stats["limits"]["max_bytes"] == 32 * 1024**2
        depths.append(stats["depth"])
        # The service went on storing while the stats were read.
        for _ in range(20):
            read_line(proc)
    assert depths == sorted(depths) and depths[-1] > depths[0]
    proc.kill()
    proc.communicate(timeout=30)
    # Read-only also after a crash, with the log still beside the file.
    assert read_stats(path, {})["depth"] >= depths[-1]


def test_stats_cli_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[node]\nid = "n1"\nsite = "s1"\n\n[outbox]\nmax_bytes = "huge"\n\n{SENSOR}')
    code, _, err = stats_cli(config)
    assert code == 2 and "outbox.max_bytes" in err and "Traceback" not in err
    code, _, err = stats_cli(tmp_path / "missing.toml")
    assert code == 2 and "cannot read config" in err


def test_file_size_limit_fails_stores_cleanly_and_keeps_what_was_stored(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    # RLIMIT_FSIZE needs no privileges: writes past 1.3 MB fail as a full disk would for
    # the database. (A per-file limit cannot be relieved by the ballast, so once the log is
    # full too, stores fail; what matters is how.)
    path = tmp_path / "outbox.sqlite"
    proc = spawn(children, "fsize", str(path), str(1_300_000), "5000")
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.splitlines()[-1])
    assert result["check"] == "ok"
    returned, kept = result["returned"], result["kept"]
    assert len(returned) > 1500
    assert returned == list(range(1, len(returned) + 1)), "failed stores used no seq"
    # Every store that returned is in the file, unless dropped and counted.
    lost = set(returned) - set(kept)
    assert len(lost) == result["drops"]["total"]
    assert kept == sorted(kept)
    assert "Traceback" not in err
    # Without the limit, the same file works again and still holds everything kept.
    with open_outbox(path, boot=2) as outbox:
        outbox.store({**outbox.pending("a", 1)[0].report})
        assert outbox.stats()["depth"] == len(kept) + 1


def _unshare() -> str | None:
    tool = shutil.which("unshare")
    if tool is None:
        return None
    probe = subprocess.run(
        [tool, "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt || exit 1"],
        capture_output=True,
        check=False,
        timeout=30,
    )
    return tool if probe.returncode == 0 else None


def test_really_full_disk_drops_old_reports_and_keeps_storing(
    tmp_path: Path, children: list[subprocess.Popen[str]]
) -> None:
    tool = _unshare()
    if tool is None:
        pytest.skip("no unprivileged mount namespace here (unshare -rm): tested with RLIMIT_FSIZE")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    proc = subprocess.Popen(
        [tool, "-rm", *CHILD, "tmpfs", str(mountpoint), "24m", "8000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(proc)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.splitlines()[-1])
    assert "ENOSPC" in err or "full" in err
    assert result["check"] == "ok"
    assert result["failures"] == 0, "a full disk must not refuse new reports"
    assert result["returned"] == list(range(1, 8001))
    kept = result["kept"]
    # The newest are kept, without holes, in the space the outbox had when the disk ran
    # full (1000 reports were stored before); the oldest were dropped and counted.
    assert kept == list(range(8001 - len(kept), 8001))
    assert len(kept) > 500
    assert result["drops"]["total"] == 8000 - len(kept) > 0
    assert result["drops"]["disk_full"] > 0
    assert result["ballast"] is False  # it was given up to make room
