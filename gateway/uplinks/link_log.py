"""What an uplink of either protocol logs when its link fails: once per new failure state,
with how many reports wait for it in the outbox (the technician's first question)."""

from __future__ import annotations

import logging

from gateway.errors import UgsError
from gateway.outbox.store import Outbox


def pending_text(outbox: Outbox, uplink: str) -> str:
    """The uplink's queue length for a log line; "?" when the outbox cannot say (a log line
    must never fail over it)."""
    try:
        return str(outbox.pending_count(uplink))
    except (UgsError, KeyError, OSError):
        return "?"


def log_link_down(
    uplink: str,
    state: str,
    message: str,
    *,
    last_logged: str | None,
    serious: bool,
    outbox: Outbox,
    log: logging.Logger,
) -> str:
    """Log a failure of ``uplink``'s link: at warning (error when ``serious``: a problem of
    configuration that will not go away by itself) the first time, at debug while the
    same state repeats, on the uplink's own ``log``. Returns the state now logged (the
    caller's next ``last_logged``)."""
    if state == last_logged:
        log.debug("uplink %s: still %s: %s", uplink, state, message)
        return state
    log.log(
        logging.ERROR if serious else logging.WARNING,
        "uplink %s: %s: %s; reports are kept in the outbox (%s waiting) and sent when "
        "the link is back",
        uplink,
        state,
        message,
        pending_text(outbox, uplink),
    )
    return state
