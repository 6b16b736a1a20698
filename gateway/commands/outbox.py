"""Inspect the durable outbox of a gateway, also while the service is running.

``ugs-gateway outbox stats -c CONFIG`` prints one JSON object:

- ``depth``: reports waiting; ``bytes``: database pages in use (what ``max_bytes`` bounds);
  ``payload_bytes``: their JSON text; ``file_bytes``: the files on disk (with WAL);
  ``free_disk_bytes``; ``oldest_age_s``: age of the oldest waiting report (null when none,
  or when it was stored before the clock was set);
- ``drops``: reports dropped, in total and by reason (``max_bytes``, ``max_age``,
  ``min_free``, ``disk_full``, ``refused``, ``damaged``), counted since the file was created;
- ``uplinks``: per uplink ``pending`` (reports still to be acknowledged), ``cursor`` (row id
  of its oldest pending report, null when caught up), ``delivered``, ``dropped`` (reports
  it lost to the bounds), ``released`` (pending reports let go when it was removed from the
  config), ``last_ack``, and ``configured``;
- ``last_stored``: boot and seq of the newest report; ``unclaimed``: reports kept while no
  uplink was configured; ``limits``: the configured bounds.

The database is opened read-only: the service is not slowed down, and a missing outbox is
reported as empty (``"exists": false``), not created. Exit 2 for a missing or invalid config.
"""

from __future__ import annotations

import argparse
import json

NAME = "outbox"
HELP = "show the outbox's depth, bytes, oldest age, drops and per-uplink cursors (JSON)"
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    stats = sub.add_parser(
        "stats",
        help="print the outbox statistics as JSON",
        description="Print the outbox statistics as JSON (read-only; safe while running).",
    )
    stats.add_argument("-c", "--config", required=True, metavar="CONFIG", help="gateway config")


def run(args: argparse.Namespace) -> int:
    from gateway.config import load_config
    from gateway.outbox.stats import read_stats
    from gateway.outbox.store import limits_of

    config = load_config(args.config)
    path = config.outbox.resolve_path(config.node.state_dir)
    stats = read_stats(path, limits_of(config.outbox))
    configured = [uplink.name for uplink in config.uplinks]
    for name, state in stats["uplinks"].items():
        state["configured"] = name in configured
    for name in configured:
        stats["uplinks"].setdefault(
            name,
            {
                "pending": 0,
                "cursor": None,
                "delivered": 0,
                "dropped": 0,
                "released": 0,
                "last_ack": None,
                "added": None,
                "configured": True,
            },
        )
    stats["node"] = config.node.id
    print(json.dumps(stats, indent=2))
    return 0
