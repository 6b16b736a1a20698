"""Compile the signal-processing kernels into the Numba cache ($NUMBA_CACHE_DIR).

Run it after installing or upgrading, as the service user and with the service's cache, so
the service starts without compiling (install.sh does this)::

    sudo -u ugs-gateway NUMBA_CACHE_DIR=/var/cache/ugs-gateway/numba \\
        /opt/ugs-gateway/venv/bin/ugs-gateway warmup

Prints one JSON object: the kernels compiled or loaded from the cache, and any kernel no
warm-up entry reached ("cold"; the service then compiles it at its first start).
"""

from __future__ import annotations

import argparse
import json
import logging

NAME = "warmup"
HELP = "fill the Numba cache so the service starts fast (after install or upgrade)"
ORDER = 85

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: it warms what the service uses


def run(args: argparse.Namespace) -> int:
    from gateway import warmup

    report = warmup.run()
    for name in report["cold"]:
        log.warning("kernel %s was not warmed: no WARMUP entry calls it", name)
    print(json.dumps(report, indent=2))
    return 0
