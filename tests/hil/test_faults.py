"""The fault switchboard: armed faults are consumed exactly as many times as asked."""

from __future__ import annotations

import threading
import time

import pytest

from hil.emulators.faults import Faults


def test_next_n_faults_count_down_and_are_recorded() -> None:
    faults = Faults()
    faults.corrupt_next(2)
    faults.drop_next()
    assert [faults.take_corrupt() for _ in range(3)] == [True, True, False]
    assert [faults.take_drop() for _ in range(2)] == [True, False]
    assert faults.injected["corrupted"] == 2 and faults.injected["dropped"] == 1


def test_garbage_is_handed_out_once() -> None:
    faults = Faults()
    faults.inject_garbage(b"\x01\x02")
    faults.inject_garbage(5)
    data = faults.take_garbage()
    assert data[:2] == b"\x01\x02" and len(data) == 7
    assert faults.take_garbage() == b""
    assert faults.injected["garbage_bytes"] == 7


def test_modbus_exceptions_queue_in_order() -> None:
    faults = Faults()
    faults.modbus_exception(4, n=2)
    faults.modbus_exception(6)
    assert [faults.take_exception() for _ in range(4)] == [4, 4, 6, None]
    with pytest.raises(ValueError):
        faults.modbus_exception(0)


def test_timed_stall_ends_by_itself_and_resume_ends_it_early() -> None:
    faults = Faults()
    faults.stall(0.05)
    assert faults.stalled
    deadline = time.monotonic() + 2
    while faults.stalled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not faults.stalled
    faults.stall()
    assert faults.stalled
    faults.resume()
    assert not faults.stalled


def test_flags_listeners_and_clear() -> None:
    faults = Faults()
    seen = threading.Event()
    faults.on_change(lambda f: seen.set() if not f.plugged else None)
    faults.unplug()
    assert seen.is_set() and not faults.plugged
    faults.silent(True)
    faults.reply_delay(0.3)
    faults.reboot()
    assert faults.is_silent and faults.delay == 0.3
    faults.clear()
    assert faults.plugged and not faults.is_silent and faults.delay == 0
    assert not faults.take_reboot()


def test_a_failing_listener_does_not_break_the_caller() -> None:
    faults = Faults()

    def broken(_: Faults) -> None:
        raise RuntimeError("boom")

    faults.on_change(broken)
    faults.drop_next()
    assert faults.take_drop()
