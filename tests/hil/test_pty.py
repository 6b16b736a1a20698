"""Pseudo-terminals as serial ports: raw bytes both ways, hang-up on close, stable links."""

from __future__ import annotations

import os
import select
import termios
import time
from pathlib import Path

import pytest
import serial

from hil.emulators.pty import Pty, PtyPair, StableLink

EVERY_BYTE = bytes(range(256))


def read_exactly(port: serial.Serial, n: int) -> bytes:
    data = port.read(n)
    assert len(data) == n, f"got {len(data)} of {n} bytes"
    return bytes(data)


def read_master(pty: Pty, n: int, timeout: float = 2.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        select.select([pty.master], [], [], 0.1)
        got += pty.read()
    return got


def test_pty_carries_every_byte_value_unmangled_both_ways() -> None:
    with Pty() as pty:
        port = serial.serial_for_url(pty.path, timeout=2)
        try:
            assert pty.write(EVERY_BYTE) == 256
            assert read_exactly(port, 256) == EVERY_BYTE
            port.write(EVERY_BYTE)
            assert read_master(pty, 256) == EVERY_BYTE
        finally:
            port.close()


def test_pty_is_raw_before_anyone_opens_it() -> None:
    with Pty() as pty:
        attrs = termios.tcgetattr(pty.master)
        lflag = attrs[3]
        assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG)


def test_pty_close_is_a_hang_up_for_the_reader() -> None:
    pty = Pty()
    port = serial.serial_for_url(pty.path, timeout=2)
    try:
        pty.close()
        with pytest.raises(serial.SerialException):
            port.read(1)
    finally:
        port.close()


def test_pair_is_a_null_modem_cable() -> None:
    with PtyPair() as pair:
        a = serial.serial_for_url(pair.a, timeout=2)
        b = serial.serial_for_url(pair.b, timeout=2)
        try:
            a.write(EVERY_BYTE * 40)  # more than one kernel buffer's worth
            assert read_exactly(b, 256 * 40) == EVERY_BYTE * 40
            b.write(b"\r\n\x03")
            assert read_exactly(a, 3) == b"\r\n\x03"
        finally:
            a.close()
            b.close()
    assert pair.paths == (pair.a, pair.b)


def test_pair_survives_a_side_that_reopens() -> None:
    with PtyPair() as pair:
        b = serial.serial_for_url(pair.b, timeout=2)
        b.close()
        a = serial.serial_for_url(pair.a, timeout=2)
        b = serial.serial_for_url(pair.b, timeout=2)
        try:
            a.write(b"again")
            assert read_exactly(b, 5) == b"again"
        finally:
            a.close()
            b.close()


def test_stable_link_can_be_unplugged_and_replugged_elsewhere(tmp_path: Path) -> None:
    link = StableLink(tmp_path / "serial" / "by-id" / "usb-Test-if00-port0")
    with Pty() as first, Pty() as second:
        link.point_to(first.path)
        assert os.path.realpath(link.path) == first.path and link.exists
        link.remove()
        assert not link.exists and not os.path.lexists(link.path)
        link.remove()  # twice is fine
        link.point_to(second.path)
        assert os.path.realpath(link.path) == second.path
        link.point_to(first.path)  # re-pointing an existing link is atomic
        assert os.path.realpath(str(link)) == first.path
    with link:
        pass
    assert not link.exists
