"""A small gateway for fault tests: the real boot counter, Outbox and Uplinks, fake detections.

    python -m tests.gateway.producer --state-dir DIR --uplink NAME=HOST:PORT [--uplink ...]
        [--rate 200] [--count N] [--drain] [--keepalive 2] [--max-bytes N]

Prints ``boot N`` once, then the id of every report as soon as ``store()`` has returned (so
a test knows which reports were durable when it killed the process), flushed per line.
With ``--drain`` it waits, after its ``--count`` reports, until every uplink has had a
PUBACK for everything pending, stops the uplinks cleanly and prints ``drained``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gateway.boot import next_boot
from gateway.detection_report import detection_fields
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from gateway.uplinks.config import UplinkConfig
from gateway.uplinks.mqtt import MqttUplink

NODE, SITE = "ugs-t1", "test-site"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--uplink", action="append", default=[], metavar="NAME=HOST:PORT")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--count", type=int, default=10**9)
    parser.add_argument("--drain", action="store_true")
    parser.add_argument("--keepalive", type=int, default=2)
    parser.add_argument("--max-bytes", type=int, default=64 * 1024**2)
    args = parser.parse_args()

    configs = []
    for spec in args.uplink:
        name, _, where = spec.partition("=")
        host, _, port = where.rpartition(":")
        configs.append(
            UplinkConfig(
                name=name,
                host=host,
                port=int(port),
                tls=False,  # type: ignore[arg-type]
                keepalive=args.keepalive,
                connect_timeout=2.0,
                reconnect_min=0.1,
                reconnect_max=0.5,
                drain_rate=0,
            )
        )
    boot = next_boot(args.state_dir)
    print(f"boot {boot}", flush=True)
    outbox = Outbox(
        args.state_dir / "outbox.sqlite",
        OutboxConfig(max_bytes=args.max_bytes, min_free_bytes=0),
        node=NODE,
        site=SITE,
        boot=boot,
        uplinks={c.name: c.share.accepts for c in configs},
    )
    uplinks = [MqttUplink(c, outbox, node=NODE, site=SITE) for c in configs]
    for uplink in uplinks:
        uplink.start()
    period = 1.0 / args.rate
    next_at = time.monotonic()
    for n in range(args.count):
        now = time.time()
        classes = ("footstep", "vehicle", "unknown")
        report = outbox.store(
            detection_fields(classes[n % 3], 0.5 + (n % 50) / 100, now - 1.0, now, ["geo1"])
        )
        sys.stdout.write(report["id"] + "\n")
        sys.stdout.flush()
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the producer, not waiting for a result
    if args.drain:
        deadline = time.monotonic() + 120
        while any(outbox.pending_count(u.name) for u in uplinks):
            if time.monotonic() > deadline:
                print("drain timed out", file=sys.stderr)
                return 1
            time.sleep(0.05)  # polling the outbox's own count
        for uplink in uplinks:
            uplink.stop()
        outbox.close()
        print("drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
