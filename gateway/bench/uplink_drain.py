"""Backlog drain benchmark: 100 000 stored reports through one uplink to a local mosquitto.

Registered in :mod:`gateway.bench.outbox` as ``drain_per_s``. The backlog is made first by a child
process (see :func:`_fill`), so that this process's memory starts clean. Then one
:class:`gateway.uplinks.mqtt.MqttUplink` (``drain_rate = 0``: no rate limit, default
``max_inflight``) drains it while a thread samples this process's RSS every 0.1 s: it must
stay flat, since at most one in-flight window of reports is ever in memory (SQLite's page
cache is bounded too).

The broker has no subscriber: the figure is what the gateway can push and have acknowledged.
Bare paho publishing one prepared payload with the same window to the same broker is
measured in the same run (``drain_ref_paho_per_s``): what a plain paho client with its own
loop thread and default socket settings reaches on this machine right now. It is a yardstick
for the machine's speed at the moment, not a ceiling: the uplink avoids some of paho's costs
(see docs/uplinks.md, "Performance").
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

DRAIN_REPORTS = 100_000
REFERENCE_REPORTS = 20_000
DRAIN_TIMEOUT_S = 120.0
RSS_EVERY_S = 0.1
NODE, SITE, UPLINK = "ugs-bench", "bench", "bench"


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process in KiB (0 if unknown)."""
    from gateway.health.system import memory_bytes

    return (memory_bytes(pid, ("VmRSS",))["VmRSS"] or 0) // 1024


def _accept_all(report: dict[str, Any]) -> bool:
    return True


def _fields() -> dict[str, Any]:
    from gateway.detection_report import detection_fields

    now = time.time()
    return detection_fields(
        "footstep", 0.93, now, now + 6.5, ["geo1", "pir1"],
        features={"cadence_hz": 1.8, "peak": 2.1e-3}, loc={"lat": 49.0, "lon": -122.7},
    )  # fmt: skip


SEED_REPORTS = 200  # stored through Outbox.store; the rest are copies made in SQL


def _fill(path: str, count: int | str) -> str:
    """Child process: a backlog of ``count`` reports; returns how it was made.

    The first :data:`SEED_REPORTS` go through ``Outbox.store`` (one fsync each: ~30 s for
    100 000 on an SD card, longer than the whole benchmark should take); the rest are copies
    of the first with their own ``seq`` and ``id``, inserted in one SQLite transaction. If
    the outbox's tables ever change shape, the copy fails and every report is stored through
    the API instead (slow, but still right).
    """
    import sqlite3

    from gateway.outbox.config import OutboxConfig
    from gateway.outbox.store import Outbox

    fields, total = _fields(), int(count)
    config = OutboxConfig(max_bytes=1024**3, min_free_bytes=0)
    with Outbox(Path(path), config, node=NODE, site=SITE, boot=1,
                uplinks={UPLINK: _accept_all}) as outbox:  # fmt: skip
        for _ in range(min(SEED_REPORTS, total)):
            outbox.store(fields)
    if total <= SEED_REPORTS:
        return "api"
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO reports(boot, seq, stored_at, size, body) "
                "SELECT t.boot, n.i, t.stored_at, t.size, "
                "json_set(t.body, '$.seq', n.i, '$.id', ? || n.i) FROM n, "
                "(SELECT * FROM reports ORDER BY row_id LIMIT 1) AS t",
                (SEED_REPORTS + 1, total, f"{NODE}-1-"),
            )
            conn.execute(
                "INSERT INTO deliveries(uplink, row_id) SELECT ?, row_id FROM reports "
                "WHERE row_id NOT IN (SELECT row_id FROM deliveries)",
                (UPLINK,),
            )
        return "api+sql"
    except sqlite3.Error:
        with Outbox(Path(path), config, node=NODE, site=SITE, boot=1,
                    uplinks={UPLINK: _accept_all}) as outbox:  # fmt: skip
            for _ in range(total - SEED_REPORTS):
                outbox.store(fields)
        return "api"


def _make_backlog(target: Path, count: int) -> tuple[float, str]:
    """Fill ``target`` with ``count`` reports; return the seconds it took and how."""
    started = time.perf_counter()
    # A separate interpreter (not multiprocessing, which re-imports whatever is __main__),
    # so that this process's memory starts clean.
    code = "import sys; from gateway.bench.uplink_drain import _fill; print(_fill(*sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(target), str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, done.stdout.strip()


