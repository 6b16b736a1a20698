"""sd_notify and the progress-gated watchdog, against a real AF_UNIX datagram socket."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.health.sdnotify import Notifier, Probe, Watchdog, notify, watchdog_interval
from tests.notify import Listener


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Listener]:
    lst = Listener(str(tmp_path / "notify.sock"))
    yield lst
    lst.close()


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    lst = Listener(f"@ugs-gateway-test-{os.getpid()}-{uuid.uuid4().hex}")
    yield lst
    lst.close()


def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_ready_and_status_arrive_in_one_datagram(listener: Listener) -> None:
    with Notifier(env={"NOTIFY_SOCKET": listener.address}) as notifier:
        assert notifier.enabled
        assert notifier.ready("3 sensors open")
        assert listener.recv() == ["READY=1", "STATUS=3 sensors open"]
        assert notifier.status("geo1 degraded:\nno reply")
        # A newline would start a new assignment: the summary stays one line.
        assert listener.recv() == ["STATUS=geo1 degraded: no reply"]


def test_abstract_socket_address(abstract_listener: Listener) -> None:
    with Notifier(env={"NOTIFY_SOCKET": abstract_listener.address}) as notifier:
        assert notifier.ready()
        assert abstract_listener.recv() == ["READY=1"]
        assert notifier.stopping("storing 2 detections in flight")
        assert abstract_listener.recv() == ["STOPPING=1", "STATUS=storing 2 detections in flight"]


def test_module_notify_uses_environment(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    assert notify("READY=1", "STATUS=up")
    assert listener.recv() == ["READY=1", "STATUS=up"]


def test_reloading_carries_the_monotonic_clock(listener: Listener) -> None:
    with Notifier(env={"NOTIFY_SOCKET": listener.address}) as notifier:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert notifier.reloading()
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        fields = listener.recv()
        assert fields[0] == "RELOADING=1"
        key, value = fields[1].split("=")
        assert key == "MONOTONIC_USEC"
        assert before <= int(value) <= after
        assert notifier.extend_timeout(90)
        assert listener.recv() == ["EXTEND_TIMEOUT_USEC=90000000"]


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert not notifier.ready("x")
    assert not notifier.watchdog()
    assert notifier.watchdog_interval is None
    notifier.close()


def test_a_vanished_manager_is_logged_once_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Notifier(env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) as notifier:
        caplog.set_level(logging.WARNING, logger="gateway.health.sdnotify")
        assert not notifier.status("a")
        assert not notifier.status("b")
    warnings = [r for r in caplog.records if "cannot notify" in r.message]
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        # Inherited by a child: not meant for this process.
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "thirty"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env) == expected


def test_watchdog_pings_while_progressing_and_stops_when_wedged(
    listener: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.health.sdnotify")
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"}
    blocks = [0]
    reader_seen = [time.monotonic()]
    progressing = threading.Event()
    progressing.set()
    done = threading.Event()

    def pipeline() -> None:
        while not done.wait(0.02):
            if progressing.is_set():
                blocks[0] += 1
                reader_seen[0] = time.monotonic()

    worker = threading.Thread(target=pipeline, daemon=True)
    worker.start()
    notifier = Notifier(env=env)
    watchdog = Watchdog(
        notifier,
        [
            Probe("pipeline", lambda: blocks[0], stale_after=0.3),
            Probe("reader geo1", lambda: reader_seen[0], stale_after=0.3, kind="timestamp"),
        ],
    )
    assert watchdog.period == pytest.approx(0.1)
    try:
        watchdog.start()
        for _ in range(3):
            assert listener.recv() == ["WATCHDOG=1"]

        progressing.clear()  # both threads wedge
        wait_for(lambda: set(watchdog.status()["wedged"]) == {"pipeline", "reader geo1"})
        listener.drain()
        with pytest.raises(TimeoutError):
            listener.recv(timeout=0.5)  # five periods: not a single ping
        wedged_logs = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("pipeline" in m for m in wedged_logs)
        assert any("reader geo1" in m for m in wedged_logs)

        progressing.set()  # it recovers before systemd gave up: pings resume
        assert listener.recv() == ["WATCHDOG=1"]
        assert watchdog.status()["wedged"] == {}
    finally:
        watchdog.stop()
        done.set()
        worker.join()
        notifier.close()


def test_one_wedged_probe_is_enough_to_stop_pinging(listener: Listener) -> None:
    now = [100.0]
    counter = [0]
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "10000000"}
    with Notifier(env=env) as notifier:
        watchdog = Watchdog(
            notifier,
            [
                Probe("pipeline", lambda: counter[0], stale_after=5),
                Probe("reader pir1", lambda: 98.0, stale_after=5, kind="timestamp"),
            ],
            clock=lambda: now[0],
        )
        assert watchdog.tick()
        assert listener.recv() == ["WATCHDOG=1"]
        now[0] = 103.0
        counter[0] += 1
        assert watchdog.check() == {}
        # The pipeline still counts, but the reader's last sample is 5.5 s old.
        now[0] = 103.5
        counter[0] += 1
        assert watchdog.check() == {"reader pir1": 5.5}
        assert not watchdog.tick()
        with pytest.raises(TimeoutError):
            listener.recv(timeout=0.1)


def test_idle_probes_are_not_judged_and_get_grace_when_they_resume() -> None:
    now = [0.0]
    value: list[float | None] = [None]
    watchdog = Watchdog(
        Notifier(env={}),
        [Probe("reader mag1", lambda: value[0], stale_after=5)],
        interval=10,
        clock=lambda: now[0],
    )
    assert watchdog.check() == {}
    now[0] = 60.0
    assert watchdog.check() == {}  # disabled sensor: a minute of silence is fine
    value[0] = 7
    now[0] = 64.0
    assert watchdog.check() == {}
    now[0] = 70.0
    assert watchdog.check() == {"reader mag1": 6.0}


def test_a_failing_probe_counts_as_no_progress(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    broken = [False]

    def read() -> float:
        if broken[0]:
            raise RuntimeError("probe bug")
        return 1.0

    watchdog = Watchdog(
        Notifier(env={}), [Probe("pipeline", read, stale_after=2)], clock=lambda: now[0]
    )
    assert watchdog.check() == {}
    broken[0] = True
    now[0] = 1.0
    assert watchdog.check() == {}
    now[0] = 3.0
    assert watchdog.check() == {"pipeline": 3.0}
    assert "probe bug" in caplog.text


def test_probes_can_be_replaced_and_removed_on_reload() -> None:
    now = [0.0]
    watchdog = Watchdog(
        Notifier(env={}), [Probe("reader old", lambda: 1, stale_after=1)], clock=lambda: now[0]
    )
    watchdog.check()
    now[0] = 5.0
    assert "reader old" in watchdog.check()
    watchdog.remove("reader old")
    watchdog.add(Probe("reader new", lambda: 1, stale_after=1))
    assert watchdog.check() == {}
    assert watchdog.status()["probes"] == ["reader new"]


def test_no_pings_without_a_watchdog_interval(listener: Listener) -> None:
    # WATCHDOG_PID names another process: the interval is not ours to honour.
    env = {"NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    with Notifier(env=env) as notifier:
        watchdog = Watchdog(notifier, [Probe("pipeline", lambda: 1, stale_after=1)])
        assert watchdog.interval is None
        assert not watchdog.tick()
        with pytest.raises(TimeoutError):
            listener.recv(timeout=0.1)


def test_probe_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="stale_after"):
        Probe("x", lambda: 1, stale_after=0)
    with pytest.raises(ValueError, match="kind"):
        Probe("x", lambda: 1, kind="clock")  # type: ignore[arg-type]


def test_a_manager_that_does_not_read_never_blocks_the_sender(listener: Listener) -> None:
    # The health and watchdog threads notify; a full queue must cost a message, not a hang.
    notifier = Notifier(socket_path=listener.address)
    done = threading.Event()

    def flood() -> None:
        for i in range(2000):
            notifier.status(f"message {i}")
        done.set()

    threading.Thread(target=flood, daemon=True).start()
    assert done.wait(10), "sending blocked on a full notification queue"
    assert notifier.dropped > 0
    assert listener.drain()  # what fitted in the queue did arrive
    notifier.close()
