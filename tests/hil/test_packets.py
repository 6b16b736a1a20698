"""A logger that loses samples between its packets: steps at the joins, time kept true."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from drivers.recordings.waveforms import Channel, TruthEvent
from hil.scenarios import generate
from hil.synth.packets import file_time, packetize
from hil.synth.site import Site

RATE = 5000.0


def _ring(seconds: float) -> Channel:
    # A floor ringing at 19.8 Hz, +-70 counts on a mid-scale offset, as a packet logger's
    # background in raw counts.
    t = np.arange(round(seconds * RATE)) / RATE
    data = np.round(2180.0 + 70.0 * np.sin(2 * np.pi * 19.8 * t))[:, None]
    return Channel("geo1", "seismic", RATE, data, 1.0)


def test_the_trace_jumps_at_every_join_and_runs_short() -> None:
    walker = TruthEvent(
        "footstep", "walker", 10.0, 14.0, 12.0, 3.0, {"spans": {"seismic": [10.0, 14.0]}}
    )
    fault = {"kind": "dropout", "channel": "geo1", "t0": 20.0, "t1": 21.0}
    channels, truth, faults = packetize({"geo1": _ring(30.0)}, [walker], [fault], RATE, 500, 68)
    x = channels["geo1"].data[:, 0]
    assert len(x) == pytest.approx(30.0 * RATE * 500 / 568, abs=500)
    jumps = np.abs(np.diff(x))
    at_joins = jumps[499::500]
    assert np.median(at_joins) > 10 * np.median(np.delete(jumps, np.s_[499::500]))
    # The walker is where the file has it: 13.6 ms lost per 100 ms of packet.
    (ev,) = truth
    assert ev.t_cpa == pytest.approx(12.0 * 500 / 568, abs=0.1)
    assert ev.extra["spans"]["seismic"] == [ev.t0, ev.t1]
    assert faults[0]["t0"] == pytest.approx(20.0 * 500 / 568, abs=0.1)


def test_a_time_inside_a_gap_lands_on_the_next_packet() -> None:
    assert file_time(500 / RATE, RATE, 500, 68) == pytest.approx(500 / RATE)
    assert file_time(530 / RATE, RATE, 500, 68) == pytest.approx(500 / RATE)
    assert file_time(568 / RATE, RATE, 500, 68) == pytest.approx(500 / RATE)
    assert file_time(600 / RATE, RATE, 500, 68) == pytest.approx(532 / RATE)


def test_packets_that_hold_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="packets of 0 samples"):
        packetize({"geo1": _ring(1.0)}, [], [], RATE, 0, 10)


def test_a_unit_with_a_packet_logger_keeps_its_sensors_and_truth_in_step() -> None:
    site = Site(setting="building", seismic_rate=4310.34, pir_rate=20.0, mag_rate=10.65)
    plain = generate("indoor", 60.0, 21, site=site)
    packed = generate("indoor", 60.0, 21, site=replace(site, seismic_packets=(500, 68)))
    share = 500 / 568
    for name, ch in packed.channels.items():
        assert len(ch) == pytest.approx(len(plain.channels[name]) * share, rel=0.02)
    assert packed.duration == pytest.approx(60.0 * share, abs=0.2)
    for a, b in zip(plain.truth, packed.truth, strict=True):
        assert (a.label, a.source) == (b.label, b.source)
        assert b.t_cpa == pytest.approx(file_time(a.t_cpa, 4310.34, 500, 68), abs=1e-3)