def paho_reference(
    host: str, port: int, payload: bytes, count: int, window: int
) -> tuple[float, float]:
    """Bare paho (its own loop thread, same window and QoS 1, one prepared payload, no
    outbox): (PUBACKed messages per second, process CPU µs per message), the ceiling the
    uplink is compared against."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    done = threading.Event()
    acked = [0]

    def on_publish(client: paho.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        acked[0] += 1
        if acked[0] == count:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="ugs-bench-reference")
    client.on_publish = on_publish
    client.max_inflight_messages_set(window)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            client.publish("ugs/v1/bench/reference/detection", payload, qos=1)
        done.wait(DRAIN_TIMEOUT_S)
        rate = acked[0] / (time.perf_counter() - started)
        return rate, (time.process_time() - cpu) / max(1, acked[0]) * 1e6
    finally:
        client.disconnect()
        client.loop_stop()


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        start = time.perf_counter()
        while not self._done.is_set():
            self.samples.append((time.perf_counter() - start, rss_kib()))
            self._done.wait(RSS_EVERY_S)

    def stop(self) -> list[tuple[float, int]]:
        self._done.set()
        self.join()
        return self.samples


def drain() -> dict[str, Any]:
    """``drain_per_s`` and the RSS trace of draining :data:`DRAIN_REPORTS` reports."""
    from gateway.detection_report import build_report
    from gateway.local_broker import LocalBroker, find_mosquitto
    from gateway.outbox.config import OutboxConfig
    from gateway.outbox.store import Outbox
    from gateway.uplinks.config import UplinkConfig
    from gateway.uplinks.encoding import encode
    from gateway.uplinks.mqtt import MqttUplink

    if find_mosquitto() is None:
        return {"drain_per_s": None, "drain_note": "mosquitto is not installed: not measured"}
    bench_root = os.environ.get("UGS_BENCH_DIR")
    with tempfile.TemporaryDirectory(prefix="ugs-bench-", dir=bench_root) as tmp:
        path = Path(tmp) / "outbox.sqlite"
        fill_s, fill_how = _make_backlog(path, DRAIN_REPORTS)
        with LocalBroker() as broker:
            config = UplinkConfig.model_validate(
                {"name": UPLINK, "host": broker.host, "port": broker.port, "tls": False,
                 "drain_rate": 0}
            )  # fmt: skip
            limits = OutboxConfig(max_bytes=1024**3, min_free_bytes=0)
            outbox = Outbox(path, limits, node=NODE, site=SITE, boot=2,
                            uplinks={UPLINK: _accept_all})  # fmt: skip
            try:
                backlog = outbox.pending_count(UPLINK)
                uplink = MqttUplink(config, outbox, node=NODE, site=SITE)
                sampler = _RssSampler()
                sampler.start()
                started, cpu = time.perf_counter(), time.process_time()
                uplink.start()
                deadline = started + DRAIN_TIMEOUT_S
                # Progress from the uplink's own counter: polling the outbox would compete
                # with the uplink for its lock.
                while uplink.status({})["acked"] < backlog and time.perf_counter() < deadline:
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                cpu_us = (time.process_time() - cpu) / max(1, backlog) * 1e6
                left = outbox.pending_count(UPLINK)
                samples = sampler.stop()
                status = uplink.status()
                uplink.stop()
                broker_rss = rss_kib(broker.pid) if broker.pid else 0
                payload = encode(build_report(_fields(), node=NODE, site=SITE, boot=2, seq=1))
                reference, reference_cpu_us = paho_reference(
                    broker.host, broker.port, payload, REFERENCE_REPORTS, config.max_inflight
                )
            finally:
                outbox.close()
    rss = [kib for _, kib in samples]
    drained = backlog - left
    quarter = max(1, len(rss) // 4)
    return {
        "drain_per_s": round(drained / elapsed) if not left else None,
        "drain_reports": drained,
        "drain_seconds": round(elapsed, 2),
        "drain_complete": left == 0,
        "drain_max_inflight": config.max_inflight,
        "drain_published": status["published"],
        "drain_fill_seconds": round(fill_s, 1),
        "drain_fill": fill_how,
        "drain_cpu_us_per_report": round(cpu_us, 1),
        "drain_ref_paho_per_s": round(reference),
        "drain_ref_paho_cpu_us_per_msg": round(reference_cpu_us, 1),
        "drain_vs_paho": round(drained / elapsed / reference, 3) if reference else None,
        "drain_rss_start_mib": round(rss[0] / 1024, 1),
        "drain_rss_peak_mib": round(max(rss) / 1024, 1),
        "drain_rss_end_mib": round(rss[-1] / 1024, 1),
        "drain_rss_quartiles_mib": [
            round(max(rss[i : i + quarter]) / 1024, 1) for i in range(0, len(rss), quarter)
        ][:4],
        "drain_rss_samples": len(rss),
        "drain_broker_rss_end_mib": round(broker_rss / 1024, 1),
    }
