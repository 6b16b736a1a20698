"""Health facts from real files: thermal zones, /proc, the state directory, the clock."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gateway.clock import FLOOR_S as NOT_BEFORE
from gateway.clock import kernel_clock_synced
from gateway.health.system import SystemInfo

EXPECTED_KEYS = {
    "pid",
    "uptime_s",
    "cpu_percent",
    "cpu_seconds",
    "rss_bytes",
    "rss_peak_bytes",
    "disk_free_bytes",
    "disk_total_bytes",
    "soc_temp_c",
    "thermal_zones",
    "clock_synced",
    "clock_source",
    "clock_plausible",
    "time",
    "load_avg",
}


def make_zone(root: Path, name: str, type_: str | None, temp: str | None) -> None:
    zone = root / name
    zone.mkdir(parents=True)
    if type_ is not None:
        (zone / "type").write_text(type_ + "\n")
    if temp is not None:
        (zone / "temp").write_text(temp + "\n")


def test_thermal_zones_of_a_pi(tmp_path: Path) -> None:
    thermal = tmp_path / "thermal"
    make_zone(thermal, "thermal_zone10", "acpitz", "30000")
    make_zone(thermal, "thermal_zone2", "gpu-thermal", "41250")
    make_zone(thermal, "thermal_zone0", "cpu-thermal", "48312")
    make_zone(thermal, "thermal_zone3", "broken", "N/A")  # unreadable value: skipped
    make_zone(thermal, "thermal_zone4", None, None)  # no temp file at all: skipped
    (thermal / "cooling_device0").mkdir()
    info = SystemInfo(tmp_path, thermal_root=thermal)

    assert info.temperatures() == [
        {"zone": "thermal_zone0", "type": "cpu-thermal", "celsius": 48.3},
        {"zone": "thermal_zone2", "type": "gpu-thermal", "celsius": 41.2},
        {"zone": "thermal_zone10", "type": "acpitz", "celsius": 30.0},
    ]
    assert info.snapshot()["soc_temp_c"] == 48.3


def test_soc_zone_is_found_by_type_not_position(tmp_path: Path) -> None:
    thermal = tmp_path / "thermal"
    make_zone(thermal, "thermal_zone0", "acpitz", "27800")
    make_zone(thermal, "thermal_zone1", "x86_pkg_temp", "-5000")  # a cold start outdoors
    snap = SystemInfo(tmp_path, thermal_root=thermal).snapshot()
    assert snap["soc_temp_c"] == -5.0


def test_a_unit_without_thermal_zones_reports_null(tmp_path: Path) -> None:
    snap = SystemInfo(tmp_path, thermal_root=tmp_path / "no-such-dir").snapshot()
    assert snap["soc_temp_c"] is None
    assert snap["thermal_zones"] == []


def test_snapshot_is_plain_json_with_every_field(tmp_path: Path) -> None:
    snap = SystemInfo(tmp_path).snapshot()
    assert set(snap) == EXPECTED_KEYS
    assert json.loads(json.dumps(snap)) == snap
    assert snap["pid"] == os.getpid()
    assert snap["rss_bytes"] > 10 * 1024 * 1024  # a Python with pydantic loaded
    assert snap["rss_peak_bytes"] >= snap["rss_bytes"]
    assert 0 < snap["disk_free_bytes"] <= snap["disk_total_bytes"]
    assert snap["load_avg"] is not None and len(snap["load_avg"]) == 3
    # This test process started before the test ran.
    assert snap["uptime_s"] > 0


def test_cpu_share_is_measured_since_the_previous_call(tmp_path: Path) -> None:
    info = SystemInfo(tmp_path)
    info.cpu()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass  # burn 0.3 s of CPU
    busy = info.cpu()
    assert busy["cpu_percent"] > 20  # a busy loop on a shared 2-core machine
    time.sleep(0.3)  # measuring idleness, not waiting for anything
    idle = info.cpu()
    assert idle["cpu_percent"] < busy["cpu_percent"] / 2
    assert idle["cpu_seconds"] >= busy["cpu_seconds"]


def test_memory_from_a_status_file(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "status").write_text(
        "Name:\tugs-gateway\nVmPeak:\t  300000 kB\nVmHWM:\t   90112 kB\nVmRSS:\t   81920 kB\n"
    )
    info = SystemInfo(tmp_path, proc_self=proc)
    assert info.memory() == {"rss_bytes": 81920 * 1024, "rss_peak_bytes": 90112 * 1024}
    (proc / "status").write_text("VmRSS:\tlots\n")
    assert info.memory() == {"rss_bytes": None, "rss_peak_bytes": None}


def test_process_uptime_parses_a_comm_with_spaces(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    boot_now = time.clock_gettime(time.CLOCK_BOOTTIME)
    ticks = os.sysconf("SC_CLK_TCK")
    start = int((boot_now - 120) * ticks)
    fields = ["S"] + ["0"] * 18 + [str(start)] + ["0"] * 10
    (proc / "stat").write_text(f"4242 (ugs gw) x) {' '.join(fields)}\n")
    uptime = SystemInfo(tmp_path, proc_self=proc).process_uptime()
    assert 119 <= uptime <= 125


def test_missing_state_dir_gives_nulls_not_errors(tmp_path: Path) -> None:
    info = SystemInfo(tmp_path / "not-created-yet")
    assert info.disk() == {"disk_free_bytes": None, "disk_total_bytes": None}


@pytest.mark.parametrize(
    ("kernel", "flag", "expected_synced", "expected_source"),
    [
        (True, False, True, "kernel"),
        (False, True, False, "kernel"),  # the kernel's word wins over a stale flag
        (None, True, True, "timesyncd"),  # adjtimex refused: timesyncd's flag
        (None, False, None, None),  # nobody knows: say so
    ],
)
def test_clock_sync_sources(
    tmp_path: Path,
    kernel: bool | None,
    flag: bool,
    expected_synced: bool | None,
    expected_source: str | None,
) -> None:
    flag_file = tmp_path / "synchronized"
    if flag:
        flag_file.touch()
    info = SystemInfo(tmp_path, timesync_flag=flag_file, kernel_clock=lambda: kernel)
    clock = info.clock()
    assert clock["clock_synced"] is expected_synced
    assert clock["clock_source"] == expected_source
    assert clock["clock_plausible"] is True


def test_a_clock_in_1970_is_never_synced(tmp_path: Path) -> None:
    flag_file = tmp_path / "synchronized"
    flag_file.touch()
    info = SystemInfo(
        tmp_path,
        timesync_flag=flag_file,
        kernel_clock=lambda: True,
        wall_clock=lambda: 42.0,  # a unit without an RTC, just booted
    )
    clock = info.clock()
    assert clock["clock_synced"] is False
    assert clock["clock_plausible"] is False
    assert clock["time"] == "1970-01-01T00:00:42+00:00"


def test_release_year_floor() -> None:
    assert time.gmtime(NOT_BEFORE).tm_year >= 2026
    assert time.gmtime(NOT_BEFORE).tm_yday == 1


def test_the_kernel_answers_a_read_only_query() -> None:
    # Whatever this machine's clock state, reading it (modes = 0) needs no time daemon.
    assert kernel_clock_synced() in (True, False)
