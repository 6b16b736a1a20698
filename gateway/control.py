"""The unit as partners may task it: its identity, its mode, its snippets.

:class:`UnitControl` is the service's answer to :class:`gateway.uplinks.Unit`: the SAPIENT
uplink registers what it says (sensors, modes) and both SAPIENT tasks and remote tasking over
MQTT act through it. Changing the mode swaps the detector for one built with the mode's
``[dsp]`` (its open events are flushed first), remembers the mode in the state dir and asks
the health report to publish at once, so the next status of every uplink shows it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dsp.config import DspConfig
from gateway.modes import ModesConfig, mode_dsp, save_mode
from gateway.uplinks import TaskRefusedError
from gateway.uplinks.sapient_codec import is_node_id, new_node_id

log = logging.getLogger(__name__)

SAPIENT_ID_FILE = "sapient-node-id"
MODE_HISTORY = 100
REPORT_MEMORY = 20_000
"""How many of this start's reports the unit remembers the class and confidence of, so that a
snippet goes only to a partner whose share filter accepts its report."""
_REPORT_ID = re.compile(
    r"(?P<node>[A-Za-z0-9_.-]{1,64})-(?P<boot>[0-9]{1,19})-(?P<seq>[0-9]{1,19})"
)


def sapient_node_id(state_dir: Path) -> str:
    """The unit's SAPIENT node id, made once and kept in ``state_dir``: a fusion node knows a
    unit by it across restarts."""
    path = Path(state_dir) / SAPIENT_ID_FILE
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = path.read_text(encoding="ascii").strip()
        if is_node_id(text):
            return text
        log.error("%s does not hold a lower-case UUID v4; making a new SAPIENT node id", path)
    node_id = new_node_id()
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="ascii") as out:
        out.write(node_id + "\n")
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(path)
    return node_id


class UnitControl:
    """Modes, status and snippets of one running unit (thread-safe)."""

    def __init__(
        self,
        *,
        node: str,
        site: str,
        state_dir: Path,
        location: Mapping[str, float] | None,
        sensors: list[tuple[str, str]],
        dsp: DspConfig,
        modes: ModesConfig,
        mode: str,
        apply_dsp: Callable[[DspConfig], None],
        status: Callable[[str], dict[str, Any]],
        snippets_dir: Path | None,
        current_boot: int,
        current_seq: Callable[[], int],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node, self.site = node, site
        self.state_dir = Path(state_dir)
        self.sapient_id = sapient_node_id(self.state_dir)
        self.location = dict(location) if location is not None else None
        self.sensors = list(sensors)
        self._dsp = dsp
        self._modes = modes
        self._mode = mode
        self._apply_dsp = apply_dsp
        self._status = status
        self._snippets = snippets_dir
        self._boot = current_boot
        self._seq = current_seq
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self._timeline: deque[tuple[float, str]] = deque(
            [(self._started, mode)], maxlen=MODE_HISTORY
        )
        self._reports: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # -- modes --------------------------------------------------------------------------------

    def modes(self) -> list[str]:
        return self._modes.names()

    def initial_mode(self) -> str:
        return self._modes.initial

    def mode_description(self, name: str) -> str:
        return self._modes.description(name)

    @property
    def mode(self) -> str:
        return self._mode

    def mode_at(self, epoch_s: float) -> str | None:
        with self._lock:
            if epoch_s < self._started:
                return None
            current = None
            for since, name in self._timeline:
                if since > epoch_s:
                    break
                current = name
            return current

    def dsp_for(self, name: str) -> DspConfig:
        return mode_dsp(self._dsp, self._modes, name)

    def set_mode(self, name: str, *, by: str) -> None:
        """Switch to mode ``name`` (the detector changes at once); :class:`TaskRefusedError` for a
        mode the config does not define."""
        if name not in self._modes.names():
            raise TaskRefusedError(
                f"no mode {name!r} on this unit (modes: {', '.join(self._modes.names())})"
            )
        with self._lock:
            previous = self._mode
            if name != previous:
                self._apply_dsp(self.dsp_for(name))
                self._mode = name
                self._timeline.append((self._clock(), name))
                save_mode(self.state_dir, name)
        if name != previous:
            log.warning("mode %s -> %s, set by %s", previous, name, by)
        else:
            log.info("mode %s confirmed by %s (unchanged)", name, by)

    def reconfigure(self, dsp: DspConfig, modes: ModesConfig) -> None:
        """A reloaded config: new ``[dsp]`` and modes; the current mode stays if still defined."""
        with self._lock:
            self._dsp, self._modes = dsp, modes
            if self._mode not in modes.names():
                log.warning(
                    "reload: mode %r is no longer defined; back to %r", self._mode, modes.initial
                )
                self._mode = modes.initial
                self._timeline.append((self._clock(), self._mode))
                save_mode(self.state_dir, self._mode)
            self._apply_dsp(self.dsp_for(self._mode))

    # -- status and snippets ------------------------------------------------------------------

    def status_now(self, uplink: str) -> dict[str, Any]:
        """The status as the partner of ``uplink`` receives it: its share, never the whole
        unit's (another partner's link, detections its filter excludes)."""
        return self._status(uplink)

    def note_report(self, report: Mapping[str, Any]) -> None:
        """A report was stored: remember what a share filter judges of it (its class and
        confidence) for :meth:`snippet`. Called in the pipeline thread; cheap."""
        summary = {"class": report.get("class"), "conf": report.get("conf")}
        with self._lock:
            self._reports[str(report.get("id"))] = summary
            while len(self._reports) > REPORT_MEMORY:
                self._reports.popitem(last=False)

    def report_known(self, report_id: str) -> bool:
        """Whether ``report_id`` names a report this unit has made (by its node, boot, seq)."""
        match = _REPORT_ID.fullmatch(report_id)
        if match is None or match["node"] != self.node:
            return False
        boot, seq = int(match["boot"]), int(match["seq"])
        if seq < 1 or boot < 1:
            return False
        return boot < self._boot or (boot == self._boot and seq <= self._seq())

    def snippet(
        self, report_id: str, *, accepts: Callable[[Mapping[str, Any]], bool] | None = None
    ) -> Path:
        """The miniSEED snippet the field recorder wrote for a detection, or
        :class:`TaskRefusedError` saying why there is none.

        ``accepts`` is the asking partner's share filter (None: it accepts every report): a
        detection it does not accept is answered as one that does not exist, and one this
        start no longer remembers (made before it, or beyond :data:`REPORT_MEMORY`) is
        refused, since the unit cannot tell whether the partner may have it."""
        if not self.report_known(report_id):
            raise TaskRefusedError(f"no detection {report_id!r} on this unit")
        if accepts is not None:
            with self._lock:
                summary = self._reports.get(report_id)
            if summary is None:
                raise TaskRefusedError(
                    f"the unit no longer knows the class of {report_id} (made before its last "
                    "start, or too long ago), so it cannot tell whether your share includes it"
                )
            if not accepts(summary):
                raise TaskRefusedError(f"no detection {report_id!r} on this unit")
        if self._snippets is None:
            raise TaskRefusedError(
                'this unit does not record snippets ([record] mode is not "snippets")'
            )
        path = self._snippets / f"{report_id}.mseed"
        if not path.is_file():
            raise TaskRefusedError(
                f"no snippet of {report_id} on the unit: not written yet (it is written once "
                "the event's post-roll has passed), or already deleted at the recorder's disk cap"
            )
        return path
