"""`ugs-gateway run` end to end: real emulators, the real service, a real mosquitto.

One long test follows a unit through its day: it starts (READY), reports a passing runner
with the right class, loses a sensor (USB adapter unplugged) and shows it degraded while
the other sensors keep reporting, gets it back, and on SIGTERM stores the event that was
still in progress and says "stopped".
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from drivers.block import SampleBlock
from dsp.classifier import Model
from dsp.records import Detection
from gateway.config import load_config
from gateway.health.sdnotify import Notifier
from gateway.service import Service
from tests.broker import Broker
from tests.gateway.service_rig import STARTUP_S, Bench, CommandPost
from tests.notify import Collector


def sensor_state(status: dict[str, Any] | None, name: str) -> str | None:
    if not status:
        return None
    return status.get("sensors", {}).get(name, {}).get("state")


def samples(status: dict[str, Any] | None, name: str) -> int:
    if not status:
        return 0
    return int(status.get("sensors", {}).get(name, {}).get("samples") or 0)


@pytest.mark.slow
def test_a_field_unit_day(tmp_path: Path, mqtt_broker: Broker, notify: Collector) -> None:
    # The demo scenario with seed 2: a runner at 6 m (17-35 s), then a car at 54 m (38-66 s).
    bench = Bench(
        tmp_path,
        node="svc-0001",
        broker=(mqtt_broker.host, mqtt_broker.port),
        duration_s=75,
        extra='\n[record]\nmode = "snippets"\npre_s = 5\npost_s = 2\n',
    )
    post = CommandPost(mqtt_broker.host, mqtt_broker.port, bench.site, bench.node)
    proc = bench.run_gateway(NOTIFY_SOCKET=notify.address, WATCHDOG_USEC="2000000")
    try:
        ready = notify.wait_for("READY=1", timeout=STARTUP_S)
        assert any(line.startswith("STATUS=") for line in ready)
        notify.wait_for("WATCHDOG=1", timeout=5)

        # The runner: reported as footsteps, by the geophone at least.
        post.wait(lambda p: any(d["class"] == "footstep" for d in p.detections), 40, "the runner")
        runner = next(d for d in post.detections if d["class"] == "footstep")
        assert "geo1" in runner["sensors"]
        assert runner["id"].startswith("svc-0001-1-")
        post.wait(
            lambda p: sensor_state(p.last_status(), "pir1") == "ok", 10, "the PIR reported ok"
        )

        # The PIR's adapter is unplugged: degraded, while the geophone keeps delivering.
        bench.station.faults("pir1").unplug()
        post.wait(
            lambda p: "sensor pir1" in ((p.last_status() or {}).get("problems") or {}),
            15,
            "the PIR reported degraded",
        )
        degraded = post.last_status()
        assert degraded is not None and degraded["state"] == "degraded"
        before = samples(degraded, "geo1")
        post.wait(lambda p: samples(p.last_status(), "geo1") > before + 500, 10, "geo1 going on")
        bench.station.faults("pir1").replug()
        post.wait(
            lambda p: (
                (p.last_status() or {}).get("state") == "ok"
                and sensor_state(p.last_status(), "pir1") == "ok"
            ),
            30,
            "the PIR back to ok",
        )

        # SIGTERM while the car passes: its event is flushed, stored and delivered.
        while time.time() - bench.started < 55:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        post.wait(
            lambda p: any(d["class"] == "vehicle" for d in p.detections),
            10,
            "the car, flushed at stop",
        )
        post.wait(lambda p: (p.last_status() or {}).get("state") == "stopped", 10, "final status")
        ids = [d["id"] for d in post.detections]
        seqs = sorted(int(i.rsplit("-", 1)[1]) for i in ids)
        assert seqs == list(range(1, len(seqs) + 1)), ids  # nothing lost, no gaps
        assert notify.count("STOPPING=1") == 1
        # Field recording: a miniSEED snippet around each detection, named by its id.
        snippets = sorted(p.stem for p in (bench.state_dir / "recordings").glob("*.mseed"))
        assert snippets == sorted(ids)
    finally:
        post.close()
        bench.close()
        print(bench.log_path.read_text()[-3000:])
        print("last status:", post.last_status())
        print("statuses:", len(post.statuses))


class _WedgedDetector:
    """A detector stuck inside feed(), as a Numba kernel in an endless loop would be."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.model = Model.untrained()

    def feed(self, sensor: str, t0: float, data: Any, gap: int = 0) -> list[Detection]:
        self.entered.set()
        self.release.wait()
        return []

    def pop_flags(self) -> list[Any]:
        return []

    def flush(self) -> list[Detection]:
        return []

    def status(self) -> dict[str, Any]:
        return {}


