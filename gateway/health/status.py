"""The health report: one JSON status of the whole unit, and each partner's share of it.

It is built every ``[health] interval_s`` seconds and as soon as something changes state
(a sensor degrades or recovers, an uplink connects or fails, a thread wedges). The whole
report goes to systemd (its first line as ``STATUS=``) and to the unit's status file
(``ugs-gateway status``, :mod:`gateway.health.status_file`); each
uplink publishes, retained, only its partner's share (:func:`partner_status`): the unit's
health, its own link and counters, and detections only as its share filter lets them
through. Both are plain JSON (see docs/uplinks.md, "Status and last will").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from gateway import __version__
from gateway.detection_report import format_time
from gateway.health.status_file import StatusFile
from gateway.uplinks import Uplink
from gateway.uplinks.share import DOCUMENTED

log = logging.getLogger(__name__)

CHANGE_CHECK_S = 1.0
"""How often states are compared with the last published ones."""

PARTNER_KEYS = (
    "v", "node", "site", "state", "time", "version", "boot", "mode", "started", "uptime_s",
    "sensors", "system", "watchdog",
)  # fmt: skip
"""What every partner's status carries of the unit's as it is (health and the unit's mode,
which any partner may see change its reports, not detections)."""
PARTNER_GATED = ("model",)
"""What a partner's status carries only when its share lets the report field of the same name
through (``share.fields``): the classifier in use, named in each report as ``model``."""
PARTNER_PIPELINE = ("alive", "queued_blocks", "blocks", "samples", "blocks_dropped", "latency_s")
"""What of the pipeline: that it runs and keeps up; no counts of detections (a partner that
gets vehicles only could count the footsteps from them), no detector state, no errors
(which name reports)."""
PARTNER_OUTBOX = ("io_errors", "last_io_error", "free_disk_bytes", "limits")
"""What of the outbox beside the partner's own queue: whether the unit's disk is healthy."""


def partner_status(
    snapshot: Mapping[str, Any],
    uplink: str,
    last_detection: Mapping[str, Any] | None,
    fields: Collection[str] = DOCUMENTED,
) -> dict[str, Any]:
    """The share of the unit's status that the partner of ``uplink`` receives: the unit's
    health and mode (:data:`PARTNER_KEYS`), the model when ``fields`` (the report fields the
    partner may receive) has ``model``, its own link and queue only, problems and warnings
    about the unit or its own link, and ``last_detection`` (the latest report its share
    filter accepted), never another partner's or a detection it does not receive."""
    out = {key: snapshot[key] for key in PARTNER_KEYS if key in snapshot}
    out.update({key: snapshot[key] for key in PARTNER_GATED if key in snapshot and key in fields})
    own = f"uplink {uplink}"
    out["problems"] = {
        name: why
        for name, why in snapshot.get("problems", {}).items()
        if not name.startswith("uplink ") or name == own
    }
    out["warnings"] = [
        text
        for text in snapshot.get("warnings", [])
        if not text.startswith("uplink ") or text.startswith(own + ":")
    ]
    pipeline = snapshot.get("pipeline", {})
    out["pipeline"] = {key: pipeline[key] for key in PARTNER_PIPELINE if key in pipeline}
    out["pipeline"]["last_detection"] = dict(last_detection) if last_detection else None
    outbox = snapshot.get("outbox", {})
    mine = (outbox.get("uplinks") or {}).get(uplink)
    out["outbox"] = {key: outbox[key] for key in PARTNER_OUTBOX if key in outbox}
    out["outbox"]["uplink"] = dict(mine) if mine else None
    link = (snapshot.get("uplinks") or {}).get(uplink)
    out["uplinks"] = {uplink: link} if link is not None else {}
    return out


