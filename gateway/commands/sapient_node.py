"""A stand-in SAPIENT fusion node: see what a unit sends, and task it.

Listens on HOST:PORT for ASMs (units with a `protocol = "sapient"` uplink), acknowledges
valid registrations and prints every message, received or sent, as one JSON line on stdout
with what a strict fusion node would find wrong with it ("valid", "problems": mandatory
fields, unknown fields or enum values, ULID/UUID formats, a timestamp outside -0.9/+0.1 s of
this machine's clock).

Tasks are read from stdin, one per line, and sent to every registered unit:

    request Status           (also Registration, Reset, Stop, Start, or anything else)
    mode sensitive           (a mode change)
    task {"control": "CONTROL_START", "command": {"look_at": {...}}}   (any Task, as JSON)

Runs until Ctrl-C or SIGTERM (exit 0); 2 for a bad --listen.
"""

from __future__ import annotations

import argparse

NAME = "sapient-node"
HELP = "stand-in SAPIENT fusion node: print what units send (JSON lines), task them"
ORDER = 75


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", required=True, metavar="HOST:PORT", help="address to accept units on"
    )
    parser.add_argument(
        "--no-ack",
        action="store_true",
        help="never acknowledge registrations (to see how a unit copes)",
    )


def _command(node: object, line: str) -> str | None:
    import json

    from gateway.sapient_node import FusionNode

    assert isinstance(node, FusionNode)
    word, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if not word:
        return None
    if word == "request" and rest:
        sent = node.send_task(request=rest)
    elif word == "mode" and rest:
        sent = node.send_task(mode_change=rest)
    elif word == "task" and rest:
        try:
            body = json.loads(rest)
        except ValueError as exc:
            return f"not JSON: {exc}"
        if not isinstance(body, dict):
            return "a task is a JSON object"
        try:
            sent = node.send_task(task=body)
        except Exception as exc:  # json_format's errors name the field
            return f"not a Task: {exc}"
    else:
        return "commands: request NAME | mode NAME | task JSON"
    return None if sent else "no registered unit to task"


def run(args: argparse.Namespace) -> int:
    import json
    import signal
    import sys
    import threading
    from types import FrameType

    from gateway.commands.subscribe import parse_broker
    from gateway.errors import InputError
    from gateway.sapient_node import FusionNode

    if ":" not in args.listen:
        raise InputError(f"--listen {args.listen!r} is not HOST:PORT (e.g. 0.0.0.0:5020)")
    try:
        host, port = parse_broker(args.listen, tls=False)
    except InputError:
        raise InputError(f"--listen {args.listen!r} is not HOST:PORT (e.g. 0.0.0.0:5020)") from None
    lock = threading.Lock()

    def emit(record: dict[str, object]) -> None:
        with lock:
            sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
            sys.stdout.flush()

    try:
        node = FusionNode(host, port, emit, ack=not args.no_ack)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.listen}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    def read_commands() -> None:
        for line in sys.stdin:
            problem = _command(node, line)
            if problem:
                emit({"type": "command-error", "line": line.strip(), "problem": problem})

    node.start()
    print(f"listening on {node.host}:{node.port} as fusion node {node.node_id}", file=sys.stderr)
    threading.Thread(target=read_commands, name="commands", daemon=True).start()
    try:
        # Bounded waits: a signal the kernel hands to another thread is handled here, in the
        # main thread, only when it runs again.
        while not stop.wait(1.0):
            pass
    finally:
        node.stop()
    return 0