def test_watchdog_stops_when_the_pipeline_is_wedged(tmp_path: Path, notify: Collector) -> None:
    bench = Bench(
        tmp_path,
        node="wd-0001",
        broker=None,
        kinds=("seismic",),
        extra="watchdog_stale_s = 2\n",
    )
    notifier = Notifier(env={"NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "1000000"})
    service = Service(load_config(bench.config), notifier=notifier)
    wedged = _WedgedDetector()
    try:
        service.start()
        notify.wait_for("READY=1", timeout=STARTUP_S)
        notify.wait_for("WATCHDOG=1", timeout=5)
        service.pipeline.swap_detector(wedged)  # type: ignore[arg-type]
        assert wedged.entered.wait(10)
        # Pings stop once the pipeline has made no progress for watchdog_stale_s.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "thread pipeline" in service.health.snapshot()["problems"]:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the wedged pipeline never showed in the status")
        pings = notify.count("WATCHDOG=1")
        time.sleep(2.5)  # more than two watchdog periods: no ping may come
        assert notify.count("WATCHDOG=1") == pings
    finally:
        wedged.release.set()
        service.stop(timeout=5)
        bench.close()


def test_stop_processes_queued_blocks_and_stores_their_detections(tmp_path: Path) -> None:
    """Blocks already queued when the service stops are processed and their detections
    stored, even with no uplink to send them to."""
    bench = Bench(tmp_path, node="term-0001", broker=None, kinds=("seismic",))
    service = Service(load_config(bench.config))
    bench.close()  # no live sensor: this test feeds a recorded event by hand
    rec = bench.playback
    source = rec.sources["seismic"]
    counts = source.read(0, round(25 * source.rate))
    scale = rec.calibration["seismic"]["scale"]
    t0 = time.time() - 25.0
    try:
        service.start()
        step = 250
        for i in range(0, len(counts), step):
            block = SampleBlock(
                "geo1", "seismic", source.rate, t0 + i / source.rate, i,
                np.ascontiguousarray(counts[i : i + step]), scale=scale,
            )  # fmt: skip
            service.pipeline.submit(block)
    finally:
        final = service.stop(timeout=20)
    assert final["pipeline"]["blocks"] == -(-len(counts) // step)
    assert final["pipeline"]["stored"] >= 1
    assert final["outbox"]["depth"] == final["pipeline"]["stored"]
    assert final["state"] == "stopped"


def test_blocks_of_a_sensor_the_detector_has_not_are_dropped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver a reload is taking out may still deliver a block or two after the detector
    was rebuilt without it: they are dropped with a word, not an error per block, and the
    unit goes on with the sensors it has."""
    bench = Bench(tmp_path, node="drop-0001", broker=None, kinds=("seismic",))
    service = Service(load_config(bench.config))
    bench.close()  # no live sensor: the blocks are fed by hand
    t0 = time.time() - 10.0
    try:
        service.start()
        for i in range(5):
            for name, kind, rate in (("pir1", "pir", 50.0), ("geo1", "seismic", 500.0)):
                n = round(rate)
                data = np.zeros((n, 1), dtype=np.int32)
                service.pipeline.submit(SampleBlock(name, kind, rate, t0 + i, i * n, data))
    finally:
        final = service.stop(timeout=20)
    assert final["pipeline"]["last_error"] is None
    assert final["pipeline"]["blocks"] == 5  # the geophone's
    dropped = [
        r for r in caplog.records if "pir1" in r.getMessage() and "dropped" in r.getMessage()
    ]
    assert len(dropped) == 1 and dropped[0].levelname == "WARNING"
