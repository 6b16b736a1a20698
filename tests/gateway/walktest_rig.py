"""A walk test fed straight from a simulated recording (no emulators, no waiting): blocks as
the drivers deliver them, a clock that follows the data, marks from a plan."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from drivers.block import SampleBlock
from drivers.recordings.waveforms import Recording
from gateway.config import GatewayConfig, parse_config
from gateway.walktest.session import Result, WalkTest
from hil.marks import parse_plan, plan_from_truth

CONFIG = """
[node]
id = "ugs-0007"
site = "sector-12"
state_dir = "state"

[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/serial/by-id/usb-FTDI_digitizer-if00-port0"
sample_rate = 500
channels = 1

[[sensors]]
name = "pir1"
kind = "pir"
transport = "modbus-rtu"
port = "/dev/serial/by-id/usb-rs485-if00-port0"
device_id = 2
poll_hz = 50

[[sensors]]
name = "mag1"
kind = "magnetometer"
transport = "modbus-tcp"
port = "192.168.10.20:502"
device_id = 1
poll_hz = 50
"""

BLOCK_S = 0.5


def config(extra: str = "") -> GatewayConfig:
    """The rig's unit, with ``extra`` TOML (a ``[dsp.classifier]`` section, say) added."""
    return parse_config(tomllib.loads(CONFIG + extra))


def blocks(rec: Recording, stop: dict[str, float] | None = None) -> list[SampleBlock]:
    """The recording as the drivers would deliver it, in time order; a sensor named in
    ``stop`` delivers nothing from that many seconds on (it died)."""
    out = []
    for ch in rec.channels.values():
        counts = ch.to_counts()
        step = round(BLOCK_S * ch.rate)
        end = len(ch) if stop is None or ch.name not in stop else round(stop[ch.name] * ch.rate)
        for a in range(0, end, step):
            data = counts[a : min(a + step, end)]
            out.append(
                SampleBlock(
                    ch.name, ch.kind, ch.rate, rec.start_time + a / ch.rate, a,
                    np.ascontiguousarray(data), 0, ch.scale, 0.0,
                )
            )  # fmt: skip
    return sorted(out, key=lambda b: (b.t0, b.sensor))


def run_walktest(
    rec: Recording,
    directory: Path,
    *,
    marks: bool = True,
    stop: dict[str, float] | None = None,
    extra_marks: list[tuple[float, str, float | None]] = (),  # type: ignore[assignment]
    extra_config: str = "",
) -> tuple[WalkTest, Result]:
    """Feed the recording through a walk test marked as a technician would (from its
    truth); the walk test's directory is ``directory``."""
    now = [rec.start_time]
    session = WalkTest(config(extra_config), directory, clock=lambda: now[0])
    plan = parse_plan(plan_from_truth(rec.truth, duration_s=rec.duration)) if marks else []
    pending = [(rec.start_time + (p.offset_s or 0.0), p.kind, p.range_m) for p in plan]
    pending += [(rec.start_time + t, kind, r) for t, kind, r in extra_marks]
    pending = sorted(p for p in pending if p[1] != "end")
    for block in blocks(rec, stop):
        now[0] = block.t1
        while pending and pending[0][0] <= now[0]:
            t, kind, range_m = pending.pop(0)
            session.mark(kind, range_m, at=t)
        session.submit(block)
        session.process(0.0)
    for t, kind, range_m in pending:
        session.mark(kind, range_m, at=t)
    return session, session.finish()
