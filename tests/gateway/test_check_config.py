"""`ugs-gateway check-config`: good configs pass, bad ones name the field that is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

GOOD = """
[node]
id = "ugs-0007"
site = "sector-12"
location = { lat = 49.0, lon = -122.7 }
state_dir = "state"

[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/serial/by-id/usb-FTDI_digitizer-if00-port0"
baudrate = 115200
sample_rate = 500
channels = 3

[[sensors]]
name = "pir1"
kind = "pir"
transport = "modbus-rtu"
port = "/dev/serial/by-id/usb-rs485-if00-port0"
baudrate = 115200
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


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["check-config", str(write(tmp_path, text))])
    return code, capsys.readouterr().err


def test_good_config_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(tmp_path, GOOD, capsys)
    assert code == 0, err


def test_a_floor_installation_names_its_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    floor = GOOD + '\n[dsp.classifier]\ninstallation = "floor"\n'
    assert main(["check-config", str(write(tmp_path, floor))]) == 0
    out = capsys.readouterr().out
    assert "dsp.classifier.model: site model site-home-simulated-80min" in out
    assert (
        "from simulated 'home' (8 recordings) with 2 of the setting empty (noise-indoor) and the "
        "dev split of capstone_bno055, "
        "capstone_piezo, jxunn_geoscope on top of gbt-"
    ) in out
    code, err = check(tmp_path, floor.replace('"floor"', '"roof"'), capsys)
    assert code == 2 and "dsp.classifier.installation" in err and "'floor'" in err


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("device_id = 2", "device_id = 248"), "sensors[1].device_id"),
        (("device_id = 2", "device_id = 0"), "sensors[1].device_id"),
        (('kind = "pir"', 'kind = "radar"'), "sensors[1].kind"),
        (("baudrate = 115200\nsample_rate", "baudrate = 100000\nsample_rate"), "sensors[0]"),
        (
            (
                'poll_hz = 50\n\n[[sensors]]\nname = "mag1"',
                'poll_hz = 500\n\n[[sensors]]\nname = "mag1"',
            ),
            "sensors[1]",
        ),
        (('site = "sector-12"', 'site = "sector/12"'), "node.site"),
        (('site = "sector-12"', 'sitte = "sector-12"'), "node.sitte"),
        (("lat = 49.0", "lat = 149.0"), "node.location.lat"),
        (('port = "192.168.10.20:502"', 'port = "192.168.10.20"'), "sensors[2]"),
        (('name = "pir1"', 'name = "geo1"'), "sensors[1].name"),
    ],
)
def test_bad_config_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], field: str
) -> None:
    old, new = change
    assert old in GOOD
    code, err = check(tmp_path, GOOD.replace(old, new, 1), capsys)
    assert code == 2
    assert field in err
    assert "Traceback" not in err


def test_rtu_bus_that_cannot_carry_the_poll_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace(
        "baudrate = 115200\ndevice_id = 2\npoll_hz = 50",
        "baudrate = 9600\ndevice_id = 2\npoll_hz = 100",
    )
    code, err = check(tmp_path, text, capsys)
    assert code == 2
    assert "sensors[1].poll_hz" in err and "9600 baud" in err


def test_not_toml_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(tmp_path, "[node\nid=", capsys)
    assert code == 2 and "not valid TOML" in err
    code = main(["check-config", str(tmp_path / "absent.toml")])
    assert code == 2 and "cannot read config" in capsys.readouterr().err


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("device_id = 2", "device_id = 300"))
    proc = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "sensors[1].device_id" in proc.stderr
    assert "Traceback" not in proc.stderr


