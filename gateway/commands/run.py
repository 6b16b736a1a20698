"""Run the gateway service (what systemd's ExecStart calls).

Reads the sensors, detects, stores every detection durably and forwards it on the uplinks,
and publishes a retained health status. Signals: SIGTERM or SIGINT stop it cleanly (the
detections in flight are stored first); SIGHUP reloads the config where that is safe
(`systemctl reload ugs-gateway`); SIGUSR1 writes every thread's stack to the log. Under
systemd it reports READY, STATUS and WATCHDOG.

Exit codes: 0 after a clean stop, 2 for a config that does not validate (systemd does not
retry those), 1 when the service cannot start (an unusable state dir, say).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import signal
import threading
from types import FrameType

NAME = "run"
HELP = "run the gateway service with a config file"
ORDER = 10

log = logging.getLogger(__name__)


SIGNAL_POLL_S = 1.0
"""Longest the main thread sleeps before it looks for a signal received by another thread."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", required=True, metavar="CONFIG", help="path to the TOML config"
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gateway.config import load_config
    from gateway.service import Service

    config_path = Path(args.config)
    config = load_config(config_path)  # ConfigError -> exit 2 with one line per problem

    stop = threading.Event()
    reload = threading.Event()
    wake = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Only set flags here: logging from a signal handler can deadlock on its locks.
        (reload if signum == signal.SIGHUP else stop).set()
        wake.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    # `kill -USR1 <pid>` writes every thread's stack to the journal: what a wedged unit was
    # doing, without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    service = Service(config, config_path=config_path)
    try:
        service.start()
        while not stop.is_set():
            # The kernel may hand a signal to any thread; Python runs its handler in this
            # one, when it next runs. A bounded wait lets it run within a second.
            wake.wait(SIGNAL_POLL_S)
            wake.clear()
            if reload.is_set() and not stop.is_set():
                reload.clear()
                log.info("SIGHUP: reloading %s", config_path)
                service.reload()
        log.info("stop requested")
    finally:
        service.stop()
    return 0
