"""The systemd unit: `systemd-analyze verify` is silent and the exposure stays at 2.0 or below.

systemd is not PID 1 here, so the unit cannot be started; these are the checks systemd
itself offers offline, plus the settings the service and install.sh rely on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "ugs-gateway.service"
EXEC_START = "/opt/ugs-gateway/venv/bin/ugs-gateway run -c /etc/ugs-gateway/gateway.toml"
MAX_EXPOSURE = 2.0


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze not found: apt-get install systemd (make test does)")
    return path


def settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of every assignment, in order, comments and sections skipped."""
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


def values(key: str) -> list[str]:
    return [v for k, v in settings(UNIT.read_text()) if k == key]


def verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # verify reports an ExecStart binary that does not exist; /opt/ugs-gateway is not
    # installed here, so check a copy whose ExecStart is this checkout's own console script
    # (same arguments). Everything else is checked as written.
    binary = Path(sys.prefix) / "bin" / "ugs-gateway"
    assert binary.exists(), f"{binary} missing: pip install -e . first"
    copy = tmp_path / "ugs-gateway.service"
    copy.write_text(unit_text.replace("/opt/ugs-gateway/venv/bin/ugs-gateway", str(binary)))
    return subprocess.run(
        [systemd_analyze(), "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_verify_prints_nothing(tmp_path: Path) -> None:
    proc = verify(UNIT.read_text(), tmp_path)
    assert proc.stdout + proc.stderr == ""
    assert proc.returncode == 0


def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    # verify only warns on unknown keys and bad values (exit 0): the check above relies on
    # its output, so make sure a typo does produce output.
    broken = UNIT.read_text().replace("WatchdogSec=30s", "WatchdogSecs=30s")
    proc = verify(broken, tmp_path)
    assert "WatchdogSecs" in proc.stderr


def test_exposure_is_at_most_two(tmp_path: Path) -> None:
    proc = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, proc.stdout


def test_service_contract() -> None:
    assert values("Type") == ["notify"]
    assert values("NotifyAccess") == ["main"]
    assert values("ExecStart") == [EXEC_START]
    assert values("ExecReload") == ["/bin/kill -HUP $MAINPID"]
    assert values("Restart") == ["on-failure"]
    # A bad config (exit 2) is not retried; everything else is, forever.
    assert values("RestartPreventExitStatus") == ["2"]
    assert values("StartLimitIntervalSec") == ["0"]
    watchdog = values("WatchdogSec")
    assert watchdog and watchdog[0].endswith("s")


def test_identity_and_directories() -> None:
    assert values("User") == ["ugs-gateway"]
    assert values("Group") == ["ugs-gateway"]
    assert values("SupplementaryGroups") == ["dialout"]
    assert values("DynamicUser") == []
    assert values("StateDirectory") == ["ugs-gateway"]
    assert values("CacheDirectory") == ["ugs-gateway"]
    assert values("ConfigurationDirectory") == ["ugs-gateway"]
    # Numba cannot import cached kernels without a writable cache: it must be inside the
    # CacheDirectory=, which is writable under ProtectSystem=strict.
    assert values("Environment") == ["NUMBA_CACHE_DIR=/var/cache/ugs-gateway/numba"]
    assert values("ProtectSystem") == ["strict"]
    assert values("UMask") == ["0077"]


def test_resources_are_bounded_and_nothing_listens() -> None:
    assert values("SocketBindDeny") == ["any"]
    (memory,) = values("MemoryMax")
    assert memory.endswith("M") and 512 <= int(memory[:-1]) <= 1024
    (tasks,) = values("TasksMax")
    assert 32 <= int(tasks) <= 256


def test_hardening_leaves_what_the_service_needs() -> None:
    # Numba's JIT writes machine code and then executes it.
    assert values("MemoryDenyWriteExecute") == []
    assert values("DevicePolicy") == ["closed"]
    allowed = {v.split()[0] for v in values("DeviceAllow")}
    assert {"char-ttyUSB", "char-ttyACM", "char-ttyAMA", "char-ttyS"} <= allowed
    assert all(v.endswith(" rw") for v in values("DeviceAllow"))
    assert values("RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6"]
    assert values("CapabilityBoundingSet") == [""]
    assert values("PrivateDevices") == []  # it would hide the serial ports
    assert values("ProcSubset") == []  # it would hide /proc/loadavg and /proc/cpuinfo
    filters = values("SystemCallFilter")
    assert filters[0] == "@system-service"
    # adjtimex (reading the clock state) is re-allowed after the deny list removed it.
    assert filters.index("adjtimex") > filters.index("~@privileged @resources")


def test_unit_paths_match_the_install_script() -> None:
    script = (ROOT / "systemd" / "install.sh").read_text()
    for path in ("/opt/$SERVICE", "/etc/$SERVICE", "/var/lib/$SERVICE", "/var/cache/$SERVICE"):
        assert path in script
    assert 'NUMBA_CACHE_REAL="$CACHE_DIR_REAL/numba"' in script
    assert "SERVICE=ugs-gateway" in script


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to set up the identities")
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_private_users_keeps_dialout_device_access(tmp_path: Path) -> None:
    """PrivateUsers=yes leaves the dialout group unmapped in the service's namespace; the
    kernel still checks the process's real groups, so a root:dialout 0660 port opens."""
    leader, port_fd = os.openpty()
    port = os.ttyname(port_fd)
    try:
        dialout = 20  # Debian's dialout gid, as on the field units
        os.chown(port, 0, dialout)
        os.chmod(port, 0o660)
        base = ["setpriv", "--reuid=65534", "--regid=65534"]
        # Open read-write like a driver does (the shell's <> redirection).
        in_namespace = ["unshare", "--user", "--", "sh", "-c", f"exec 3<>{port} && echo opened"]

        with_group = subprocess.run(
            [*base, "--groups=20", "--", *in_namespace],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert with_group.stdout.strip() == "opened", with_group.stderr
        without = subprocess.run(
            [*base, "--groups=65534", "--", *in_namespace],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert "Permission denied" in without.stderr
    finally:
        os.close(port_fd)
        os.close(leader)
