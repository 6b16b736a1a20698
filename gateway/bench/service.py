"""The running service, measured the way a field unit runs it.

Starts the three emulators in their own process (`ugs-gateway hil`, so their CPU is not
counted), a local mosquitto, a subscriber standing in for the command post, and
`ugs-gateway run` with a real sd_notify socket. Reports, as JSON:

- ``ready_s``: from starting the process to READY=1 (Numba cache warmed first);
- ``cpu_share``: the service's CPU over the run after the first 30 s, as a share of one core;
- ``rss_mb`` / ``rss_anon_mb``: resident memory sampled every 10 s (start of the steady
  state, peak, end); anonymous memory is the process's own, the rest is shared library code;
- ``latency_s``: from the end of each detected event (the report's t1) to its arrival at the
  subscriber, and the same beyond the detector's own windows (``dsp.windows.latency_window_s``).

    .venv/bin/python -m gateway.bench.service --minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dsp.config import DspConfig
from dsp.windows import latency_window_s
from gateway.detection_report import parse_time
from gateway.health.system import memory_bytes
from gateway.local_broker import LocalBroker
from gateway.subscriber import Subscriber
from gateway.uplinks import mqtt_client as mq

STEADY_AFTER_S = 30.0


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_memory_mb(pid: int) -> tuple[float, float]:
    found = memory_bytes(pid, ("VmRSS", "RssAnon"))
    return (found["VmRSS"] or 0) / 1024**2, (found["RssAnon"] or 0) / 1024**2


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--scenario", default="patrol")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    duration = args.minutes * 60.0
    exe = [sys.executable, "-m", "gateway.cli"]
    subprocess.run([*exe, "warmup"], check=True, capture_output=True)

    with tempfile.TemporaryDirectory(prefix="ugs-bench-") as tmp, LocalBroker() as broker:
        work = Path(tmp)
        config = work / "gateway.toml"
        hil = subprocess.Popen(
            [*exe, "hil", "--scenario", args.scenario, "--seed", str(args.seed),
             "--duration", str(duration + 60), "--write-config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=work,
        )  # fmt: skip
        assert hil.stdout is not None
        for line in hil.stdout:
            if line.startswith("running"):
                break
        text = config.read_text().replace('state_dir = "hil-state"', f'state_dir = "{work}/state"')
        text += (
            f'\n[[uplinks]]\nname = "command-post"\nhost = "{broker.host}"\n'
            f"port = {broker.port}\ntls = false\n\n[health]\ninterval_s = 10\n"
        )
        config.write_text(text)

        arrivals: list[tuple[float, dict[str, Any]]] = []
        settings = mq.LinkSettings(
            label="bench", host=broker.host, port=broker.port, client_id="bench-cp",
            clean_session=True,
        )  # fmt: skip
        subscriber = Subscriber(
            settings,
            ["ugs/v1/+/+/detection"],
            lambda report: arrivals.append((time.time(), report)),
        )
        threading.Thread(target=subscriber.run, daemon=True).start()

        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(work / "notify.sock"))
        env = dict(os.environ, NOTIFY_SOCKET=str(work / "notify.sock"))
        started = time.monotonic()
        run = subprocess.Popen([*exe, "run", "-c", str(config)], env=env, stderr=subprocess.DEVNULL)
        notify.settimeout(60)
        while b"READY=1" not in notify.recv(4096):
            pass
        ready_s = time.monotonic() - started
        notify.setblocking(False)

        rss: list[tuple[float, float]] = []
        cpu0: float | None = None
        wall0 = 0.0
        end = started + duration
        while time.monotonic() < end:
            time.sleep(10.0)
            try:
                while notify.recv(4096):
                    pass  # read like systemd does
            except BlockingIOError:
                pass
            now = time.monotonic()
            if now - started >= STEADY_AFTER_S:
                if cpu0 is None:
                    cpu0, wall0 = proc_cpu_s(run.pid), now
                rss.append(proc_memory_mb(run.pid))
        cpu_share = (proc_cpu_s(run.pid) - cpu0) / (time.monotonic() - wall0) if cpu0 else None
        run.terminate()
        run.wait(30)
        subscriber.stop()
        hil.terminate()
        hil.wait(30)

    dsp = DspConfig()
    window = round(latency_window_s(dsp), 2)
    latency = [at - parse_time(report["t1"]) for at, report in arrivals]
    beyond = [value - window for value in latency]
    result = {
        "minutes": args.minutes,
        "scenario": args.scenario,
        "ready_s": round(ready_s, 2),
        "cpu_share": round(cpu_share, 4) if cpu_share is not None else None,
        "rss_mb": {
            "steady_start": round(rss[0][0], 1) if rss else None,
            "peak": round(max(r[0] for r in rss), 1) if rss else None,
            "end": round(rss[-1][0], 1) if rss else None,
        },
        "rss_anon_mb": {
            "steady_start": round(rss[0][1], 1) if rss else None,
            "peak": round(max(r[1] for r in rss), 1) if rss else None,
            "end": round(rss[-1][1], 1) if rss else None,
        },
        "detections": len(arrivals),
        "detector_window_s": window,
        "latency_s": {"p50": percentile(latency, 0.5), "p95": percentile(latency, 0.95)},
        "latency_beyond_window_s": {
            "p50": percentile(beyond, 0.5),
            "p95": percentile(beyond, 0.95),
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
