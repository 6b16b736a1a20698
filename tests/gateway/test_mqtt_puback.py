"""PUBACK handling of an MQTT connection, against a scripted broker on a real TCP socket
(mosquitto never sends a malformed PUBACK, so it cannot play this part)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import paho.mqtt

from gateway.uplinks import mqtt_client as mq
from gateway.uplinks import paho_client


def read_packet(conn: socket.socket) -> tuple[int, bytes]:
    """One MQTT packet: (first header byte, everything after the remaining length)."""
    header = conn.recv(1, socket.MSG_WAITALL)
    if not header:
        raise ConnectionError("closed")
    length, shift = 0, 0
    while True:
        byte = conn.recv(1, socket.MSG_WAITALL)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return header[0], conn.recv(length, socket.MSG_WAITALL) if length else b""


def publish_mid(body: bytes) -> int:
    topic_len = int.from_bytes(body[:2], "big")
    return int.from_bytes(body[2 + topic_len : 4 + topic_len], "big")


class ScriptedBroker(threading.Thread):
    """Accepts one client, answers CONNECT, then answers its first PUBLISH with a proper
    PUBACK and its second with a PUBACK one byte too long; then waits for the close."""

    def __init__(self) -> None:
        super().__init__(name="scripted-broker", daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.closed_by_client = threading.Event()

    def run(self) -> None:
        with self.server, self.server.accept()[0] as conn:
            conn.settimeout(10)
            assert read_packet(conn)[0] >> 4 == 1  # CONNECT
            conn.sendall(b"\x20\x02\x00\x00")  # CONNACK: accepted
            for reply in (b"", b"\x00"):
                kind, body = read_packet(conn)
                assert kind >> 4 == 3  # PUBLISH
                mid = publish_mid(body)
                conn.sendall(bytes([0x40, 2 + len(reply)]) + mid.to_bytes(2, "big") + reply)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            self.closed_by_client.set()


def pump_until(
    conn: mq.MqttConnection, condition: Callable[[], bool], timeout: float = 5.0
) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        conn.pump(0.05)


def test_the_pinned_paho_takes_the_short_puback_path() -> None:
    # If this fails, paho-mqtt was upgraded: check PahoClient._handle_pubackcomp against the
    # new paho's own (gateway/uplinks/paho_client.py), then set PAHO_CHECKED to the new version.
    assert paho.mqtt.__version__ == paho_client.PAHO_CHECKED and paho_client.FAST_PUBACK


def test_a_proper_puback_counts_and_a_malformed_one_ends_the_link() -> None:
    broker = ScriptedBroker()
    broker.start()
    settings = mq.LinkSettings(
        label="scripted", host="127.0.0.1", port=broker.port, client_id="ugs-t-puback",
        keepalive=5, connect_timeout=2.0,
    )  # fmt: skip
    conn = mq.connect(settings)
    try:
        first = conn.publish("ugs/v1/rig/t/detection", b"{}", qos=1)
        acks: list[int] = []

        def acked() -> bool:
            acks.extend(conn.take_acks())
            return bool(acks)

        pump_until(conn, acked)
        assert acks == [first]
        conn.publish("ugs/v1/rig/t/detection", b"{}", qos=1)
        pump_until(conn, lambda: not conn.alive)
        # A PUBACK paho cannot parse is a protocol error: the link is dropped (the report
        # stays in the outbox, to be sent again), and nothing counts as acknowledged.
        assert not conn.alive and conn.failure is not None
        assert conn.failure.state == mq.DISCONNECTED
        assert conn.take_acks() == []
        assert broker.closed_by_client.wait(5)
    finally:
        conn.close()
        broker.join(10)
