"""The seismic benchmarks are collected by `ugs-gateway bench` and measure real decoding."""

from __future__ import annotations

from gateway.bench.seismic_driver import BENCHMARKS, decoder_throughput
from gateway.commands.bench import collect


def test_seismic_benchmarks_are_collected() -> None:
    found = collect()
    for name in ("seismic_decoder", "seismic_live_stream"):
        assert found[name] is BENCHMARKS[name]


def test_decoder_keeps_up_with_many_live_streams() -> None:
    figures = decoder_throughput()
    # A live 1000 Hz x 3 stream needs 1000 samples/s; even a slow, shared CI core decodes
    # dozens of them frame by frame (about a thousand on a quiet laptop core).
    assert figures["decoder_samples_per_s_frame_by_frame"] > 50 * 1000
    assert figures["decoder_samples_per_s"] >= figures["decoder_samples_per_s_frame_by_frame"] / 2
    assert abs(figures["decoder_values_per_s"] - 3 * figures["decoder_samples_per_s"]) <= 3
