"""TLS, mTLS and passwords against a real mosquitto; wrong credentials are told clearly."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.uplinks.config import UplinkConfig
from tests.broker import Broker, TlsFiles, make_tls_material
from tests.gateway.mqtt_collect import Collector, wait_until
from tests.gateway.uplink_rig import fields, gateway, uplink_config

USERS = {"ugs-t0": "correct horse", "central": "battery staple"}


@pytest.fixture
def secure_broker(make_broker: Callable[..., Broker], tls_material: TlsFiles) -> Broker:
    """TLS only, client certificates required, and a password file."""
    return make_broker(plain=False, tls=tls_material, require_certificate=True, users=USERS)


def central(broker: Broker, tls: TlsFiles, tmp_path: Path) -> Collector:
    (tmp_path / "central.pass").write_text(USERS["central"] + "\n")
    from gateway.uplinks.config import TlsConfig

    assert broker.tls_port is not None
    return Collector(
        broker.host,
        broker.tls_port,
        "central-tls",
        tls=TlsConfig(ca_file=tls.ca_cert, cert_file=tls.client_cert, key_file=tls.client_key),
        username="central",
        password_file=tmp_path / "central.pass",
    ).start()


def secure_uplink(broker: Broker, tls: TlsFiles, tmp_path: Path, **extra: object) -> UplinkConfig:
    assert broker.tls_port is not None
    password_file = tmp_path / "uplink.pass"
    if not password_file.exists():
        password_file.write_text(USERS["ugs-t0"] + "\n")
    ca = tmp_path / "uplink-ca.pem"
    if not ca.exists():
        shutil.copy(tls.ca_cert, ca)
    return uplink_config(
        "secure",
        broker.tls_port,
        tls={"ca_file": str(ca), "cert_file": str(tls.client_cert),
             "key_file": str(tls.client_key)},
        username="ugs-t0",
        password_file=str(password_file),
        **extra,
    )  # fmt: skip


def failure_lines(caplog: pytest.LogCaptureFixture, state: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gateway.uplinks.mqtt" and f"secure: {state}:" in r.getMessage()
    ]


def wait_lines(caplog: pytest.LogCaptureFixture, state: str) -> list[str]:
    wait_until(lambda: bool(failure_lines(caplog, state)), 5, f"a {state} log line")
    return failure_lines(caplog, state)


def test_tls_mtls_and_password_deliver(
    tmp_path: Path, secure_broker: Broker, tls_material: TlsFiles
) -> None:
    collector = central(secure_broker, tls_material, tmp_path)
    try:
        cfg = secure_uplink(secure_broker, tls_material, tmp_path)
        with gateway(tmp_path, [cfg]) as (outbox, uplinks):
            wait_until(lambda: collector.connected, 10, "the central subscriber")
            ids = {outbox.store(fields(n))["id"] for n in range(20)}
            collector.wait_ids(ids, 10)
            status = uplinks["secure"].status()
            assert status["state"] == "connected" and status["tls"] is True
    finally:
        collector.close()


def test_wrong_password_is_logged_once_and_reports_keep_storing(
    tmp_path: Path,
    secure_broker: Broker,
    tls_material: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    (tmp_path / "uplink.pass").write_text("wrong password\n")
    cfg = secure_uplink(secure_broker, tls_material, tmp_path)
    collector = central(secure_broker, tls_material, tmp_path)
    try:
        with gateway(tmp_path, [cfg]) as (outbox, uplinks):
            uplink = uplinks["secure"]
            wait_lines(caplog, "auth-failed")
            stored = {outbox.store(fields(n))["id"] for n in range(10)}
            # Several more attempts (0.1-0.5 s apart), each refused: still one log line.
            refusals = secure_broker.log().count("not authorised")
            wait_until(
                lambda: secure_broker.log().count("not authorised") >= refusals + 3,
                10,
                "more attempts",
            )
            lines = failure_lines(caplog, "auth-failed")
            assert len(lines) == 1, lines
            assert "user 'ugs-t0'" in lines[0] and "password_file" in lines[0]
            assert outbox.pending_count("secure") == len(stored)
            assert uplink.status()["last_error"] is not None
            # The password file is read again at every attempt: fixing it is enough.
            (tmp_path / "uplink.pass").write_text(USERS["ugs-t0"] + "\n")
            wait_until(lambda: collector.connected, 10, "the central subscriber")
            collector.wait_ids(stored, 10)
    finally:
        collector.close()


def test_wrong_ca_is_logged_once_and_a_renewed_ca_file_is_picked_up(
    tmp_path: Path,
    secure_broker: Broker,
    tls_material: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    other = make_tls_material(tmp_path / "other-pki", name="other")
    shutil.copy(other.ca_cert, tmp_path / "uplink-ca.pem")
    cfg = secure_uplink(secure_broker, tls_material, tmp_path)
    collector = central(secure_broker, tls_material, tmp_path)
    try:
        with gateway(tmp_path, [cfg]) as (outbox, uplinks):
            uplink = uplinks["secure"]
            wait_until(lambda: uplink.state == "tls-failed", 10, "the TLS failure")
            stored = {outbox.store(fields(n))["id"] for n in range(10)}
            lines = wait_lines(caplog, "tls-failed")
            assert "tls.ca_file" in lines[0] and "uplink-ca.pem" in lines[0]
            assert "not accepted" in lines[0]
            assert outbox.pending_count("secure") == len(stored)
            shutil.copy(tls_material.ca_cert, tmp_path / "uplink-ca.pem")
            collector.wait_ids(stored, 10)
            assert len(failure_lines(caplog, "tls-failed")) == 1
    finally:
        collector.close()


def test_missing_client_certificate_is_named(
    tmp_path: Path,
    secure_broker: Broker,
    tls_material: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    cfg = secure_uplink(secure_broker, tls_material, tmp_path)
    cfg = cfg.model_copy(update={"tls": cfg.tls.model_copy(update={"cert_file": None,
                                                                  "key_file": None})})  # fmt: skip
    with gateway(tmp_path, [cfg]) as (outbox, uplinks):
        wait_until(lambda: uplinks["secure"].state == "tls-failed", 10, "the TLS failure")
        outbox.store(fields(0))
        lines = wait_lines(caplog, "tls-failed")
        assert len(lines) == 1 and "tls.cert_file" in lines[0], lines
        assert outbox.pending_count("secure") == 1


def test_unreachable_host_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from gateway.local_broker import free_port

    caplog.set_level(logging.INFO, logger="gateway")
    port = free_port()
    cfg = uplink_config("secure", port)
    with gateway(tmp_path, [cfg]) as (outbox, uplinks):
        uplink = uplinks["secure"]
        wait_until(lambda: uplink.state == "unreachable", 10, "the failure")
        for n in range(5):
            outbox.store(fields(n))
        wait_until(lambda: uplink.status()["last_error"] is not None, 5, "an error")
        lines = wait_lines(caplog, "unreachable")
        assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0], lines
        assert "check host and port" in lines[0] and "kept in the outbox" in lines[0]
        assert outbox.pending_count("secure") == 5
