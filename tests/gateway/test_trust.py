"""Links that trust too much are said loudly; secrets are kept as secrets.

`check-config` prints a WARNING for `tls.verify = false` and for a password sent without
TLS, and refuses (exit 2) a secret file other users can read or the service cannot; the
service logs the same at start and says it in its status, each partner seeing its own
link's warnings only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.health.status import partner_status
from gateway.trust import secret_file_problem, status_warnings

ROOT = Path(__file__).resolve().parents[2]
BASE = """
[node]
id = "ugs-0007"
site = "sector-12"

[[sensors]]
name = "geo1"
kind = "seismic"
transport = "serial"
port = "/dev/ttyUSB0"
sample_rate = 500
"""


def check(tmp_path: Path, uplinks: str) -> tuple[int, str]:
    config = tmp_path / "gateway.toml"
    config.write_text(BASE + uplinks)
    config.chmod(0o644)
    cmd = [sys.executable, "-m", "gateway.cli", "check-config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    return proc.returncode, proc.stderr


def secret(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "agency.pass"
    path.write_text("s3cret\n")
    path.chmod(mode)
    return path


def link(**fields: str) -> str:
    text = '\n[[uplinks]]\nname = "agency-a"\nhost = "mqtt.agency-a.example"\n'
    return text + "".join(f"{key} = {value}\n" for key, value in fields.items())


def test_tls_without_verification_is_a_loud_warning(tmp_path: Path) -> None:
    code, err = check(tmp_path, link(tls="{ verify = false }"))
    assert code == 0
    assert "WARNING: uplinks[0].tls.verify: TLS without verifying the broker" in err


def test_a_password_without_tls_is_a_loud_warning(tmp_path: Path) -> None:
    path = secret(tmp_path, 0o640)
    code, err = check(tmp_path, link(tls="false", username='"u"', password_file=f'"{path}"'))
    assert code == 0
    assert "WARNING: uplinks[0].password_file: password sent without TLS" in err


def test_a_verified_tls_link_with_a_kept_secret_is_quiet(tmp_path: Path) -> None:
    path = secret(tmp_path, 0o640)
    code, err = check(tmp_path, link(username='"u"', password_file=f'"{path}"'))
    assert code == 0 and "WARNING" not in err


@pytest.mark.parametrize("mode", [0o644, 0o606, 0o666])
def test_a_secret_other_users_can_read_or_change_is_refused(tmp_path: Path, mode: int) -> None:
    path = secret(tmp_path, mode)
    code, err = check(tmp_path, link(username='"u"', password_file=f'"{path}"'))
    assert code == 2
    assert "uplinks[0].password_file:" in err and "every user on the unit" in err
    assert "root:ugs-gateway 0640" in err


def test_a_secret_the_service_cannot_read_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to check as another user")
    path = secret(tmp_path, 0o600)  # root's alone: the service user cannot read it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the check as the service user would run it (install.sh does)
        try:
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            os.write(write, (secret_file_problem(path) or "").encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        problem = pipe.read()
    assert f"{path} cannot be read by this user (uid 65534)" in problem
    assert "root:ugs-gateway 0640" in problem


def test_a_missing_secret_is_a_warning_and_a_missing_signing_key_a_problem(
    tmp_path: Path,
) -> None:
    code, err = check(tmp_path, link(username='"u"', password_file='"later.pass"'))
    assert code == 0 and "does not exist (yet)" in err
    code, err = check(tmp_path, '\n[signing]\nkey_file = "signing.key"\n')
    assert code == 2 and "signing.key_file:" in err and "ugs-gateway key generate" in err


def test_the_status_says_it_and_each_partner_sees_its_own(tmp_path: Path) -> None:
    config = parse_config(
        {
            "node": {"id": "ugs-0007", "site": "sector-12"},
            "sensors": [{"name": "geo1", "kind": "seismic", "transport": "serial",
                         "port": "/dev/ttyUSB0", "sample_rate": 500}],
            "uplinks": [
                {"name": "lab", "host": "h", "tls": {"verify": False}},
                {"name": "agency-b", "host": "h", "tls": False, "username": "u",
                 "password_file": str(secret(tmp_path, 0o644))},
            ],
        }
    )  # fmt: skip
    warnings = status_warnings(config)
    assert any(w.startswith("uplink lab: TLS without verifying") for w in warnings)
    assert any(w.startswith("uplink agency-b: password sent without TLS") for w in warnings)
    assert "uplink agency-b: password_file is not kept secret (check-config)" in warnings
    snapshot = {"warnings": ["clock not synchronised: report times may be wrong", *warnings]}
    lab = partner_status(snapshot, "lab", None)["warnings"]
    assert lab[0].startswith("clock") and all("agency-b" not in w for w in lab)
    assert any(w.startswith("uplink lab:") for w in lab)
