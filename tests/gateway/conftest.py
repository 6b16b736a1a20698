"""Fixtures the gateway's service tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.notify import Collector


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Collector]:
    """A systemd notify socket for a service under test (``NOTIFY_SOCKET=notify.address``):
    what it says (READY=1, RELOADING=1, WATCHDOG=1, STOPPING=1) collected."""
    collector = Collector(str(tmp_path / "notify.sock"))
    yield collector
    collector.close()
