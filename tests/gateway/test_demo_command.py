"""`ugs-gateway demo`: emulators and real drivers, live readings, a summary, exit 0."""

from __future__ import annotations

import re

import pytest

from gateway.cli import main


def test_demo_prints_live_readings_of_every_sensor_and_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--log-level", "WARNING", "demo", "--duration", "2.5", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for name, kind in (("geo1", "seismic"), ("pir1", "pir"), ("mag1", "magnetometer")):
        assert f"emulated {kind}" in out
        lines = [line for line in out.splitlines() if re.match(rf"\s+\d+\.\d s\s+{name}\b", line)]
        assert len(lines) == 2, out  # one per second
        assert all("rms" in line and "peak" in line for line in lines)
        summary = re.search(rf"^\s+{name}\s+{kind}\s+(\d+) samples", out, re.MULTILINE)
        assert summary and int(summary.group(1)) > 0, out
    seismic = re.findall(r"^\s+[\d.]+ s\s+geo1\s+seismic\s+(\w+)\s+(\d+) samples", out, re.M)
    state, samples = seismic[-1]  # the second second: steady state
    assert state == "ok"
    assert 900 <= int(samples) <= 1100  # one second of 1000 Hz
    assert "crc_errors 0" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--duration", "-1"], "--duration"), (["--speed", "0"], "--speed")],
)
def test_demo_refuses_bad_arguments(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", *args]) == 2
    assert message in capsys.readouterr().err
