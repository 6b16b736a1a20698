"""check-config names the field of every SAPIENT, tasking and mode mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

BASE = """
[node]
id = "ugs-0007"
site = "sector-12"
state_dir = "state"

[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/ttyUSB0"
sample_rate = 500
"""


def _check(tmp_path: Path, extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + extra)
    code = main(["check-config", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            '[[uplinks]]\nname = "f"\nprotocol = "sapient"\n',
            "uplinks[0].host: required field is missing",
        ),
        (
            '[[uplinks]]\nname = "f"\nprotocol = "sapient"\nhost = "fusion"\n',
            "uplinks[0].port: required field is missing",
        ),
        (
            '[[uplinks]]\nname = "f"\nprotocol = "sapient"\nhost = "h"\nport = 5020\n'
            'tasking = ["status", "look_at"]\n',
            "uplinks[0].tasking[1]: Input should be 'registration', 'status'",
        ),
        (
            '[[uplinks]]\nname = "m"\nhost = "h"\ntasking = ["status", "launch"]\n',
            "uplinks[0].tasking[1]: Input should be 'status', 'mode' or 'snippet'",
        ),
        (
            '[[uplinks]]\nname = "m"\nprotocol = "amqp"\nhost = "h"\n',
            "uplinks[0].protocol: 'amqp' is not an uplink protocol (one of mqtt, sapient)",
        ),
        (
            '[modes]\ninitial = "stealth"\n',
            "modes.initial: 'stealth' is not a mode (defined: normal)",
        ),
        (
            "[modes.profiles.sensitive]\ndsp.seismic = { trigger_on = 0.5 }\n",
            "modes.profiles.sensitive.dsp.seismic.trigger_on: Input should be greater than 1",
        ),
        (
            "[modes.profiles.sensitive]\ndsp.seismic = { trigger_onn = 2.5 }\n",
            "modes.profiles.sensitive.dsp.seismic.trigger_onn: unknown field (misspelt?)",
        ),
    ],
)
def test_mistakes_are_named_by_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, line: str
) -> None:
    code, err = _check(tmp_path, extra, capsys)
    assert code == 2
    assert line in err, err


def test_a_sapient_uplink_and_modes_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = (
        '[[uplinks]]\nname = "f"\nprotocol = "sapient"\nhost = "h"\nport = 5020\ntls = false\n'
        '[modes]\ninitial = "sensitive"\n'
        "[modes.profiles.sensitive]\ndsp.seismic = { trigger_on = 2.5 }\n"
    )
    code, err = _check(tmp_path, extra, capsys)
    assert (code, err) == (0, "")
