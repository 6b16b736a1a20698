"""`ugs-gateway outbox stats`: what a technician sees, in-process (the subprocess cases live
in test_outbox_process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.gateway.outbox_helpers import everything, fields, open_outbox, vehicles_only

CONFIG = """
[node]
id = "ugs-0007"
site = "sector-12"
state_dir = "state"

[outbox]
max_bytes = "16MiB"
max_age = "2d"

[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/ttyUSB0"
baudrate = 115200
sample_rate = 500
"""


def stats(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str = CONFIG) -> dict:  # type: ignore[type-arg]
    config = tmp_path / "gateway.toml"
    config.write_text(text)
    assert main(["outbox", "stats", "-c", str(config)]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_stats_of_a_missing_outbox_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = stats(tmp_path, capsys)
    assert result["exists"] is False and result["depth"] == 0
    assert result["path"] == str(tmp_path / "state" / "outbox.sqlite")
    assert result["limits"] == {
        "max_bytes": 16 * 1024**2,
        "max_age_s": 2 * 86400.0,
        "drop": "oldest",
        "min_free_bytes": 64 * 1024**2,
        "ballast_bytes": 8 * 1024**2,
    }
    assert not (tmp_path / "state").exists()


def test_stats_show_depth_age_drops_and_each_uplink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state" / "outbox.sqlite"
    with open_outbox(path, uplinks={"all": everything, "cars": vehicles_only}) as outbox:
        for n in range(6):
            outbox.store(fields("vehicle" if n < 2 else "footstep"))
        outbox.ack("all", [row.row_id for row in outbox.pending("all", 3)])
    result = stats(tmp_path, capsys)
    assert result["exists"] is True
    assert result["depth"] == 5  # 3 acked by all; the two vehicles still wait for cars
    assert result["bytes"] > 0 and result["payload_bytes"] > 0
    assert 0 <= result["oldest_age_s"] < 600
    assert result["drops"]["total"] == 0
    assert result["last_stored"] == {"boot": 1, "seq": 6}
    all_, cars = result["uplinks"]["all"], result["uplinks"]["cars"]
    assert (all_["pending"], all_["delivered"], all_["cursor"]) == (3, 3, 4)
    assert (cars["pending"], cars["delivered"], cars["cursor"]) == (2, 0, 1)
    # Neither is in this config's [[uplinks]]: the technician sees that too.
    assert all_["configured"] is False


def test_stats_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(CONFIG.replace('max_age = "2d"', 'max_age = "2 fortnights"'))
    assert main(["outbox", "stats", "-c", str(config)]) == 2
    assert "outbox.max_age" in capsys.readouterr().err
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "outbox.sqlite").write_text("not a database")
    config.write_text(CONFIG)
    assert main(["outbox", "stats", "-c", str(config)]) == 1
    assert "cannot read the outbox" in capsys.readouterr().err