class HealthConfig(BaseModel):
    """``[health]``: how often the status is published and what counts as degraded."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    interval_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="publish the status, and write it to {state_dir}/status.json "
        "(`ugs-gateway status`), at least this often",
    )
    stale_sample_s: float = Field(
        default=10.0,
        gt=0,
        description="a sensor that delivered no sample for this long is degraded",
    )
    watchdog_stale_s: float = Field(
        default=20.0,
        ge=1.0,
        le=600.0,
        description="the pipeline thread making no progress this long counts as wedged "
        "(systemd's watchdog is then no longer fed and restarts the service)",
    )
    min_free_disk_bytes: int = Field(
        default=50_000_000, ge=0, description="warn when the state dir's disk has less free"
    )


class _StatusSource(Protocol):
    def status(self) -> dict[str, Any]: ...


class _Sensors(Protocol):
    def status(self) -> dict[str, dict[str, Any]]: ...


class _Outbox(Protocol):
    def stats(self) -> dict[str, Any]: ...


class _System(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


def sensor_problem(status: dict[str, Any], stale_after: float) -> str | None:
    """Why a sensor is degraded, in words for a technician; None when it is fine."""
    state = status.get("state")
    if state == "stopped" and status.get("error") == "disabled in the configuration":
        return None
    age = status.get("last_sample_age_s")
    if state not in ("ok", "starting"):
        error = status.get("error") or "no reason given"
        return f"{state}: {error}"
    if state == "ok" and age is not None and age > stale_after:
        return f"no samples for {age:.0f} s"
    return None


class Health:
    """Builds the status and publishes it (own thread) on every uplink and to systemd."""

    def __init__(
        self,
        config: HealthConfig,
        *,
        node: str,
        site: str,
        boot: int,
        sensors: _Sensors,
        pipeline: _StatusSource,
        outbox: _Outbox,
        uplinks: Sequence[Uplink],
        system: _System,
        watchdog: _StatusSource | None = None,
        recorder: _StatusSource | None = None,
        on_summary: Callable[[str], object] | None = None,
        mode: Callable[[], str] | None = None,
        warnings: Sequence[str] = (),
        report_fields: Mapping[str, Collection[str]] | None = None,
        status_file: StatusFile | None = None,
    ) -> None:
        self.config = config
        self.node, self.site, self.boot = node, site, boot
        self.sensors = sensors
        self.pipeline = pipeline
        self.outbox = outbox
        self.uplinks = list(uplinks)
        self.system = system
        self.watchdog = watchdog
        self.recorder = recorder
        self._on_summary = on_summary
        self._mode = mode
        self.config_warnings = list(warnings)  # links and secrets (gateway.trust)
        # uplink -> the report fields its partner may receive (ShareFilter.allowed)
        self._report_fields = dict(report_fields or {})
        self.status_file = status_file
        self._started = time.time()
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_key: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._last_for: dict[str, dict[str, Any]] = {}  # uplink -> its last report's summary
        self.published = 0

    # -- the report ---------------------------------------------------------------------------

    def note_stored(self, report: Mapping[str, Any], uplinks: Sequence[str]) -> None:
        """A report was stored for these uplinks (their share filters accepted it): it is
        their partners' last detection now. An outbox listener; cheap."""
        summary = {key: report.get(key) for key in ("id", "class", "conf", "t1")}
        with self._lock:
            for name in uplinks:
                self._last_for[name] = summary

    def partner_view(self, snapshot: Mapping[str, Any], uplink: str) -> dict[str, Any]:
        """What the partner of ``uplink`` receives of ``snapshot`` (:func:`partner_status`)."""
        with self._lock:
            last = self._last_for.get(uplink)
        return partner_status(snapshot, uplink, last, self._report_fields.get(uplink, DOCUMENTED))

    def _problems(self, sensors: dict[str, dict[str, Any]]) -> dict[str, str]:
        problems = {}
        for name, status in sensors.items():
            why = sensor_problem(status, self.config.stale_sample_s)
            if why is not None:
                problems[f"sensor {name}"] = why
        for uplink in self.uplinks:
            if uplink.state != "connected":
                problems[f"uplink {uplink.name}"] = uplink.state
        if self.watchdog is not None:
            for name, age in self.watchdog.status().get("wedged", {}).items():
                problems[f"thread {name}"] = f"no progress for {age:.0f} s"
        return problems

    def _key(
        self, state: str, problems: dict[str, str], sensors: dict[str, dict[str, Any]]
    ) -> tuple[Any, ...]:
        # States only (not ages or counters), so a change means a real change of state; a
        # sensor that has started is one (the status would otherwise say "starting" until
        # the next periodic publish).
        return (
            state,
            tuple(sorted((k, v.split(":")[0]) for k, v in problems.items())),
            tuple(sorted((name, str(s.get("state"))) for name, s in sensors.items())),
        )

    def snapshot(self, state: str = "running") -> dict[str, Any]:
        """The whole status (plain JSON types)."""
        sensors = self.sensors.status()
        pipeline = self.pipeline.status()
        # Once stopping, sensors are stopped on purpose: that is not a problem to report.
        problems = self._problems(sensors) if state == "running" else {}
        outbox = self.outbox.stats()
        system = self.system.snapshot()
        warnings = []
        if system.get("clock_synced") is not True:
            warnings.append("clock not synchronised: report times may be wrong")
        free = system.get("disk_free_bytes")
        if free is not None and free < self.config.min_free_disk_bytes:
            warnings.append(f"disk nearly full: {free / 1e6:.0f} MB free")
        if outbox.get("io_errors"):
            last = outbox.get("last_io_error") or {}
            warnings.append(
                f"outbox: {outbox['io_errors']} I/O errors writing to the disk (last at "
                f"{last.get('time')}: {last.get('error')}); no report was dropped for them"
            )
        warnings += self.config_warnings
        health = ("degraded" if problems else "ok") if state == "running" else state
        return {
            "v": 1,
            "node": self.node,
            "site": self.site,
            "state": health,
            "time": format_time(time.time()),
            "version": __version__,
            "boot": self.boot,
            "mode": self._mode() if self._mode is not None else None,
            "started": format_time(self._started),
            "uptime_s": round(time.time() - self._started, 1),
            "problems": problems,
            "warnings": warnings,
            "sensors": sensors,
            "model": pipeline.get("model"),
            "pipeline": pipeline,
            "outbox": outbox,
            "uplinks": {u.name: u.status(outbox) for u in self.uplinks},
            "system": system,
            "watchdog": self.watchdog.status() if self.watchdog is not None else None,
            "recorder": self.recorder.status() if self.recorder is not None else None,
        }

    @staticmethod
    def summary(snapshot: dict[str, Any]) -> str:
        """One line for ``systemctl status`` (``STATUS=``), or of a partner's share of the
        status (the demo's command post): what that share holds, never a count it lacks."""
        sensors = snapshot["sensors"]
        ok = sum(1 for s in sensors.values() if s.get("state") == "ok")
        starting = sum(1 for s in sensors.values() if s.get("state") == "starting")
        uplinks = snapshot["uplinks"]
        up = sum(1 for u in uplinks.values() if u.get("state") == "connected")
        pipeline, outbox = snapshot["pipeline"], snapshot["outbox"]
        if "stored" in pipeline:
            detections = f"{pipeline['stored']} detections"
        else:  # a partner's share: no counts, only the latest report it was given
            last = pipeline.get("last_detection")
            detections = f"last detection {last['id']}" if last else "no detection yet"
        if "depth" in outbox:
            queued = f"outbox {outbox['depth']} queued"
        else:  # a partner's share: its own queue only
            queued = f"{(outbox.get('uplink') or {}).get('pending', 0)} queued for this link"
        text = (
            f"{snapshot['state']}: sensors {ok}/{len(sensors)} ok"
            f"{f' ({starting} starting)' if starting else ''}, "
            f"uplinks {up}/{len(uplinks)} connected, {detections}, {queued}"
        )
        if snapshot["problems"]:
            name, why = next(iter(snapshot["problems"].items()))
            text += f"; {name}: {why}"
        return text

    def publish(self, state: str = "running") -> dict[str, Any]:
        """Build the status now, hand each uplink its partner's share and systemd a line."""
        snapshot = self.snapshot(state)
        for uplink in self.uplinks:
            uplink.publish_status(self.partner_view(snapshot, uplink.name))
        if self._on_summary is not None:
            self._on_summary(self.summary(snapshot))
        if self.status_file is not None:
            self.status_file.write(snapshot, every_s=self.config.interval_s)
        self._last_key = self._key(snapshot["state"], snapshot["problems"], snapshot["sensors"])
        self.published += 1
        return snapshot

    # -- the thread ---------------------------------------------------------------------------

    def kick(self) -> None:
        """Publish soon (e.g. after a reload)."""
        self._kick.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _changed(self) -> bool:
        sensors = self.sensors.status()
        problems = self._problems(sensors)
        state = "degraded" if problems else "ok"
        key = self._key(state, problems, sensors)
        if key != self._last_key:
            if self._last_key is not None and key[:2] == self._last_key[:2]:
                return True  # only a sensor's state changed: publish, nothing to log
            for name, why in problems.items():
                log.warning("%s: %s", name, why)
            if not problems and self._last_key is not None:
                log.info("all sensors and uplinks are fine again")
            return True
        return False

    def _run(self) -> None:
        next_due = 0.0
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_due or self._kick.is_set() or self._changed():
                    self._kick.clear()
                    self.publish()
                    next_due = now + self.config.interval_s
            except Exception:
                log.exception("health: building the status failed")
            self._kick.wait(CHANGE_CHECK_S)
