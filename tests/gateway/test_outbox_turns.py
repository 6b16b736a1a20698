"""The outbox's lock lets a waiting store in before the background copy's next batch."""

from __future__ import annotations

import threading
import time

from gateway.outbox.turns import OutboxLock
from tests.gateway.mqtt_collect import wait_until


def test_a_waiting_caller_goes_before_the_next_background_turn() -> None:
    lock = OutboxLock()
    turns = 0
    first_turn_may_end = threading.Event()
    stop = threading.Event()

    def copy() -> None:  # turn after turn, as the copy out of a damaged file takes them
        nonlocal turns
        while not stop.is_set():
            with lock.background():
                turns += 1
                if turns == 1:
                    first_turn_may_end.wait(10)

    seen: list[int] = []

    def store() -> None:
        with lock:
            seen.append(turns)

    copier = threading.Thread(target=copy)
    copier.start()
    storer = threading.Thread(target=store)
    try:
        wait_until(lambda: turns == 1, 10, "the copy's first turn")
        storer.start()
        wait_until(lambda: lock.waiting == 1, 10, "the store to ask for the lock")
        first_turn_may_end.set()
        storer.join(10)
    finally:
        first_turn_may_end.set()
        stop.set()
        copier.join()
    # The store got the lock after the turn under way, before the next one.
    assert seen == [1]
    assert lock.waiting == 0


def test_a_caller_that_keeps_coming_back_does_not_stop_the_background_turns() -> None:
    lock = OutboxLock()
    copied = threading.Event()

    def copy() -> None:
        for _ in range(50):
            with lock.background():
                pass
        copied.set()

    copier = threading.Thread(target=copy)
    copier.start()
    deadline = time.monotonic() + 20  # 50 turns each held up for its patience would be 250 s
    while not copied.is_set() and time.monotonic() < deadline:
        with lock:  # a store after a store, as fast as they come
            pass
    assert copied.is_set()
    copier.join()


def test_the_lock_is_reentrant_and_the_background_turn_comes_when_it_is_free() -> None:
    lock = OutboxLock()
    with lock, lock:
        pass
    done = threading.Event()

    def copy() -> None:
        with lock.background():
            done.set()

    with lock:
        copier = threading.Thread(target=copy)
        copier.start()
        assert not done.wait(0.05)  # held by this thread
    assert done.wait(5)
    copier.join()
