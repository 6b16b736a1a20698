"""`ugs-gateway run` stops on SIGTERM whichever of its threads the kernel hands it to.

The kernel may deliver a signal sent to the process to any thread that does not block it;
Python runs the handler in the main thread only, when that thread next runs. A main thread
asleep until its handler wakes it would then sleep on, and systemd would kill the unit
after its stop timeout instead of letting it store the detections in flight.
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

import pytest

from tests.gateway.service_rig import STARTUP_S, Bench
from tests.notify import Collector


def _to_thread(pid: int, tid: int, signum: int) -> None:
    """Send ``signum`` to one thread of another process (tgkill(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "tgkill"):
        pytest.skip("this C library has no tgkill")
    if libc.tgkill(pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def test_signals_to_a_worker_thread_reload_and_stop_the_unit(
    tmp_path: Path, notify: Collector
) -> None:
    bench = Bench(tmp_path, node="signal-0001", broker=None, kinds=("seismic",))
    proc = bench.run_gateway(NOTIFY_SOCKET=notify.address)
    try:
        notify.wait_for("READY=1", timeout=STARTUP_S)
        workers = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        assert workers, "the service runs its sensors and pipeline in threads of their own"
        # `systemctl reload`: the config is read again and the unit says it is ready.
        seen = len(notify.messages)
        _to_thread(proc.pid, workers[0], signal.SIGHUP)
        notify.wait_for("RELOADING=1", timeout=10, after=seen)
        notify.wait_for("READY=1", timeout=10, after=seen)
        # `systemctl stop`: a clean stop, the detections in flight stored.
        _to_thread(proc.pid, workers[-1], signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "stop requested" in bench.log_path.read_text()
    finally:
        bench.close()
