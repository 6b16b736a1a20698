"""Central side: receive detections from a broker and print each as one JSON line.

Decodes both encodings (JSON and compact binary; node and site of a compact report come from
its topic), prints each report once even when the broker delivers it again (duplicates are
recognised by their id among the last --dedupe-size ids), and flushes every line.

Status messages are printed only if you subscribe to them (e.g. --topic 'ugs/v1/+/+/status'),
as {"status": ..., "topic": ..., "site": ..., "node": ..., "retained": ...}; the status is
the node's JSON health, or the string "offline" when its last will fired.

By default the session is persistent (clean session off, QoS 1, a client id that stays the
same for this host and topic set): a broker with persistence keeps the detections that
arrive while this subscriber is away and delivers them when it comes back. Use --clean for
a throw-away session, --client-id to run several subscribers on one host.

With --verify-key FILE (repeatable; lines "ugs-ed25519 NODE KEY" as printed by
`ugs-gateway key public` on each unit), only reports signed by their node's key for the
topic they came on are printed; forged ones, unsigned ones and those of nodes without a key
are rejected with a log line. A message that is not a report (garbage, too large, nested
too deep) is logged, acknowledged and skipped: it never ends the command.

If the broker cannot be reached (or refuses the credentials), the command keeps retrying
with a growing delay (up to 15 s) and logs one line per change of state; it never gives up
on its own. SIGINT/SIGTERM end it cleanly (exit 0). A malformed --broker or a missing file
exits with 2.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

NAME = "subscribe"
HELP = "central side: print received detections (any encoding) as JSON lines, deduplicated"
ORDER = 60

_HOST_PORT = re.compile(
    r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+))(?::(?P<port>\d+))?$"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        required=True,
        metavar="HOST[:PORT]",
        help="broker address (default port 1883, 8883 with TLS)",
    )
    parser.add_argument(
        "--topic",
        action="append",
        metavar="T",
        help="topic filter, repeatable (default ugs/v1/+/+/detection)",
    )
    parser.add_argument(
        "--client-id",
        metavar="ID",
        help="MQTT client id (default: derived from the host name and topics)",
    )
    parser.add_argument(
        "--clean",
        action="store_true",
        help="clean session: nothing is kept for this subscriber while away",
    )
    parser.add_argument(
        "--qos", type=int, choices=(0, 1, 2), default=1, help="subscription QoS (default 1)"
    )
    parser.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="exit after N detections (default: run until stopped)",
    )
    parser.add_argument(
        "--dedupe-size",
        type=int,
        default=100_000,
        metavar="N",
        help="how many recent ids are remembered for deduplication",
    )
    parser.add_argument(
        "--verify-key",
        action="append",
        type=Path,
        metavar="FILE",
        help="accept only reports signed by the units whose public keys FILE lists (repeatable)",
    )
    parser.add_argument(
        "--keepalive",
        type=int,
        default=30,
        metavar="S",
        help="MQTT keep-alive in seconds (default 30)",
    )
    tls = parser.add_argument_group("TLS and credentials")
    tls.add_argument("--tls", action="store_true", help="TLS with the system's trusted CAs")
    tls.add_argument("--ca-file", type=Path, help="CA of the broker's certificate (implies --tls)")
    tls.add_argument("--cert-file", type=Path, help="client certificate for mTLS (with --key-file)")
    tls.add_argument("--key-file", type=Path, help="client key for mTLS")
    tls.add_argument(
        "--insecure", action="store_true", help="TLS without verifying the broker (tests only)"
    )
    tls.add_argument("--username", help="user name")
    tls.add_argument("--password-file", type=Path, help="file holding the password (line 1)")


def parse_broker(text: str, tls: bool) -> tuple[str, int]:
    """``(host, port)`` from ``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT``."""
    from gateway.errors import InputError

    match = _HOST_PORT.match(text.strip())
    if not match:
        raise InputError(f"--broker {text!r} is not HOST[:PORT] (e.g. 192.168.1.10:1883)")
    host = match.group("v6") or match.group("host")
    port = int(match.group("port")) if match.group("port") else (8883 if tls else 1883)
    if not 1 <= port <= 65535:
        raise InputError(f"--broker {text!r}: port {port} is not in 1-65535")
    return host, port


def _check_files(args: argparse.Namespace) -> None:
    from gateway.errors import InputError

    for path in args.verify_key or []:
        if not path.is_file():
            raise InputError(f"--verify-key {path}: no such file")
    for flag in ("ca_file", "cert_file", "key_file", "password_file"):
        path = getattr(args, flag)
        if path is not None and not path.is_file():
            raise InputError(f"--{flag.replace('_', '-')} {path}: no such file")
    if (args.cert_file is None) != (args.key_file is None):
        raise InputError("--cert-file and --key-file go together (mTLS needs both)")
    if args.password_file is not None and args.username is None:
        raise InputError("--password-file needs --username")
    if args.count is not None and args.count < 1:
        raise InputError("--count must be at least 1")
    if args.dedupe_size < 1:
        raise InputError("--dedupe-size must be at least 1")


def run(args: argparse.Namespace) -> int:
    from gateway.signing import Verifier
    from gateway.subscriber import DEFAULT_TOPIC, Subscriber, default_client_id
    from gateway.uplinks import mqtt_client as mq
    from gateway.uplinks.config import TlsConfig

    _check_files(args)
    verifier = Verifier.from_files(args.verify_key) if args.verify_key else None
    use_tls = bool(args.tls or args.ca_file or args.cert_file or args.insecure)
    host, port = parse_broker(args.broker, use_tls)
    topics = args.topic or [DEFAULT_TOPIC]
    tls = None
    if use_tls:
        tls = TlsConfig(
            ca_file=args.ca_file,
            cert_file=args.cert_file,
            key_file=args.key_file,
            verify=not args.insecure,
        )
    settings = mq.LinkSettings(
        label="subscribe",
        host=host,
        port=port,
        client_id=args.client_id or default_client_id(topics),
        clean_session=args.clean,
        keepalive=args.keepalive,
        connect_timeout=5.0,
        tls=tls,
        username=args.username,
        password_file=args.password_file,
    )

    def emit(line: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    subscriber = Subscriber(
        settings,
        topics,
        emit,
        qos=args.qos,
        dedupe_size=args.dedupe_size,
        count=args.count,
        verifier=verifier,
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if subscriber.done:
            raise KeyboardInterrupt  # a second signal: do not wait for a slow connect
        subscriber.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        subscriber.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
