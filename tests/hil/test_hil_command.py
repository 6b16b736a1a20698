"""`ugs-gateway hil`: starts the three emulators, writes a config that works, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.block import SampleBlock
from drivers.seismic import SeismicDriver
from gateway.cli import main
from gateway.config import load_config
from tests.drivers.seismic_rig import wait_for


def read_lines_until(proc: subprocess.Popen[str], marker: str, timeout: float = 20.0) -> list[str]:
    lines: list[str] = []
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line:
                done.set()
                return
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), f"no {marker!r} within {timeout} s: {lines}"
    return lines


@pytest.fixture
def hil(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], Path]]:
    out = tmp_path / "hil.toml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "--log-level", "WARNING", "hil",
         "--write-config", str(out), "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        lines = read_lines_until(proc, "running")
        yield proc, lines, out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_hil_prints_endpoints_writes_a_valid_config_and_stops_on_sigterm(
    hil: tuple[subprocess.Popen[str], list[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    proc, lines, out = hil
    text = "\n".join(lines)
    assert "seismic" in text and "pir" in text and "magnetometer" in text
    assert f"config written to {out}" in text
    assert main(["check-config", str(out)]) == 0, capsys.readouterr().err

    config = load_config(out)
    kinds = {s.kind: s for s in config.sensors}
    assert set(kinds) == {"seismic", "pir", "magnetometer"}
    assert kinds["magnetometer"].transport == "modbus-tcp"
    assert kinds["pir"].transport == "modbus-rtu"
    seismic = kinds["seismic"]
    assert "/serial/by-id/" in seismic.port and os.path.exists(seismic.port)
    assert seismic.port in text and kinds["magnetometer"].port in text

    # The written config really reaches the emulated digitizer.
    blocks: list[SampleBlock] = []
    driver = SeismicDriver(seismic, blocks.append)
    driver.start()
    try:
        wait_for(lambda: sum(len(b) for b in blocks) >= 100, what="samples from the emulator")
    finally:
        driver.stop()
    assert driver.status()["crc_errors"] == 0

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert not os.path.lexists(seismic.port)  # ptys and links are cleaned up
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()


def test_hil_stops_on_ctrl_c(hil: tuple[subprocess.Popen[str], list[str], Path]) -> None:
    proc, _, _ = hil
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "--speed must be above 0"),
        (["--write-config", "/nonexistent-dir/x.toml"], "does not exist"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hil", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_malformed_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["hil", "--seed", "x"])
    assert info.value.code == 2
    assert "invalid int" in capsys.readouterr().err
