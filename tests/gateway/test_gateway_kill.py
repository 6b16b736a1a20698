"""The gateway process SIGKILLed at random moments: no report whose store returned is lost.

A producer process (``tests/gateway/producer.py``: the real boot counter, Outbox and Uplink)
stores reports and prints each id once ``store()`` has returned. It is killed at a random
moment, 24 times, each restart being a new boot; a last run drains what is left. A
persistent subscriber must end up with every printed id, and for every boot the seq values
it received must run 1..max without a hole.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from tests.broker import Broker
from tests.gateway.mqtt_collect import Collector, wait_until

ROOT = Path(__file__).parents[2]
TRIALS = 24


class Run:
    """One producer process; its stdout is read by a thread (ids in order of durability)."""

    def __init__(self, state_dir: Path, port: int, *extra: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.gateway.producer", "--state-dir", str(state_dir),
             "--uplink", f"central=127.0.0.1:{port}", "--rate", "400", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def ids(self) -> set[str]:
        return {line for line in self.lines if line and not line.startswith(("boot", "drained"))}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)


def test_gateway_killed_at_random_moments(
    tmp_path: Path, make_broker: Callable[..., Broker]
) -> None:
    rng = random.Random(20261127)
    broker = make_broker()
    assert broker.port is not None
    collector = Collector(broker.host, broker.port, "central-kill").start()
    runs: list[Run] = []
    try:
        wait_until(lambda: collector.connected, 10, "the subscriber")
        state = tmp_path / "state"
        for _ in range(TRIALS):
            run = Run(state, broker.port)
            runs.append(run)
            # Kill at a random moment: often while storing and sending, sometimes during
            # start-up (before the first store, or with the uplink not yet connected).
            wait_until(lambda r=run: bool(r.lines) or r.proc.poll() is not None, 20, "start")
            time.sleep(rng.uniform(0.0, 0.6))  # the random moment itself
            run.kill()
        final = Run(state, broker.port, "--count", "50", "--drain")
        runs.append(final)
        assert final.proc.wait(120) == 0
        final.reader.join(5)
        assert "drained" in final.lines
        durable = set().union(*(run.ids() for run in runs))
        collector.wait_ids(durable, 30)
        boots = [int(run.lines[0].split()[1]) for run in runs if run.lines]
        assert boots == sorted(set(boots)), "a boot number was reused"
        with collector.lock:
            reports = list(collector.reports)
        seqs: dict[int, list[int]] = defaultdict(list)
        for report in reports:
            seqs[report["boot"]].append(report["seq"])
        for boot, values in seqs.items():
            assert sorted(values) == list(range(1, max(values) + 1)), f"hole in boot {boot}"
        killed_while_storing = sum(1 for run in runs[:-1] if run.ids())
        assert killed_while_storing >= TRIALS // 2
    finally:
        for run in runs:
            run.kill()
        collector.close()
