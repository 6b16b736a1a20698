"""`ugs-gateway demo`: emulators, the real gateway and a command post, scored against truth."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

import gateway.demo
from gateway.cli import main
from gateway.demo import DemoOptions, run_demo


def _lines(out: str, word: str) -> list[str]:
    return [line for line in out.splitlines() if word in line]


@pytest.mark.slow
def test_demo_prints_each_detection_next_to_the_truth() -> None:
    # Seed 2 opens with a runner at 6 m (17-35 s of scenario); at 2x it ends in ~20 s.
    out = io.StringIO()
    code = run_demo(DemoOptions(duration_s=36, speed=2.0, seed=2), out=out)
    text = out.getvalue()
    assert code == 0, text
    assert "local mosquitto" in text
    detections = _lines(text, "DETECTION")
    assert detections, text
    assert any("footstep" in line and "runner" in line and "✓" in line for line in detections)
    received = re.search(
        r"stored in the outbox this run: (\d+), received by the command post: (\d+)", text
    )
    assert received and received.group(1) == received.group(2), text
    assert re.search(r"footstep\s+1 of 1 detected", text), text
    # The command post's status line says what its share of the status holds: the latest
    # report it was given, not a count of detections the share does not carry.
    assert re.search(r"status .*last detection demo-\S+", text), text
    assert " 0 detections" not in text, text
    for name in ("geo1", "pir1", "mag1"):
        samples = re.search(rf"{name}: (\d+) samples", text)
        assert samples and int(samples.group(1)) > 0, text


def test_demo_without_a_broker_stores_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one thing no real peer can give: a machine without the mosquitto binary.
    monkeypatch.setattr(gateway.demo, "find_mosquitto", lambda: None)
    out = io.StringIO()
    stop = threading.Event()

    def interrupt_once_all_sensors_are_up() -> None:
        # Ctrl-C as a user would: once the unit's own status says every sensor delivers.
        deadline = time.monotonic() + 120.0
        while "sensors 3/3 ok" not in out.getvalue() and time.monotonic() < deadline:
            stop.wait(0.1)
        stop.set()

    watcher = threading.Thread(target=interrupt_once_all_sensors_are_up, daemon=True)
    watcher.start()
    try:
        code = run_demo(DemoOptions(duration_s=0), out=out, stop=stop)
    finally:
        stop.set()
        watcher.join()
    text = out.getvalue()
    assert code == 0, text
    assert "reports are only stored" in text
    assert "sensors 3/3 ok" in text  # without a broker, the unit's own status is shown
    assert "received by the command post" not in text
    assert "summary over" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "-1"], "--duration"),
        (["--speed", "0"], "--speed"),
        (["--scenario", "carnival"], "unknown scenario"),
        (["--broker", "host:99999"], "port"),
    ],
)
def test_demo_refuses_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", *args]) == 2
    assert message in capsys.readouterr().err
