"""Benchmarks of the gateway, collected by ``ugs-gateway bench``.

Each entry of ``BENCHMARKS`` is a function returning a dict of figures. Runs in a temporary
directory (``$UGS_BENCH_DIR`` if set, so a field unit can measure its SD card rather than a
RAM-backed /tmp); the filesystem used is reported with the figures.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STORE_SECONDS = 6.0  # stores and reference fsyncs together
BLOCK = 250  # stores, then as many reference fsyncs: both see the same disk weather
WARMUP = 300


def _bench_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ugs-bench-", dir=os.environ.get("UGS_BENCH_DIR"))


def filesystem_of(path: Path) -> str:
    """The mount's filesystem type (from /proc/mounts), or "unknown"."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


class _RawFsync:
    """Appends of 100 bytes, each followed by fsync: the disk's floor for a durable commit."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def run(self, n: int) -> float:
        record = b"x" * 100
        started = time.perf_counter()
        for _ in range(n):
            os.write(self.fd, record)
            os.fsync(self.fd)
        return time.perf_counter() - started

    def close(self) -> None:
        os.close(self.fd)


def outbox_store() -> dict[str, Any]:
    """Durable store rate: one report per SQLite commit (WAL, synchronous=FULL), two uplinks."""
    from gateway.detection_report import detection_fields
    from gateway.outbox.config import OutboxConfig
    from gateway.outbox.store import Outbox

    def accepts(report: dict[str, Any]) -> bool:
        return True

    with _bench_dir() as tmp:
        directory = Path(tmp)
        outbox = Outbox(
            directory / "outbox.sqlite",
            OutboxConfig(),
            node="ugs-bench",
            site="bench",
            boot=1,
            uplinks={"agency-a": accepts, "agency-b": accepts},
        )
        raw = _RawFsync(directory / "fsync.bin")
        try:
            now = time.time()
            fields = detection_fields(
                "footstep",
                0.93,
                now,
                now + 6.5,
                ["geo1", "pir1"],
                features={"cadence_hz": 1.8, "peak": 2.1e-3},
                loc={"lat": 49.0, "lon": -122.7},
            )
            for _ in range(WARMUP):
                outbox.store(fields)
            latencies: list[float] = []
            fsync_time = 0.0
            deadline = time.perf_counter() + STORE_SECONDS
            while time.perf_counter() < deadline:
                for _ in range(BLOCK):
                    t = time.perf_counter()
                    outbox.store(fields)
                    latencies.append(time.perf_counter() - t)
                fsync_time += raw.run(BLOCK)
        finally:
            raw.close()
            outbox.close()
        store_time = sum(latencies)
        rate = len(latencies) / store_time
        fsync_rate = len(latencies) / fsync_time
        latencies.sort()
        return {
            "outbox_store_per_s": round(rate),
            # 1/median: what the disk gives when other programs leave it alone.
            "outbox_store_per_s_median": round(1 / statistics.median(latencies)),
            "outbox_store_p50_ms": round(statistics.median(latencies) * 1000, 3),
            "outbox_store_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
            "outbox_store_n": len(latencies),
            "outbox_raw_fsync_per_s": round(fsync_rate),
            "outbox_store_per_fsync": round(rate / fsync_rate, 3),
            "outbox_bench_fs": filesystem_of(directory.resolve()),
        }


def drain_per_s() -> dict[str, Any]:
    """Backlog drain of 100 000 reports through an uplink, with the RSS trace."""
    from gateway.bench.uplink_drain import drain

    return drain()


BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "outbox_store_per_s": outbox_store,
    "drain_per_s": drain_per_s,
}
