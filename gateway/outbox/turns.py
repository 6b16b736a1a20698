"""The outbox's lock, with a turn order: whoever waits for it goes before the background copy.

The copy out of a damaged file (:mod:`gateway.outbox.salvage`) takes the lock for one batch at
a time. Released and at once retaken by the same thread, a plain lock lets the copy run batch
after batch for as long as the operating system leaves a waiting thread unscheduled, which on
a loaded unit can be many batches: the pipeline's store would wait for the copy, and the
watchdog restarts a pipeline stuck for 20 s. Here the copy, before each batch, lets in every
thread that was waiting when it asked (not those that come later, or a busy caller would
stop the copy): a store waits for the batch under way at most, whatever the load.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import TracebackType

BACKGROUND_PATIENCE_S = 5.0
"""The longest the copy waits for the threads ahead of it; one this slow to take a free lock
is stuck elsewhere, and the copy must not stall behind it for good."""


class OutboxLock:
    """A re-entrant lock (``with lock:``) whose :meth:`background` turn comes after every
    thread already waiting for it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._turns = threading.Condition(threading.Lock())
        self._arrived = 0  # callers that asked for the lock, ever
        self._entered = 0  # callers that got it

    def __enter__(self) -> OutboxLock:
        with self._turns:
            self._arrived += 1
        try:
            self._lock.acquire()
        finally:
            with self._turns:
                self._entered += 1
                self._turns.notify_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()

    @property
    def waiting(self) -> int:
        """Threads that asked for the lock and do not hold it yet."""
        with self._turns:
            return self._arrived - self._entered

    @contextlib.contextmanager
    def background(self) -> Iterator[None]:
        """``with lock.background():`` takes the lock once every thread waiting for it now
        has had it."""
        with self._turns:
            waiting_now = self._arrived
            self._turns.wait_for(lambda: self._entered >= waiting_now, BACKGROUND_PATIENCE_S)
        with self._lock:
            yield
