"""Send one remote-tasking command to a unit over MQTT and print its reply.

The unit's uplink to this broker must grant the command (`tasking = [...]` in its
`[[uplinks]]` entry; nothing is granted by default). Commands:

    status                  the unit's status now (JSON)
    mode NAME               switch the unit to a mode its config defines
    snippet REPORT_ID       fetch the miniSEED waveform of a detection (--out FILE)

NODE is the unit's node id (with --site) or SITE/NODE. Prints the reply as one JSON line.
Exit codes: 0 done, 1 refused by the unit or no reply, 2 bad arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "task"
HELP = "send a remote-tasking command (status, mode, snippet) to a unit over MQTT"
ORDER = 65


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", required=True, metavar="HOST[:PORT]", help="broker address")
    parser.add_argument("--site", help="the unit's site (or give NODE as SITE/NODE)")
    parser.add_argument(
        "--prefix", default="ugs/v1", metavar="P", help="the uplink's topic_prefix (ugs/v1)"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="S", help="seconds to wait for the reply"
    )
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="snippet: where to write it (REPORT_ID.mseed)"
    )
    parser.add_argument("node", metavar="NODE", help="node id, or SITE/NODE")
    parser.add_argument("command", metavar="COMMAND", choices=("status", "mode", "snippet"))
    parser.add_argument("argument", metavar="ARG", nargs="?", help="mode name or report id")
    tls = parser.add_argument_group("TLS and credentials")
    tls.add_argument("--tls", action="store_true", help="TLS with the system's trusted CAs")
    tls.add_argument("--ca-file", type=Path, help="CA of the broker's certificate (implies --tls)")
    tls.add_argument("--cert-file", type=Path, help="client certificate for mTLS (with --key-file)")
    tls.add_argument("--key-file", type=Path, help="client key for mTLS")
    tls.add_argument("--username", help="user name")
    tls.add_argument("--password-file", type=Path, help="file holding the password (line 1)")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from gateway.commands.subscribe import parse_broker
    from gateway.errors import InputError
    from gateway.task_client import send_task
    from gateway.uplinks.config import TlsConfig
    from gateway.uplinks.mqtt_client import LinkError, read_password

    site, _, node = args.node.rpartition("/")
    site = site or args.site
    if not site:
        raise InputError("give the unit's site: --site SITE, or NODE as SITE/NODE")
    request: dict[str, object] = {"command": args.command}
    if args.command in ("mode", "snippet") and not args.argument:
        what = "a mode name" if args.command == "mode" else "a report id"
        raise InputError(f"{args.command} needs {what}")
    if args.command == "mode":
        request["mode"] = args.argument
    elif args.command == "snippet":
        request["id"] = args.argument
    use_tls = bool(args.tls or args.ca_file or args.cert_file)
    host, port = parse_broker(args.broker, tls=use_tls)
    tls = None
    if use_tls:
        tls = TlsConfig(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
    password = None
    if args.password_file is not None:
        try:
            password = read_password(args.password_file)
        except LinkError as exc:
            raise InputError(exc.message) from None
    result = send_task(
        host, port, site=site, node=node, request=request, prefix=args.prefix, tls=tls,
        username=args.username, password=password, timeout=args.timeout,
    )  # fmt: skip
    reply = dict(result.replies[-1])
    if result.data is not None:
        out = args.out or Path(f"{args.argument}.mseed")
        out.write_bytes(result.data)
        reply = {k: v for k, v in reply.items() if k not in ("chunk", "data")}
        reply["written"] = str(out)
    print(json.dumps(reply, separators=(",", ":")))
    if not result.ok:
        print(f"ugs-gateway task: refused: {reply.get('error')}", file=sys.stderr)
        return 1
    return 0
