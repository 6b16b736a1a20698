"""Run in a fresh interpreter: the fourth kind reaches every part that reads the descriptors."""

from __future__ import annotations

import argparse
import time

import numpy as np

import tests.fourth_kind.descriptor  # noqa: F401  (step 1, before the schema)
from drivers.block import SampleBlock
from drivers.kinds import names
from drivers.manager import SensorManager
from drivers.recordings import Channel, Recording, read_recording, write_recording
from drivers.recordings.mseed_format import KIND_OF_SOURCE
from dsp.config import DspConfig
from dsp.detector import StreamingDetector
from gateway.commands import analyze
from gateway.config import parse_config
from gateway.config_reference import reference
from gateway.errors import ConfigError
from gateway.service import sensor_specs
from hil.station import EmulatedStation

NODE = {"id": "ugs-0007", "site": "sector-12"}


def say(what: str) -> None:
    print(what, flush=True)


def main(tmp: str) -> None:
    assert names()[-1] == "acoustic"
    parser = argparse.ArgumentParser()
    analyze.add_arguments(parser)
    assert parser.parse_args(["x.mseed", "--sensor", "acoustic"]).sensor == "acoustic"
    say("cli")

    try:
        parse_config(
            {
                "node": NODE,
                "sensors": [
                    {
                        "name": "mic1",
                        "kind": "acoustic",
                        "transport": "modbus-rtu",
                        "port": "/dev/null",
                        "sample_rate": 4000,
                    }
                ],
            }
        )
    except ConfigError as exc:
        problems = exc.problems
    assert any(p.startswith("sensors[0].transport:") and "serial" in p for p in problems)
    assert 'with `kind = "acoustic"`' in reference()
    say("config")

    rec = Recording({"mic1": Channel("mic1", "acoustic", 500.0, np.zeros(500), scale=1e-6)})
    back = read_recording(write_recording(rec, f"{tmp}/mic.mseed"))
    (channel,) = back.channels.values()
    assert channel.kind == "acoustic" and channel.units == "Pa", channel
    assert KIND_OF_SOURCE["D"] == "acoustic"
    say("recordings")

    blocks: list[SampleBlock] = []
    with EmulatedStation(kinds=("acoustic",)) as station:
        (endpoint,) = station.endpoints
        assert endpoint.name == "mic1" and endpoint.sensor["kind"] == "acoustic"
        config = parse_config({"node": NODE, "sensors": station.sensors()})
        manager = SensorManager(config.sensors, blocks.append)
        manager.start()
        try:
            deadline = time.monotonic() + 20.0
            while not blocks and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            manager.stop()
    assert blocks and blocks[0].kind == "acoustic", blocks[:1]
    say("emulator and driver")

    detector = StreamingDetector(DspConfig(), sensor_specs(config.sensors))
    detector.feed("mic1", blocks[0].t0, np.asarray(blocks[0].data, dtype=np.float64))
    say("chain")


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
