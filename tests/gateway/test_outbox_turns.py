"""The outbox's lock lets a waiting store in before the background copy's next batch."""

from __future__ import annotations

import threading
import time

from gateway.outbox.turns import OutboxLock


def test_a_waiting_caller_goes_before_the_next_background_turn() -> None:
    lock = OutboxLock()
    turns = 0
    stop = threading.Event()

    def copy() -> None:  # batch after batch, as the copy out of a damaged file does
        nonlocal turns
        while not stop.is_set():
            with lock.background():
                turns += 1
                stop.wait(0.002)  # a batch's work, done holding the lock

    copier = threading.Thread(target=copy)
    copier.start()
    waited = []
    try:
        for _ in range(200):
            before = turns
            with lock:
                waited.append(turns - before)
    finally:
        stop.set()
        copier.join()
    # The turn under way when the caller came, and at most one that began just before it
    # asked; never a run of them.
    assert max(waited) <= 2, waited


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