UPLINK = '\n[[uplinks]]\nname = "agency-a"\nhost = "mqtt.agency-a.example"\n'


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        # uplinks
        (UPLINK + 'tls = { cert_file = "/etc/ugs/a.crt" }\n', "uplinks[0].tls"),
        (UPLINK + 'password_file = "/etc/ugs/a.pw"\n', "uplinks[0].password_file"),
        (UPLINK + UPLINK, "uplinks"),
        (UPLINK + "port = 70000\n", "uplinks[0].port"),
        (UPLINK + 'encoding = "xml"\n', "uplinks[0].encoding"),
        (UPLINK + "share = { min_conf = 1.5 }\n", "uplinks[0].share.min_conf"),
        # outbox
        ('\n[outbox]\nmax_bytes = "lots"\n', "outbox.max_bytes"),
        ('\n[outbox]\ndrop = "random"\n', "outbox.drop"),
        # detector thresholds
        ("\n[dsp.seismic]\ntrigger_on = 0.5\n", "dsp.seismic.trigger_on"),
        ("\n[dsp.classifier]\nmin_conf = 2\n", "dsp.classifier.min_conf"),
        ("\n[dsp.fusion]\njoin_window = 1\n", "dsp.fusion.join_window"),
        # TOML's inf and nan are numbers no setting takes
        ("\n[dsp.seismic]\nhold_s = inf\n", "dsp.seismic.hold_s: Input should be a finite"),
        ("\n[dsp.pir]\nband_hz = [nan, 5.0]\n", "dsp.pir.band_hz"),
        ("\n[health]\nstale_sample_s = inf\n", "health.stale_sample_s"),
        # settings the detector could not be built with
        ("\n[dsp.seismic]\nhighpass_hz = 200\n", "dsp.seismic.highpass_hz: 200 Hz must lie"),
        ("\n[dsp.seismic]\nhistory_s = 1e12\n", "dsp.seismic.history_s"),
        ("\n[dsp.pir]\nband_hz = [30, 40]\n", "dsp.pir.band_hz: (30, 40) must have"),
        ("\n[dsp.pir]\nband_hz = [0.5, 0.2]\n", "dsp.pir.band_hz"),
        # health and field recording
        ("\n[health]\ninterval_s = 0\n", "health.interval_s"),
        ('\n[record]\nmode = "always"\n', "record.mode"),
        ('\n[record]\nnetwork = "toolong99"\n', "record.network"),
    ],
)
def test_bad_sections_name_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, field: str
) -> None:
    code, err = check(tmp_path, GOOD + extra, capsys)
    assert code == 2, err
    assert field in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('transport = "modbus-tcp"', 'transport = "serial"'), "sensors[2].transport"),
        (("sample_rate = 500\n", ""), "sensors[0].sample_rate"),
        (('id = "ugs-0007"\n', ""), "node.id"),
        (("calibration", "calibratoin"), "sensors[2].calibratoin"),
        (("poll_hz = 50\n", "poll_hz = 50\nsample_rate = inf\n"), "sensors[1].sample_rate"),
    ],
)
def test_more_bad_sensor_and_node_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], field: str
) -> None:
    old, new = change
    text = GOOD if old != "calibration" else GOOD + "calibration = { scale = 1.0 }\n"
    assert old in text
    code, err = check(tmp_path, text.replace(old, new, 1), capsys)
    assert code == 2, err
    assert field in err, err


def test_no_enabled_sensor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace('name = "geo1"', 'name = "geo1"\nenabled = false')
    text = text.replace('name = "pir1"', 'name = "pir1"\nenabled = false')
    text = text.replace('name = "mag1"', 'name = "mag1"\nenabled = false')
    code, err = check(tmp_path, text, capsys)
    assert code == 2 and "sensors: no enabled" in err


def test_the_shipped_example_config_passes(tmp_path: Path) -> None:
    # As installed: beside the signing key install.sh makes (its secrets come later).
    example = Path(__file__).resolve().parents[2] / "systemd" / "config.example.toml"
    config = tmp_path / "gateway.toml"
    config.write_text(example.read_text())
    assert main(["key", "generate", str(tmp_path / "signing.key")]) == 0
    assert main(["check-config", str(config)]) == 0
