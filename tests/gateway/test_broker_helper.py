"""The test broker helper: listeners, TLS, passwords, kill/pause/restart on the same port."""

from __future__ import annotations

import socket
import ssl
import subprocess
from collections.abc import Callable

import pytest

from tests.broker import Broker, TlsFiles


def _pub(broker: Broker, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["mosquitto_pub", "-h", broker.host, "-t", "probe", "-m", "x", "-q", "1", *extra],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_shared_broker_accepts_connections(mqtt_broker: Broker) -> None:
    assert mqtt_broker.running
    assert _pub(mqtt_broker, "-p", str(mqtt_broker.port)).returncode == 0


def test_kill_pause_and_restart_keep_the_port(make_broker: Callable[..., Broker]) -> None:
    broker = make_broker()
    port = broker.port
    broker.pause()
    # A paused broker still accepts TCP (the kernel does) but never answers a CONNECT.
    connect = bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 5, 0, 2]) + b"hb"
    with socket.create_connection((broker.host, port), timeout=0.5) as sock:
        sock.sendall(connect)
        with pytest.raises(TimeoutError):
            sock.recv(4)
    broker.resume()
    broker.kill()
    assert not broker.running
    with pytest.raises(OSError):
        socket.create_connection((broker.host, port), timeout=1).close()
    broker.start()
    assert broker.port == port
    assert _pub(broker, "-p", str(port)).returncode == 0
    broker.restart()
    assert _pub(broker, "-p", str(port)).returncode == 0


def test_tls_listener_verifies_with_the_test_ca(
    make_broker: Callable[..., Broker], tls_material: TlsFiles
) -> None:
    broker = make_broker(plain=False, tls=tls_material, require_certificate=True)
    assert broker.tls_port is not None
    ctx = ssl.create_default_context(cafile=str(tls_material.ca_cert))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_cert_chain(str(tls_material.client_cert), str(tls_material.client_key))
    with (
        socket.create_connection((broker.host, broker.tls_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() is not None


def test_password_file_refuses_a_wrong_password(make_broker: Callable[..., Broker]) -> None:
    broker = make_broker(users={"ugs": "right"})
    port = str(broker.port)
    assert _pub(broker, "-p", port, "-u", "ugs", "-P", "right").returncode == 0
    assert _pub(broker, "-p", port, "-u", "ugs", "-P", "wrong").returncode != 0
