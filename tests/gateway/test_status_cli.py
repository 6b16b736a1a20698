"""`ugs-gateway status -c CONFIG`: the unit's whole status for a technician logged in to it,
read from the file the running service keeps in its state dir, with no broker at all."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.health.status_file import StatusFile, status_path
from tests.gateway.service_rig import STARTUP_S, Bench
from tests.notify import Collector


def status(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "status", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for_status(
    config: Path, ready: Callable[[subprocess.CompletedProcess[str]], bool], what: str
) -> subprocess.CompletedProcess[str]:
    """Ask until the answer shows ``what`` (the service rewrites the file every 2 s here)."""
    deadline = time.monotonic() + 30
    while True:
        answer = status(config)
        if ready(answer):
            return answer
        assert time.monotonic() < deadline, f"no status showing {what}: {answer}"
        time.sleep(0.5)


def test_the_status_shows_the_running_unit_a_sensor_lost_and_the_stop(
    tmp_path: Path, notify: Collector
) -> None:
    # No uplink at all: the technician's view must not depend on a broker.
    bench = Bench(tmp_path, node="stat-0001", broker=None, kinds=("seismic", "pir"))
    proc = bench.run_gateway(NOTIFY_SOCKET=notify.address)
    try:
        notify.wait_for("READY=1", timeout=STARTUP_S)
        ok = wait_for_status(
            bench.config,
            lambda a: a.returncode == 0 and "seismic       ok, " in a.stdout,
            "the unit and its geophone ok",
        )
        lines = ok.stdout.splitlines()
        assert lines[0].startswith("stat-0001 at bench: ok, as of "), ok.stdout
        geo = next(line for line in lines if line.strip().startswith("geo1"))
        assert "seismic" in geo and " samples, last 0 s ago" in geo, geo
        assert "uplinks: none configured" in ok.stdout

        bench.station.faults("pir1").unplug()
        lost = wait_for_status(bench.config, lambda a: "problems" in a.stdout, "the PIR lost")
        assert lost.returncode == 1
        assert lost.stdout.splitlines()[0].startswith("stat-0001 at bench: degraded, as of ")
        problems = lost.stdout.split("\nproblems\n")[1]
        assert problems.lstrip().startswith("sensor pir1: "), lost.stdout

        whole = json.loads(status(bench.config, "--json").stdout)
        assert whole["state"] == "degraded" and whole["age_s"] < 10
        assert set(whole["sensors"]) == {"geo1", "pir1"}

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        stopped = status(bench.config)
        assert stopped.returncode == 1
        assert stopped.stdout.startswith("stat-0001 at bench: stopped "), stopped.stdout
    finally:
        bench.close()


def write_config(tmp_path: Path) -> Path:
    """The config a unit is installed with, its state dir here."""
    example = (Path(__file__).parents[2] / "systemd" / "config.example.toml").read_text()
    config = tmp_path / "gateway.toml"
    config.write_text(
        re.sub(r"(?m)^state_dir = .*$", f'state_dir = "{tmp_path / "state"}"', example, count=1)
    )
    return config


def a_status(state: str = "ok") -> dict[str, object]:
    return {
        "node": "ugs-0007",
        "site": "sector-12",
        "state": state,
        "problems": {},
        "warnings": [],
        "sensors": {"geo1": {"kind": "seismic", "state": "ok", "rate_hz": 500.0}},
    }


def test_no_status_a_stale_one_and_a_damaged_one_are_said_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    path = status_path(tmp_path / "state")

    never = status(config)
    assert never.returncode == 1 and not never.stdout
    assert f"no status in {path}: the service has not run" in never.stderr

    path.parent.mkdir()
    StatusFile(path).write(a_status())
    assert status(config).returncode == 0

    # The service writes every 30 s by default: ten minutes without a write is news.
    os.utime(path, (time.time() - 600, time.time() - 600))
    stale = status(config)
    assert stale.returncode == 1
    assert "NOT UPDATED for 10 min: the service is not running or is stuck" in stale.stdout

    # A service that runs with a longer interval says so in the file: the config beside it,
    # edited since and not yet reloaded, does not make its status look stale.
    StatusFile(path).write(a_status(), every_s=900.0)
    os.utime(path, (time.time() - 600, time.time() - 600))
    assert status(config).returncode == 0

    wrong_type = '{"sensors": {"geo1": {"state": "ok", "rate_hz": "fast"}}}'
    for text in ('{"node": "ugs-0007", "sta', '{"sensors": {"geo1": "ok"}}', "[1]", wrong_type):
        path.write_text(text)  # cut off, or not what the service writes
        damaged = status(config)
        assert damaged.returncode == 1 and "not a status the service wrote" in damaged.stderr
        assert "Traceback" not in damaged.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text("[node\n")
    assert status(broken).returncode == 2


def test_a_status_that_cannot_be_written_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = status_path(tmp_path / "gone")  # the state dir removed under the running unit
    writer = StatusFile(path)
    with caplog.at_level(logging.INFO, logger="gateway.health.status_file"):
        for _ in range(3):
            writer.write(a_status())
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "cannot write" in caplog.records[0].getMessage()
        path.parent.mkdir()
        writer.write(a_status("degraded"))
    assert json.loads(path.read_text())["state"] == "degraded"
    assert "written again" in caplog.records[-1].getMessage()
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]  # no temporary left
