"""The serial transport over real ptys, sockets and loop://: reads, loss, and reopening."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.backoff import Backoff
from drivers.errors import DeviceError
from drivers.stream.transport import PortLostError, SerialTransport
from hil.emulators.pty import Pty, StableLink


@pytest.fixture
def link(tmp_path: Path) -> Iterator[StableLink]:
    with StableLink(tmp_path / "serial" / "by-id" / "usb-FTDI_Test-if00-port0") as stable:
        yield stable


def read_until(transport: SerialTransport, n: int, timeout: float = 3.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n:
        assert time.monotonic() < deadline, f"only {len(got)} of {n} bytes"
        got += transport.read()
    return got


def test_reads_what_arrives_and_nothing_on_silence(link: StableLink) -> None:
    with Pty() as pty:
        link.point_to(pty.path)
        transport = SerialTransport(str(link.path), poll_s=0.05)
        transport.open()
        try:
            pty.write(b"\xa5\x5a" * 100)
            assert read_until(transport, 200) == b"\xa5\x5a" * 100
            started = time.monotonic()
            assert transport.read() == b""
            assert time.monotonic() - started < 0.5
        finally:
            transport.close()
    assert not transport.is_open


def test_missing_device_says_what_to_check(tmp_path: Path) -> None:
    transport = SerialTransport(str(tmp_path / "serial" / "by-id" / "usb-absent"))
    with pytest.raises(DeviceError, match=r"no such device: is it plugged in\?"):
        transport.open()
    assert transport.open_failures == 1
    with pytest.raises(DeviceError, match="cannot open"):
        SerialTransport("nosuchscheme://x").open()


def test_connect_waits_for_the_device_to_appear(link: StableLink) -> None:
    transport = SerialTransport(str(link.path), backoff=Backoff(initial=0.02, maximum=0.05))
    stop = threading.Event()
    with Pty() as pty:
        timer = threading.Timer(0.2, link.point_to, args=(pty.path,))
        timer.start()
        try:
            assert transport.connect(stop)
            assert transport.is_open and transport.open_failures >= 1
            assert transport.reconnects == 0  # the first open is not a reconnect
        finally:
            timer.cancel()
            transport.close()


def test_connect_gives_up_when_stopped(tmp_path: Path) -> None:
    transport = SerialTransport(str(tmp_path / "absent"), backoff=Backoff(0.01, 0.02))
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    assert not transport.connect(stop)


def test_unplug_is_a_lost_port_and_replug_reopens_the_same_path(link: StableLink) -> None:
    transport = SerialTransport(str(link.path), poll_s=0.05, backoff=Backoff(0.01, 0.05))
    first = Pty()
    link.point_to(first.path)
    transport.open()
    try:
        first.write(b"one")
        assert read_until(transport, 3) == b"one"
        first.close()  # the adapter is pulled out
        link.remove()
        with pytest.raises(PortLostError, match=r"stopped working|disappeared"):
            read_until(transport, 1)
        assert not transport.is_open
        with Pty() as second:
            link.point_to(second.path)
            assert transport.connect(threading.Event())
            second.write(b"two")
            assert read_until(transport, 3) == b"two"
        assert transport.reconnects == 1
    finally:
        transport.close()


def test_silent_port_whose_path_vanished_is_lost(link: StableLink) -> None:
    with Pty() as pty:
        link.point_to(pty.path)
        transport = SerialTransport(str(link.path), poll_s=0.02)
        transport.open()
        try:
            assert transport.read() == b""
            link.remove()
            with pytest.raises(PortLostError, match="disappeared: the device was unplugged"):
                transport.read()
        finally:
            transport.close()


def test_silent_port_whose_path_now_leads_elsewhere_is_lost(link: StableLink) -> None:
    with Pty() as old, Pty() as new:
        link.point_to(old.path)
        transport = SerialTransport(str(link.path), poll_s=0.02)
        transport.open()
        try:
            link.point_to(new.path)
            with pytest.raises(PortLostError, match=f"now leads to {new.path}"):
                transport.read()
        finally:
            transport.close()


def test_socket_url() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    transport = SerialTransport(f"socket://127.0.0.1:{port}", poll_s=0.05)
    transport.open()
    conn, _ = server.accept()
    try:
        conn.sendall(b"\x00\x01\x02frame")
        assert read_until(transport, 8) == b"\x00\x01\x02frame"
        assert transport.read() == b""  # silence on a URL is just silence
        conn.close()
        with pytest.raises(PortLostError):
            read_until(transport, 1)
    finally:
        transport.close()
        server.close()


def test_loop_url_and_write() -> None:
    transport = SerialTransport("loop://", poll_s=0.05)
    transport.open()
    try:
        transport.write(b"echo")
        assert read_until(transport, 4) == b"echo"
    finally:
        transport.close()
    with pytest.raises(PortLostError):
        transport.read()
    with pytest.raises(PortLostError):
        transport.write(b"x")
