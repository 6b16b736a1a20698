"""Session-wide test settings shared by every package's tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.broker import Broker, TlsFiles, have_mosquitto, make_tls_material

# Kernels compile into the source tree's __pycache__ by default; keep a dedicated cache so a
# read-only checkout still works and repeated runs stay warm.
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".venv", "numba-cache"
    ),
)


# -- MQTT: a real mosquitto (see tests/broker.py) --------------------------------------------


def _need_mosquitto() -> None:
    if not have_mosquitto():
        pytest.skip("mosquitto is not installed (make test installs it)")


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One plain, persistent mosquitto for the whole session (``.host``, ``.port``).

    Shared: use unique topics and client ids, and never kill or pause it; fault tests get
    their own broker from ``make_broker``.
    """
    _need_mosquitto()
    with Broker(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Factory for brokers owned by one test: ``make_broker(tls=..., users=...)``, started.

    Takes the keyword arguments of :class:`tests.broker.Broker`; every broker it made is
    ended after the test, whatever state it was left in.
    """
    _need_mosquitto()
    made: list[Broker] = []
    counter = itertools.count()

    def make(**kwargs: Any) -> Broker:
        broker = Broker(tmp_path / f"broker{next(counter)}", **kwargs)
        made.append(broker)
        return broker.start()

    yield make
    for broker in made:
        broker.close()


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA with a server certificate for 127.0.0.1 and a client certificate."""
    return make_tls_material(tmp_path_factory.mktemp("pki"))
