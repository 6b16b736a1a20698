"""A hostile or broken fusion node: each misbehaviour gets a log line and an error, a
rejection or a reconnect; the uplink keeps working, its memory bounded, and nothing stored
is lost."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sapient_msg.bsi_flex_335_v2_0.sapient_message_pb2 import SapientMessage

from gateway.uplinks.sapient_codec import encode_frame, new_ulid, timestamp
from tests.gateway.sapient_rig import RawPeer, linked, sapient_config
from tests.gateway.uplink_rig import fields

FUSION_ID = "0b7e9f5c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"


@pytest.fixture
def peer() -> RawPeer:
    raw = RawPeer()
    yield raw
    raw.close()


def _from_fusion() -> SapientMessage:
    message = SapientMessage()
    message.timestamp.CopyFrom(timestamp(time.time()))
    message.node_id = FUSION_ID
    return message


def _task(request: str = "Status") -> SapientMessage:
    message = _from_fusion()
    message.task.task_id = new_ulid(time.time())
    message.task.control = message.task.CONTROL_START
    message.task.command.request = request
    return message


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _still_works(peer: RawPeer) -> None:
    """The link answers a task after the trouble: the unit is still there."""
    task = _task()
    peer.send(task)
    ack = peer.receive("task_ack")
    assert ack.task_ack.task_id == task.task.task_id
    assert ack.task_ack.task_status == ack.task_ack.TASK_STATUS_ACCEPTED


def test_garbage_and_the_wrong_message_type_get_an_error_back(
    tmp_path: Path, peer: RawPeer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), linked(tmp_path, sapient_config(peer.port)):
        peer.accept().ack_registration()
        peer.send(encode_frame(b"\xff\xff\xff\xff garbage"))
        error = peer.receive("error")
        assert "not a SapientMessage" in error.error.error_message[0]
        assert error.error.packet.startswith(b"\xff\xff")
        wrong = _from_fusion()
        wrong.detection_report.report_id = new_ulid(time.time())
        peer.send(wrong)
        assert "does not send detection_report" in peer.receive("error").error.error_message[0]
        bad_id = _task()
        bad_id.task.task_id = "not-a-ulid"
        peer.send(bad_id)
        assert "not an upper-case ULID" in peer.receive("error").error.error_message[0]
        _still_works(peer)
    assert "answered with an error" in caplog.text


@pytest.mark.parametrize("trouble", ["2^31 length", "truncated then closed"])
def test_a_broken_stream_ends_the_connection_and_the_unit_redials(
    tmp_path: Path, peer: RawPeer, caplog: pytest.LogCaptureFixture, trouble: str
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        linked(tmp_path, sapient_config(peer.port)) as (
            box,
            uplink,
        ),
    ):
        peer.accept().ack_registration()
        stored = [box.store(fields(n))["id"] for n in range(3)]
        if trouble == "2^31 length":
            peer.send((2**31).to_bytes(4, "little") + b"\x00" * 64)
        else:
            peer.send(encode_frame(_task())[:9])
            assert peer.sock is not None
            peer.sock.close()
        peer.accept(timeout=10).ack_registration()
        _still_works(peer)
        # every report stored is sent again or was counted delivered: none lost
        deadline = time.monotonic() + 5
        while box.pending_count("fusion") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert box.pending_count("fusion") == 0, stored
        assert uplink.status()["reconnects"] >= 1
    expected = "2147483648 bytes" if trouble == "2^31 length" else "127.0.0.1"
    assert "uplink fusion: disconnected: " in caplog.text and expected in caplog.text


def test_a_peer_that_stops_mid_frame_is_dropped(
    tmp_path: Path, peer: RawPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.uplinks.sapient_session.FRAME_STALL_S", 0.5)
    with linked(tmp_path, sapient_config(peer.port)):
        peer.accept().ack_registration()
        first = peer.sock
        peer.send(encode_frame(_task())[:9])  # and nothing more
        peer.accept(timeout=5).ack_registration()
        assert peer.sock is not first


def test_a_task_flood_is_rejected_above_the_rate_with_bounded_memory(
    tmp_path: Path, peer: RawPeer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        linked(tmp_path, sapient_config(peer.port)) as (
            box,
            uplink,
        ),
    ):
        peer.accept().ack_registration()
        assert peer.sock is not None
        before = _rss_kib()
        frame = encode_frame(_task("Status"))
        flood = frame * 2000  # 2000 tasks per write
        sent = [0]

        def blast() -> None:
            # The unit stops reading while its answers pile up unread: our sends then block.
            assert peer.sock is not None
            peer.sock.settimeout(0.5)
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    peer.sock.sendall(flood)
                    sent[0] += 2000
                except (TimeoutError, OSError):
                    continue

        thread = threading.Thread(target=blast)
        thread.start()
        thread.join()
        grown = _rss_kib() - before
        # now read what came back: acks (accepted, then rejected as too many)
        peer.sock.settimeout(5)
        acks = []
        while len(acks) < 200:
            message = peer.receive("task_ack")
            acks.append(message.task_ack)
        rejected = [a for a in acks if a.task_status == a.TASK_STATUS_REJECTED]
        assert rejected and "too many tasks" in rejected[0].reason[0]
        assert grown < 20_000, f"RSS grew by {grown} KiB during a flood of {sent[0]} tasks"
        stored = box.store(fields(0))["id"]
        assert uplink.state == "connected"
    assert "sends tasks faster than" in caplog.text
    assert stored
    print(f"flood: {sent[0]} tasks sent, RSS +{grown} KiB")


def test_an_unreachable_fusion_node_is_retried_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with caplog.at_level(logging.WARNING), linked(tmp_path, sapient_config(port)) as (box, up):
        box.store(fields(0))
        deadline = time.monotonic() + 3
        while up.status()["state"] != "unreachable" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # several redials
        assert up.status()["state"] == "unreachable"
        assert box.pending_count("fusion") == 1
    assert caplog.text.count("unreachable:") == 1


def test_tls_to_the_fusion_node_is_verified(tmp_path: Path, tls_material: Any) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_material.server_cert, tls_material.server_key)
    peer = RawPeer(tls=context)
    try:
        config = sapient_config(peer.port, tls={"ca_file": str(tls_material.ca_cert)})
        with linked(tmp_path, config) as (_box, uplink):
            peer.accept().ack_registration()
            _still_works(peer)
            assert uplink.status()["tls"] is True
    finally:
        peer.close()


def test_an_untrusted_certificate_is_refused(tmp_path: Path, tls_material: Any) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_material.server_cert, tls_material.server_key)
    peer = RawPeer(tls=context)
    try:
        with linked(tmp_path, sapient_config(peer.port, tls=True)) as (_box, uplink):
            with pytest.raises((ssl.SSLError, OSError)):
                peer.accept()  # the unit gives up the handshake: the system CAs do not know ours
            deadline = time.monotonic() + 5
            while uplink.state != "tls-failed" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert uplink.state == "tls-failed"
    finally:
        peer.close()
