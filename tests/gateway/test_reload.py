"""SIGHUP (`systemctl reload`): sensors and thresholds change, the outbox and boot do not,
and a broken config is refused while the unit keeps running on the old one."""

from __future__ import annotations

import signal
from pathlib import Path

from dsp.classifier import load_model
from tests.broker import Broker
from tests.gateway.service_rig import STARTUP_S, Bench, CommandPost
from tests.notify import Collector


def status_of(post: CommandPost, name: str) -> str | None:
    status = post.last_status() or {}
    return status.get("sensors", {}).get(name, {}).get("state")


def test_reload_applies_sensor_changes_and_refuses_a_broken_config(
    tmp_path: Path, mqtt_broker: Broker, notify: Collector
) -> None:
    bench = Bench(
        tmp_path,
        node="reload-0001",
        broker=(mqtt_broker.host, mqtt_broker.port),
        kinds=("seismic", "pir"),
    )
    post = CommandPost(mqtt_broker.host, mqtt_broker.port, bench.site, bench.node)
    proc = bench.run_gateway(NOTIFY_SOCKET=notify.address)
    try:
        notify.wait_for("READY=1", timeout=STARTUP_S)
        post.wait(lambda p: status_of(p, "pir1") == "ok", 20, "the PIR reading")
        boot = (post.last_status() or {})["boot"]
        original = bench.config.read_text()

        # Take the PIR out of service.
        bench.config.write_text(original.replace('name = "pir1"', 'name = "pir1"\nenabled = false'))
        seen = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", timeout=10, after=seen)
        notify.wait_for("READY=1", timeout=10, after=seen)
        # The sensors restart with the new config (the geophone after a moment "starting").
        post.wait(
            lambda p: status_of(p, "pir1") == "stopped" and status_of(p, "geo1") == "ok",
            15,
            "the PIR disabled, the geophone reading",
        )
        status = post.last_status() or {}
        assert status["state"] == "ok", status.get("problems")
        assert status["boot"] == boot  # same process, same outbox: no new boot
        # The watchdog no longer watches a reader that is not there.
        assert status["watchdog"]["probes"] == ["pipeline", "reader geo1"]

        # The unit turns out to stand on a floor: one line, and it runs the floor model.
        floor = load_model(None, "floor")
        assert status["model"]["hash"] != floor.digest
        on_floor = bench.config.read_text() + '\n[dsp.classifier]\ninstallation = "floor"\n'
        bench.config.write_text(on_floor)
        seen = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", timeout=10, after=seen)
        post.wait(
            lambda p: (p.last_status() or {}).get("model", {}).get("hash") == floor.digest,
            15,
            "the status naming the floor model",
        )
        assert (post.last_status() or {})["model"]["name"] == floor.name

        # A config that does not validate is refused; the unit carries on as it was.
        bench.config.write_text(original.replace("sample_rate = 500", "sample_rate = -1"))
        seen = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1", timeout=10, after=seen)
        post.wait(lambda p: status_of(p, "geo1") == "ok", 10, "the geophone still reading")
        assert proc.poll() is None
        assert status_of(post, "pir1") == "stopped"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        # Nothing in the journal a technician would have to explain: no error, no traceback.
        log = bench.log_path.read_text()
        assert "Traceback" not in log and "ERROR gateway.pipeline" not in log, log
    finally:
        post.close()
        bench.close()
    log_text = bench.log_path.read_text()
    assert "reload refused: sensors[0].sample_rate" in log_text, log_text[-2000:]
    assert "sensors restarted" in log_text
