"""The unit's whole status on its own disk, for a technician logged in to it.

The partners' brokers get their shares of the status over MQTT; this file holds all of it,
and it is there when every link is down, which is when a technician most needs it
(``ugs-gateway status -c CONFIG``). The health thread rewrites it at every publish
(``[health] interval_s``, and on every change of state), the service once more as it stops.

A few kB every 30 s: tens of MB a day to an SD card, well inside what its wear levelling
spreads over years. Each write goes to a temporary file first and replaces the last one, so
a reader never sees half of one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE_NAME = "status.json"
# The writer says how often it rewrites the file, so that a reader judges its age by the
# interval the service runs with, not by a config edited since and not yet reloaded.
EVERY_KEY = "rewritten_every_s"


class StatusUnavailableError(Exception):
    """There is no status to show; the message says why, for a technician."""


def status_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / FILE_NAME


class StatusFile:
    """Writes the status; a failure (disk full, state dir gone) is logged once, never raised:
    the unit's work does not depend on this file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = False

    def write(self, status: dict[str, Any], every_s: float | None = None) -> None:
        """Replace the file with ``status``; ``every_s``: when the next one is due at latest."""
        document = status if every_s is None else {**status, EVERY_KEY: every_s}
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            if not self._failing:
                log.warning("status: cannot write %s (%s); the unit runs on", self.path, exc)
            self._failing = True
            temporary.unlink(missing_ok=True)
            return
        if self._failing:
            log.info("status: %s written again", self.path)
        self._failing = False


def read_status(path: Path) -> tuple[dict[str, Any], float]:
    """The last status the service wrote and its age in seconds (from the file's time)."""
    try:
        text = path.read_text(encoding="utf-8")
        age = max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        raise StatusUnavailableError(
            f"no status in {path}: the service has not run with this config "
            "(systemctl status ugs-gateway)"
        ) from None
    except PermissionError:
        raise StatusUnavailableError(
            f"cannot read {path}: permission denied (run it with sudo)"
        ) from None
    except OSError as exc:
        raise StatusUnavailableError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        status = json.loads(text)
    except ValueError:
        raise StatusUnavailableError(
            f"{path} is not a status the service wrote (not JSON)"
        ) from None
    if not _shaped(status):
        raise StatusUnavailableError(f"{path} is not a status the service wrote")
    return status, age


def _shaped(status: object) -> bool:
    """Whether a document has the parts ``ugs-gateway status`` shows, each as a table."""
    if not isinstance(status, dict) or not isinstance(status.get("sensors"), dict):
        return False
    tables = [*status["sensors"].values(), *(status.get("uplinks") or {}).values()]
    parts = ("uplinks", "outbox", "pipeline", "model", "problems")
    return all(isinstance(t, dict) for t in tables) and all(
        isinstance(status.get(k) or {}, dict) for k in parts
    )
