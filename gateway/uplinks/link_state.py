"""Where an uplink's link stands, the same for every protocol: its state and since when, the
last error, since when it has been down, and the log lines of an outage (one when it fails,
one when it is back, with how long it was down and how many reports wait)."""

from __future__ import annotations

import logging
import threading
import time

from gateway.outbox.store import Outbox
from gateway.uplinks.link_log import log_link_down, pending_text
from gateway.uplinks.live_feed import LiveFeed


class LinkState:
    """Mixed into an uplink, which sets ``name``, ``outbox``, ``_feed``, ``_lock`` and
    ``_log`` and calls :meth:`_init_link_state` in its ``__init__``. ``_lock`` guards the
    fields an API call reads (state, since, last error, connected since); the others belong
    to the uplink's thread."""

    name: str
    outbox: Outbox
    _feed: LiveFeed
    _lock: threading.Lock
    _log: logging.Logger

    def _init_link_state(self, state: str) -> None:
        self._state = state
        self._state_since = time.time()
        self._last_error: str | None = None
        self._connected_since: float | None = None
        self._last_outcome: str | None = None  # last logged: up or a failure state
        self._down_since: float | None = None

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str, error: str | None = None) -> None:
        with self._lock:
            if state != self._state:
                self._state, self._state_since = state, time.time()
            if error is not None:
                self._last_error = error

    def _link_down(self, state: str, message: str, *, serious: bool) -> None:
        """The link failed (or could not be made) in ``state``; ``serious``: a problem of
        configuration that will not go away by itself."""
        if self._down_since is None:
            self._down_since = time.monotonic()
        self._feed.link_down()
        with self._lock:
            self._connected_since = None
        # The log line first: whoever sees the new state finds its reason in the journal.
        self._last_outcome = log_link_down(
            self.name,
            state,
            message,
            last_logged=self._last_outcome,
            serious=serious,
            outbox=self.outbox,
            log=self._log,
        )
        self._set_state(state, message)

    def _was_up_before(self) -> bool:
        """Whether the link has been made or tried before (a new one is a reconnection)."""
        return self._last_outcome is not None

    def _link_up(self, state: str, back: str, first: str) -> None:
        """The link carries reports again, in ``state`` (the protocol's name for it): log
        ``back`` after an outage (with its length and the queue to catch up), ``first`` when
        it had not been up before."""
        self._feed.link_up()
        self._set_state(state)
        if self._down_since is not None:
            self._log.info(
                "uplink %s: %s after %.1f s down; %s reports to catch up",
                self.name,
                back,
                time.monotonic() - self._down_since,
                pending_text(self.outbox, self.name),
            )
        elif self._last_outcome != state:
            self._log.info("uplink %s: %s", self.name, first)
        self._last_outcome = state
        self._down_since = None
