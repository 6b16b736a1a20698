"""The gateway service: sensors -> pipeline -> outbox -> uplinks, with health and systemd.

Start order is outbox (so nothing detected can be lost), uplinks, pipeline, sensors, then
``READY=1``; stop order is the reverse of the data flow: stop reading, let the pipeline
finish and store what it holds, publish a final status, let the uplinks take their last
PUBACKs, close the outbox. A reload (SIGHUP) re-reads the config and applies what is safe
to change on a running unit; the outbox is never recreated.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.config import SensorConfig
from drivers.manager import SensorManager
from dsp.classifier import Model, ModelError, configured_model
from dsp.config import DspConfig
from dsp.detector import StreamingDetector
from dsp.records import Detection, SensorSpec
from gateway import trust, warmup
from gateway.boot import next_boot
from gateway.clock import ClockWatch
from gateway.config import GatewayConfig, load_config
from gateway.control import UnitControl
from gateway.errors import ConfigError
from gateway.field_recorder import FieldRecorder
from gateway.health.sdnotify import Notifier, Probe, Watchdog
from gateway.health.status import Health
from gateway.health.status_file import StatusFile, status_path
from gateway.health.system import SystemInfo
from gateway.memory import release_compiler_pages
from gateway.modes import load_mode, mode_dsp
from gateway.outbox.stats import last_boot
from gateway.outbox.store import Outbox
from gateway.pipeline import Pipeline
from gateway.signing import Signer
from gateway.uplinks import open_uplink
from gateway.uplinks.share import share_filters

log = logging.getLogger(__name__)

ReportHook = Callable[[dict[str, Any], Detection], None]
"""Called in the pipeline thread after each report is durably stored."""

READER_STALE_S = 60.0
"""Reader loops turn at least every few seconds, even while backing off from a dead device."""


def _reader_probe_name(sensor: str) -> str:
    return f"reader {sensor}"


def sensor_specs(sensors: list[SensorConfig]) -> list[SensorSpec]:
    """What the detector needs to know of each enabled sensor (its kind's chain loaded)."""
    enabled = [s for s in sensors if s.enabled]
    for module in {s.descriptor.chain for s in enabled}:
        importlib.import_module(module)  # registers the kind's chain with dsp
    return [SensorSpec(s.name, s.kind, s.rate, s.columns) for s in enabled]


class Service:
    """One running gateway; :meth:`start`, then :meth:`stop` (or :meth:`reload`)."""

    def __init__(
        self,
        config: GatewayConfig,
        *,
        config_path: Path | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], float] = time.time,
        on_report: ReportHook | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        node = config.node
        self.state_dir = Path(node.state_dir)
        key = config.signing.key_file
        self.signer = Signer.from_file(key) if key is not None else None
        outbox_path = config.outbox.resolve_path(self.state_dir)
        # Above the boot files and the outbox both: either may have been lost or restored.
        self.boot = next_boot(self.state_dir, floor=last_boot(outbox_path))
        self.system = SystemInfo(self.state_dir)
        self.outbox = Outbox(
            outbox_path,
            config.outbox,
            node=node.id,
            site=node.site,
            boot=self.boot,
            uplinks=share_filters(config.uplinks),
        )
        loc = node.location.model_dump(exclude_none=True) if node.location else None
        self.recorder: FieldRecorder | None = None
        if config.record.mode != "off":
            self.recorder = FieldRecorder(config.record, state_dir=self.state_dir, node_id=node.id)
        # The classifier: loaded once, kept across mode changes; a reload may replace it.
        try:
            self._model = configured_model(config.dsp.classifier)
        except ModelError as exc:
            raise ConfigError(f"dsp.classifier.model: {exc}") from None
        mode = load_mode(self.state_dir, config.modes)
        self.unit = UnitControl(
            node=node.id,
            site=node.site,
            state_dir=self.state_dir,
            location=loc,
            sensors=[(s.name, s.kind) for s in config.sensors if s.enabled],
            dsp=config.dsp,
            modes=config.modes,
            mode=mode,
            apply_dsp=self._apply_dsp,
            # Each partner's own share of the status (health is made below).
            status=lambda uplink: self.health.partner_view(self.health.snapshot(), uplink),
            snippets_dir=(
                self.recorder.directory
                if self.recorder is not None and config.record.mode == "snippets"
                else None
            ),
            current_boot=self.boot,
            current_seq=lambda: int(self.outbox.stats().get("seq", 0)),
            clock=clock,
        )
        self.uplinks = [
            open_uplink(
                u, self.outbox, node=node.id, site=node.site, unit=self.unit, signer=self.signer
            )
            for u in config.uplinks
        ]
        self.pipeline = Pipeline(
            self._detector(config.sensors, mode_dsp(config.dsp, config.modes, mode), self._model),
            self.outbox,
            loc=loc,
            clock_ok=ClockWatch(),
            clock=clock,
            on_block=self.recorder.submit if self.recorder else None,
            on_report=self._on_report,
        )
        self._clock = clock
        self._report_hook = on_report
        self.sensors = SensorManager(config.sensors, self.pipeline.submit, clock=clock)
        self.status_file = StatusFile(status_path(self.state_dir))
        self.watchdog = Watchdog(
            self.notifier,
            [
                Probe(
                    "pipeline",
                    lambda: float(self.pipeline.turns),
                    config.health.watchdog_stale_s,
                ),
                *(self._reader_probe(s.name) for s in config.sensors if s.enabled),
            ],
        )
        self.health = Health(
            config.health,
            node=node.id,
            site=node.site,
            boot=self.boot,
            sensors=self.sensors,
            pipeline=self.pipeline,
            outbox=self.outbox,
            uplinks=self.uplinks,
            system=self.system,
            watchdog=self.watchdog,
            recorder=self.recorder,
            on_summary=self.notifier.status,
            mode=lambda: self.unit.mode,
            warnings=trust.status_warnings(config),
            report_fields={u.name: u.share.allowed for u in config.uplinks},
            status_file=self.status_file,
        )
        self.outbox.add_listener(lambda row, targets: self.health.note_stored(row.report, targets))
        self._started = False

    def _reader_probe(self, name: str) -> Probe:
        """A reader thread's sign of life: its CPU time, which moves on every turn of its loop
        (also while its device is missing); a thread stuck in a system call stops it."""

        def read() -> float | None:
            cpu = self.sensors.status().get(name, {}).get("reader_cpu_s")
            return None if cpu is None else float(cpu)

        return Probe(_reader_probe_name(name), read, READER_STALE_S)

    def _on_report(self, report: dict[str, Any], detection: Detection) -> None:
        self.unit.note_report(report)
        if self.recorder is not None:
            self.recorder.detection(report["id"], detection.t0, detection.t1)
        if self._report_hook is not None:
            self._report_hook(report, detection)

    @staticmethod
    def _detector(
        sensors: list[SensorConfig], dsp: DspConfig, model: Model | None = None
    ) -> StreamingDetector:
        try:
            return StreamingDetector(dsp, sensor_specs(sensors), model)
        except ModelError as exc:
            raise ConfigError(f"dsp.classifier.model: {exc}") from None

    def _apply_dsp(self, dsp: DspConfig) -> None:
        """A mode change: the detector goes on with the mode's [dsp]; the status shows it."""
        self.pipeline.swap_detector(self._detector(self.config.sensors, dsp, self._model))
        if self._started:
            self.health.kick()

    def start(self) -> None:
        log.info(
            "starting node %s at %s (boot %d): %d sensor(s), %d uplink(s)",
            self.config.node.id,
            self.config.node.site,
            self.boot,
            len(sensor_specs(self.config.sensors)),
            len(self.uplinks),
        )
        model = self.pipeline.model()
        log.info("classifier %s (%s)", model["name"], model["hash"])
        if not self.uplinks:
            log.warning("no [[uplinks]] configured: detections are only stored")
        for line in trust.config_warnings(self.config):
            log.warning("%s", line)
        for line in trust.config_problems(self.config):
            log.error("%s (running anyway; `ugs-gateway check-config` refuses it)", line)
        if self.signer is None:
            log.info("reports are not signed ([signing] key_file is not set)")
        for uplink in self.uplinks:
            uplink.start()
        self._load_kernels()
        if self.recorder is not None:
            self.recorder.start()
        self.pipeline.start()
        self.sensors.start()
        self.watchdog.start()
        self.health.start()
        self._started = True
        snapshot = self.health.snapshot()
        self.notifier.ready(Health.summary(snapshot))
        log.info("ready: %s", Health.summary(snapshot))

    @staticmethod
    def _load_kernels() -> None:
        """Load every signal kernel now (compiling them on a cold cache), not on the first
        blocks, then give back the compiler's memory, which the running service never uses."""
        log.info("loading the signal kernels (compiled on a first start: up to a minute)")
        done = warmup.run()
        freed = release_compiler_pages()
        log.info(
            "signal kernels ready in %.1f s (%d from cache, %d compiled); "
            "%.0f MB of compiler code released",
            done["seconds"],
            done["loaded_from_cache"],
            done["compiled_now"],
            freed / 1e6,
        )

    def stop(self, timeout: float = 10.0) -> dict[str, Any]:
        """Stop within about ``timeout`` seconds; return the final status."""
        deadline = time.monotonic() + timeout
        self.notifier.stopping("stopping: storing the detections in flight")
        log.info("stopping: sensors first, then the detections in flight")
        if self._started:
            self.health.stop()  # sensors are about to stop on purpose: not news to publish
            self.sensors.stop(timeout=min(3.0, timeout / 3))
            self.pipeline.stop(timeout=max(1.0, deadline - time.monotonic() - 3.0))
            if self.recorder is not None:
                self.recorder.stop(timeout=2.0)
            self.watchdog.stop()
        final = self.health.snapshot(state="stopped")
        self.status_file.write(final)
        for uplink in self.uplinks:
            uplink.stop(
                timeout=max(1.0, deadline - time.monotonic()),
                final_status=self.health.partner_view(final, uplink.name),
            )
        self.outbox.close()
        log.info(
            "stopped: %d detections stored this boot, %d waiting in the outbox",
            final["pipeline"].get("stored", 0),
            final["outbox"].get("depth", 0),
        )
        return final

    def reload(self) -> bool:
        """Re-read the config file and apply what can change on a running unit.

        Applied: sensors (their drivers restart), the detector's thresholds and its
        classifier model (its open events are flushed first; a model file rewritten in place,
        as ``ugs-gateway calibrate`` does, counts as a change), the health settings. Not
        applied (logged, needs a restart): the node's identity and state dir, the outbox, the
        uplinks, the signing key. A config that does not validate, or a model that cannot be
        loaded, is refused and everything keeps running as it was.
        """
        if self.config_path is None:
            log.warning("reload: this service was not started from a config file")
            return False
        self.notifier.reloading("reloading the configuration")
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            for line in exc.problems:
                log.error("reload refused: %s", line)
            self.notifier.ready("reload refused: config invalid; running the previous one")
            return False
        try:
            model = configured_model(new.dsp.classifier)
        except ModelError as exc:
            log.error("reload refused: dsp.classifier.model: %s", exc)
            self.notifier.ready("reload refused: model unusable; running the previous one")
            return False
        old = self.config
        for section in ("node", "outbox", "uplinks", "signing"):
            if getattr(new, section) != getattr(old, section):
                log.warning("reload: [%s] changed; that takes a restart to apply", section)
        current = self.pipeline.model()
        new_model = (model.name, model.digest) != (current["name"], current["hash"])
        if new_model:
            log.info(
                "reload: classifier %s (%s) replaces %s (%s)",
                model.name,
                model.digest,
                current["name"],
                current["hash"],
            )
            self._model = model
        sensors_changed = new.sensors != old.sensors
        if sensors_changed:
            # Before the detector is swapped: the last blocks of a sensor taken out are then
            # queued ahead of the swap and go to the detector that has it.
            self.sensors.stop(timeout=3.0)
        if sensors_changed or new.dsp != old.dsp or new.modes != old.modes or new_model:
            self.config = old.model_copy(update={"sensors": new.sensors})
            self.unit.reconfigure(new.dsp, new.modes)
        if sensors_changed:
            self.sensors = SensorManager(new.sensors, self.pipeline.submit, clock=self._clock)
            self.health.sensors = self.sensors
            self.sensors.start()
            watched = {s.name for s in new.sensors if s.enabled}
            # A sensor taken out has no reader left to watch, and the status would list it.
            for sensor in old.sensors:
                if sensor.name not in watched:
                    self.watchdog.remove(_reader_probe_name(sensor.name))
            for name in sorted(watched):
                self.watchdog.add(self._reader_probe(name))
            log.info("reload: sensors restarted")
        self.health.config = new.health
        self.config = old.model_copy(
            update={
                "sensors": new.sensors,
                "dsp": new.dsp,
                "health": new.health,
                "modes": new.modes,
            }
        )
        self.health.kick()
        self.notifier.ready("configuration reloaded")
        log.info("reload: done")
        return True
