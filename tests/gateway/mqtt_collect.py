"""Test-side receivers: the real ``gateway.subscriber.Subscriber`` in a thread, recording
every message it gets (duplicates included) besides the deduplicated reports it emits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.subscriber import Subscriber
from gateway.uplinks import mqtt_client as mq


class Collector(Subscriber):
    """A persistent QoS 1 subscriber on ``host:port`` running in a daemon thread."""

    def __init__(self, host: str, port: int, client_id: str, topics: list[str] | None = None,
                 **settings: Any) -> None:  # fmt: skip
        self.lock = threading.Lock()
        self.reports: list[dict[str, Any]] = []  # unique, in arrival order
        self.arrived: dict[str, float] = {}  # id -> monotonic time of first arrival
        self.raw: list[tuple[str, bytes]] = []  # every detection message, duplicates too
        self.statuses: list[dict[str, Any]] = []
        link = mq.LinkSettings(label=f"collect-{client_id}", host=host, port=port,
                               client_id=client_id, keepalive=5, connect_timeout=2.0,
                               **settings)  # fmt: skip
        super().__init__(link, topics or ["ugs/v1/#"], self._record,
                         reconnect_min=0.05, reconnect_max=0.3)  # fmt: skip
        self.thread = threading.Thread(target=self.run, name=f"collect-{client_id}", daemon=True)

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if not topic.endswith("/status"):
            with self.lock:
                self.raw.append((topic, payload))
        super()._on_message(topic, payload, retained)

    def _record(self, line: dict[str, Any]) -> None:
        with self.lock:
            if "status" in line:
                self.statuses.append(line)
            else:
                self.reports.append(line)
                self.arrived.setdefault(line["id"], time.monotonic())

    def start(self) -> Collector:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop()
        self.thread.join(10)

    def ids(self) -> set[str]:
        with self.lock:
            return {r["id"] for r in self.reports}

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` (cheap, in-memory) until true; fail the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def wait_ids(self, ids: set[str], timeout: float) -> None:
        self.wait_for(lambda: ids <= self.ids(), timeout,
                      f"{len(ids - self.ids())} of {len(ids)} reports")  # fmt: skip


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
