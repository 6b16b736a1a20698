"""Facts about the process and the unit it runs on, for the health report.

``SystemInfo(state_dir).snapshot()`` returns plain JSON types and is cheap enough to call
every few seconds: it reads a handful of small files under /proc and /sys and makes two
system calls. Anything a unit does not have (no thermal zones, no /proc) is null, never an
error: a health report that fails on a missing sensor of its own is no health report.

The clock's verdict comes from :mod:`gateway.clock`, which owns the rule for every user.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gateway.clock import FLOOR_S, TIMESYNC_FLAG, judge, kernel_clock_synced

log = logging.getLogger(__name__)

THERMAL_ROOT = Path("/sys/class/thermal")
PROC = Path("/proc")
PROC_SELF = PROC / "self"

# Thermal zone types that name the SoC or CPU (Raspberry Pi: cpu-thermal; x86: x86_pkg_temp).
_SOC_ZONE_HINTS = ("cpu", "soc", "x86_pkg", "package")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


class SystemInfo:
    """Collects the health facts; one instance per service (it remembers the last CPU times).

    Paths are constructor arguments so tests (and unusual units) can point them elsewhere.
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        thermal_root: Path | str = THERMAL_ROOT,
        timesync_flag: Path | str = TIMESYNC_FLAG,
        proc_self: Path | str = PROC_SELF,
        not_before: float = FLOOR_S,
        kernel_clock: Callable[[], bool | None] = kernel_clock_synced,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.thermal_root = Path(thermal_root)
        self.timesync_flag = Path(timesync_flag)
        self.proc_self = Path(proc_self)
        self.not_before = not_before
        self._kernel_clock = kernel_clock
        self._wall_clock = wall_clock
        self._clk_tck = os.sysconf("SC_CLK_TCK")
        self._created = time.monotonic()
        self._last_cpu = self._cpu_seconds()
        self._last_wall = self._created

    # --- process -----------------------------------------------------------------------

    @staticmethod
    def _cpu_seconds() -> float:
        times = os.times()
        return times.user + times.system

    def cpu(self) -> dict[str, float]:
        """CPU used by this process since the previous call, as % of one core."""
        now, used = time.monotonic(), self._cpu_seconds()
        elapsed = now - self._last_wall
        share = 100.0 * (used - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        self._last_cpu, self._last_wall = used, now
        return {"cpu_percent": round(share, 2), "cpu_seconds": round(used, 3)}

    def memory(self) -> dict[str, int | None]:
        """Resident memory now and at its peak, in bytes (VmRSS, VmHWM)."""
        found = memory_bytes(self.proc_self / "status", ("VmRSS", "VmHWM"))
        return {"rss_bytes": found["VmRSS"], "rss_peak_bytes": found["VmHWM"]}

    def process_uptime(self) -> float:
        """Seconds since this process started (from its start time in /proc, else ours)."""
        stat = _read_text(self.proc_self / "stat")
        if stat:
            # Field 22 (starttime, clock ticks since boot) counts after the ")" of comm,
            # which may itself hold spaces.
            rest = stat.rpartition(")")[2].split()
            try:
                started = int(rest[19]) / self._clk_tck
                return round(max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started), 1)
            except (IndexError, ValueError):
                pass
        return round(time.monotonic() - self._created, 1)

    # --- unit --------------------------------------------------------------------------

    def disk(self) -> dict[str, int | None]:
        """Free and total bytes on the file system holding the state directory."""
        try:
            usage = shutil.disk_usage(self.state_dir)
        except OSError:
            return {"disk_free_bytes": None, "disk_total_bytes": None}
        return {"disk_free_bytes": usage.free, "disk_total_bytes": usage.total}

    def temperatures(self) -> list[dict[str, Any]]:
        """Every readable thermal zone: name, type and °C."""
        zones = []
        try:
            entries = sorted(self.thermal_root.glob("thermal_zone*"), key=_zone_number)
        except OSError:
            return []
        for zone in entries:
            raw = _read_text(zone / "temp")
            try:
                millideg = int(raw) if raw is not None else None
            except ValueError:
                millideg = None
            if millideg is None:
                continue
            zones.append(
                {
                    "zone": zone.name,
                    "type": _read_text(zone / "type") or zone.name,
                    "celsius": round(millideg / 1000.0, 1),
                }
            )
        return zones

    def clock(self) -> dict[str, Any]:
        """Whether the wall clock can be trusted for timestamps, and who said so."""
        now = self._wall_clock()
        verdict = judge(now, self._kernel_clock(), self.timesync_flag.exists, self.not_before)
        return {
            "clock_synced": verdict.synced,
            "clock_source": verdict.source,
            "clock_plausible": verdict.plausible,
            "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds"),
        }

    @staticmethod
    def load_average() -> list[float] | None:
        try:
            return [round(v, 2) for v in os.getloadavg()]
        except OSError:
            return None

    def snapshot(self) -> dict[str, Any]:
        """Everything above in one flat dict of JSON types."""
        temps = self.temperatures()
        soc = _pick_soc(temps)
        return {
            "pid": os.getpid(),
            "uptime_s": self.process_uptime(),
            **self.cpu(),
            **self.memory(),
            **self.disk(),
            "soc_temp_c": soc["celsius"] if soc else None,
            "thermal_zones": temps,
            **self.clock(),
            "load_avg": self.load_average(),
        }


def memory_bytes(status: Path | int | str, keys: Sequence[str]) -> dict[str, int | None]:
    """Memory figures (``VmRSS``, ``VmHWM``, ``RssAnon`` ...) of a process in bytes, from its
    ``/proc/PID/status`` (a pid, ``"self"`` or the file's path); None for what is missing."""
    path = status if isinstance(status, Path) else PROC / str(status) / "status"
    found: dict[str, int | None] = dict.fromkeys(keys)
    for line in (_read_text(path) or "").splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if key in found and len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            found[key] = int(parts[0]) * 1024
    return found


def _zone_number(path: Path) -> tuple[int, str]:
    digits = path.name.removeprefix("thermal_zone")
    return (int(digits), "") if digits.isdigit() else (1 << 30, path.name)


def _pick_soc(zones: list[dict[str, Any]]) -> dict[str, Any] | None:
    for zone in zones:
        if any(hint in str(zone["type"]).lower() for hint in _SOC_ZONE_HINTS):
            return zone
    return zones[0] if zones else None
