"""Each partner sees its share and nothing more, in every message: reports through its share
filter (checked again when sent, so a narrowed filter also holds back what was queued under
the old one), only the fields it is allowed, and a status of its own.

Real pieces: the outbox, the MQTT uplinks, the pipeline thread, the health report, a real
mosquitto and a real subscriber on each partner's topics; only the detector is a stand-in
that hands over the detections a test asks for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from drivers.block import SampleBlock
from dsp.records import Detection
from gateway.health.status import Health, HealthConfig
from gateway.health.system import SystemInfo
from gateway.outbox.config import OutboxConfig
from gateway.outbox.store import Outbox
from gateway.pipeline import Pipeline
from gateway.uplinks.config import UplinkConfig
from gateway.uplinks.mqtt import MqttUplink
from tests.broker import Broker
from tests.gateway.mqtt_collect import Collector, wait_until
from tests.gateway.uplink_rig import uplink_config

NODE, SITE = "ugs-share", "sector-9"


class Detector:
    """Hands over, at each block, the detections queued with :meth:`emit`."""

    def __init__(self) -> None:
        self.queued: list[Detection] = []
        self.lock = threading.Lock()
        self.model = SimpleNamespace(name="gbt-stub", digest="0a1b2c3d")  # the classifier

    def emit(self, cls: str, flags: tuple[str, ...] = ()) -> None:
        now = time.time()
        with self.lock:
            self.queued.append(Detection(cls, 0.9, now - 2, now, ("geo1",), {"peak": 0.002}, flags))

    def feed(self, *args: Any) -> list[Detection]:
        with self.lock:
            out, self.queued = self.queued, []
        return out

    def flush(self) -> list[Detection]:
        return self.feed()

    def pop_flags(self) -> list[Any]:
        return []

    def status(self) -> dict[str, Any]:
        # What the real detector tells the technician: open events of every class.
        return {"pending_events": 1, "classes": ["footstep", "vehicle"], "detections": 3}


class Sensors:
    def status(self) -> dict[str, dict[str, Any]]:
        return {"geo1": {"state": "ok", "samples": 100}}


class Unit:
    """The pieces of a running unit that decide what partners see."""

    def __init__(self, tmp_path: Path, configs: list[UplinkConfig]) -> None:
        self.detector = Detector()
        self.outbox = Outbox(
            tmp_path / "outbox.sqlite",
            OutboxConfig(min_free_bytes=0, ballast_bytes=0),
            node=NODE,
            site=SITE,
            boot=1,
            uplinks={c.name: c.share.accepts for c in configs},
        )
        self.uplinks = [MqttUplink(c, self.outbox, node=NODE, site=SITE) for c in configs]
        self.pipeline = Pipeline(self.detector, self.outbox)  # type: ignore[arg-type]
        self.health = Health(
            HealthConfig(),
            node=NODE,
            site=SITE,
            boot=1,
            sensors=Sensors(),
            pipeline=self.pipeline,
            outbox=self.outbox,
            uplinks=self.uplinks,
            system=SystemInfo(tmp_path),
        )
        self.outbox.add_listener(lambda row, to: self.health.note_stored(row.report, to))
        self.stored: list[dict[str, Any]] = []
        self.outbox.add_listener(lambda row, to: self.stored.append(row.report))

    def start(self) -> Unit:
        for uplink in self.uplinks:
            uplink.start()
        self.pipeline.start()
        return self

    def detect(self, *classes: str, flags: tuple[str, ...] = ()) -> None:
        before = self.pipeline.status()["stored"]
        for cls in classes:
            self.detector.emit(cls, flags)
        block = SampleBlock("geo1", "seismic", 500.0, time.time(), 0, np.zeros((10, 1), np.int32))
        self.pipeline.submit(block)
        done = before + len(classes)
        # "stored" counts a detection once its store has returned (for no uplink, too).
        wait_until(lambda: self.pipeline.status()["stored"] >= done, 10, "the stores")

    def close(self) -> dict[str, Any]:
        self.pipeline.stop()
        final = self.health.snapshot(state="stopped")
        for uplink in self.uplinks:
            uplink.stop(final_status=self.health.partner_view(final, uplink.name))
        self.outbox.close()
        return final


@contextmanager
def unit(tmp_path: Path, configs: list[UplinkConfig]) -> Iterator[Unit]:
    u = Unit(tmp_path, configs)
    try:
        yield u.start()
    finally:
        u.close()


def everything_seen(collector: Collector) -> str:
    """Every byte the partner got: detections and statuses."""
    with collector.lock:
        raw = b"\n".join(payload for _, payload in collector.raw).decode()
        statuses = json.dumps(collector.statuses)
    return raw + "\n" + statuses


def _naming(collector: Collector, report_id: str) -> list[dict[str, Any]]:
    """The running unit's statuses the collector got that name ``report_id`` as the last
    detection."""
    with collector.lock:
        statuses = [s["status"] for s in collector.statuses if isinstance(s["status"], dict)]
    return [
        s
        for s in statuses
        if s.get("state") != "stopped"
        and ((s.get("pipeline") or {}).get("last_detection") or {}).get("id") == report_id
    ]


def test_a_narrow_partner_never_sees_an_excluded_detection(
    tmp_path: Path, mqtt_broker: Broker
) -> None:
    wide = uplink_config("wide", mqtt_broker.port, topic_prefix="wide/ugs/v1")
    narrow = uplink_config(
        "narrow", mqtt_broker.port, topic_prefix="narrow/ugs/v1", share={"classes": ["vehicle"]}
    )
    partner = Collector(mqtt_broker.host, mqtt_broker.port, "share-narrow", ["narrow/#"]).start()
    other = Collector(mqtt_broker.host, mqtt_broker.port, "share-wide", ["wide/#"]).start()
    try:
        with unit(tmp_path, [wide, narrow]) as u:
            u.detect("vehicle")
            u.detect("footstep", "footstep", flags=("clipped",))
            u.health.publish()
            u.detect("vehicle", "footstep")
            u.health.publish()
            footsteps = [r["id"] for r in u.stored if r["class"] == "footstep"]
            vehicles = [r["id"] for r in u.stored if r["class"] == "vehicle"]
            partner.wait_ids(set(vehicles), 10)
            other.wait_ids(set(vehicles + footsteps), 10)
            # The uplink sends statuses from its own thread: wait for the one published
            # after the last vehicle (stopping may replace a status still queued).
            wait_until(
                lambda: _naming(partner, vehicles[-1]), 10, "the status after the last vehicle"
            )
        wait_until(
            lambda: any(s["status"].get("state") == "stopped" for s in partner.statuses
                        if isinstance(s["status"], dict)), 10, "the final status",
        )  # fmt: skip
        seen = everything_seen(partner)
    finally:
        partner.close()
        other.close()
    # Not one excluded report, in any message: neither sent nor named by a status.
    assert partner.ids() == set(vehicles)
    for report_id in footsteps:
        assert report_id not in seen
    assert "footstep" not in seen
    # Nothing of the other partner: not its name, topic, broker or queue.
    assert "wide" not in seen
    # Its own status: its link, its queue, its last detection (a vehicle).
    last = _naming(partner, vehicles[-1])[-1]
    assert set(last["uplinks"]) == {"narrow"}
    assert last["outbox"]["uplink"]["pending"] is not None
    assert "detector" not in last["pipeline"] and "detections" not in last["pipeline"]
    # Only the documented fields went out: not the flags the pipeline added.
    with other.lock:
        flagged = [json.loads(p) for _, p in other.raw if b"footstep" in p]
    assert flagged and all("flags" not in r for r in flagged)
    assert all(set(r) <= {*list(r)[:11], "features", "loc", "clock", "model"} for r in flagged)
    # The model is a documented field: in every report and status by default.
    assert all(r["model"] == "gbt-stub@0a1b2c3d" for r in flagged)
    assert last["model"] == {"name": "gbt-stub", "hash": "0a1b2c3d"} and "mode" in last


def test_a_filter_narrowed_after_the_reports_were_queued_holds_them_back(
    tmp_path: Path, make_broker: Any
) -> None:
    broker = make_broker()
    port = broker.port
    # The partner's broker is down while the unit stores reports of both classes for it.
    broker.stop()
    before = uplink_config("partner", port)
    with unit(tmp_path, [before]) as u:
        u.detect("footstep", "vehicle", "footstep", "vehicle", "footstep")
        queued = {r["id"]: r["class"] for r in u.stored}
    assert len(queued) == 5
    # A restart with the filter narrowed to vehicles, the broker back.
    broker.start()
    partner = Collector(broker.host, port, "share-after", ["ugs/v1/#"]).start()
    after = uplink_config("partner", port, share={"classes": ["vehicle"], "fields": []})
    try:
        with unit(tmp_path, [after]) as u:
            u.detect("vehicle", "footstep")
            u.health.publish()
            vehicles = [i for i, c in queued.items() if c == "vehicle"]
            vehicles += [r["id"] for r in u.stored if r["class"] == "vehicle"]
            partner.wait_ids(set(vehicles), 15)
            wait_until(lambda: u.outbox.pending_count("partner") == 0, 10, "the backlog")
            stats = u.outbox.stats()
            footsteps = [i for i, c in queued.items() if c == "footstep"]
            # The new footstep is stored for nobody: no uplink's filter takes it.
            assert not [r for r in u.stored if r["class"] == "footstep"]
            wait_until(lambda: len(partner.statuses) >= 1, 10, "a status")
        seen = everything_seen(partner)
        reports = list(partner.reports)
    finally:
        partner.close()
    assert partner.ids() == set(vehicles)
    assert not any(report_id in seen for report_id in footsteps)
    assert "footstep" not in seen
    # The queued footsteps were let go for this partner without sending, and counted.
    assert stats["uplinks"]["partner"]["filtered"] == 3
    assert stats["depth"] == 0
    # fields = []: neither location nor features.
    assert all("loc" not in r and "features" not in r for r in reports)
