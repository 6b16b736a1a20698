"""Emulated sensors read by the real drivers, with live readings on the terminal.

Starts the three emulators of `ugs-gateway hil` (seismic digitizer on a pty, PIR on Modbus
RTU over a pty, magnetometer on Modbus TCP) and the gateway's real drivers against them, then
prints one line per sensor per second: its state, the samples received, the signal's level
(the size of its mean, e.g. |B| for the magnetometer) and its RMS and peak around that mean,
in the sensor's calibrated units. Ends with a summary of each
sensor's health counters.

--duration 0 runs until Ctrl-C. Exits 0 when every sensor delivered samples, 1 otherwise.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from drivers.block import SampleBlock
    from drivers.config import SensorConfig

NAME = "demo"
HELP = "run emulated sensors against the real drivers and print live readings"
ORDER = 20

SUMMARY_COUNTERS = (
    "frames_ok", "polls_ok", "crc_errors", "resyncs", "gaps", "samples_lost", "timeouts",
    "reconnects", "reanchors",
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds to run (default 60; 0 runs until Ctrl-C)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="play the waveforms X times faster than real time (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the emulated waveforms"
    )


class Readings:
    """Per-sensor statistics of the blocks received in the current second."""

    def __init__(self) -> None:
        self.total = 0
        self._reset()

    def _reset(self) -> None:
        self.samples = 0
        self.sum: npt.NDArray[np.float64] | float = 0.0
        self.sum_sq: npt.NDArray[np.float64] | float = 0.0
        self.high: npt.NDArray[np.float64] | float = float("-inf")
        self.low: npt.NDArray[np.float64] | float = float("inf")

    def add(self, block: SampleBlock) -> None:
        values = block.physical()
        self.samples += values.shape[0]
        self.total += values.shape[0]
        self.sum = self.sum + values.sum(axis=0)
        self.sum_sq = self.sum_sq + (values * values).sum(axis=0)
        self.high = np.maximum(self.high, values.max(axis=0))
        self.low = np.minimum(self.low, values.min(axis=0))

    def take(self) -> str:
        """This second's level (norm of the channel means), and RMS and peak around it."""
        if not self.samples:
            return "    0 samples"
        mean = np.asarray(self.sum) / self.samples
        variance = np.maximum(0.0, np.asarray(self.sum_sq) / self.samples - mean * mean)
        rms = float(np.sqrt(variance.mean()))
        peak = float(np.max(np.maximum(self.high - mean, mean - self.low)))
        level = float(np.linalg.norm(mean))
        text = f"{self.samples:5d} samples  level {level:9.3g}  rms {rms:9.3g}  peak {peak:9.3g}"
        self._reset()
        return text


def run(args: argparse.Namespace) -> int:
    import queue

    from drivers.config import SensorConfig
    from drivers.manager import SensorManager
    from gateway.errors import InputError
    from hil.station import EmulatedStation

    if args.duration < 0:
        raise InputError(f"--duration must be 0 (until Ctrl-C) or more, not {args.duration:g}")
    if not 0 < args.speed <= 100:
        raise InputError(f"--speed must be above 0 and at most 100, not {args.speed:g}")

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    blocks: queue.SimpleQueue[SampleBlock] = queue.SimpleQueue()
    try:
        with EmulatedStation(speed=args.speed, seed=args.seed) as station:
            sensors = [SensorConfig.model_validate(entry) for entry in station.sensors()]
            for endpoint in station.endpoints:
                print(f"emulated {endpoint.kind:<12} {endpoint.address}  ({endpoint.detail})")
            manager = SensorManager(sensors, blocks.put, clock=time.time)
            manager.start()
            try:
                totals = _show(manager, sensors, blocks, args.duration, stop)
            finally:
                manager.stop()
            statuses = manager.status()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return _summary(sensors, statuses, totals)


def _show(
    manager: Any,
    sensors: list[SensorConfig],
    blocks: Any,
    duration: float,
    stop: threading.Event,
) -> dict[str, int]:
    """Drain the drivers' blocks and print a line per sensor per second until done."""
    import queue

    readings = {s.name: Readings() for s in sensors}
    units = {s.name: s.calibration.units for s in sensors}
    started = time.monotonic()
    next_line = started + 1.0
    end = started + duration if duration > 0 else float("inf")
    while not stop.is_set() and next_line <= end + 1e-6:
        try:
            block = blocks.get(timeout=max(0.0, next_line - time.monotonic()))
            readings[block.sensor].add(block)
            continue
        except queue.Empty:
            pass
        statuses = manager.status()
        elapsed = time.monotonic() - started
        for sensor in sensors:
            state = statuses.get(sensor.name, {}).get("state", "?")
            print(
                f"{elapsed:6.1f} s  {sensor.name:<5} {sensor.kind:<12} {state:<9} "
                f"{readings[sensor.name].take()}  [{units[sensor.name]}]",
                flush=True,
            )
        next_line += 1.0
    while True:  # what arrived after the last line still counts in the summary
        try:
            block = blocks.get_nowait()
        except queue.Empty:
            break
        readings[block.sensor].add(block)
    return {name: r.total for name, r in readings.items()}


def _summary(
    sensors: list[SensorConfig], statuses: dict[str, dict[str, Any]], totals: dict[str, int]
) -> int:
    print("\nsummary")
    silent = []
    for sensor in sensors:
        status = statuses.get(sensor.name, {})
        counters = "  ".join(f"{key} {status[key]}" for key in SUMMARY_COUNTERS if key in status)
        print(f"  {sensor.name:<5} {sensor.kind:<12} {totals[sensor.name]:7d} samples  {counters}")
        if status.get("error"):
            print(f"        last error: {status['error']}")
        if not totals[sensor.name]:
            silent.append(sensor.name)
    if silent:
        print(f"ugs-gateway demo: no samples from {', '.join(silent)}", file=sys.stderr)
        return 1
    return 0
