"""The unit's report signing key (Ed25519): make one, and print its public half for partners.

    ugs-gateway key generate /etc/ugs-gateway/signing.key      # install.sh does this once
    ugs-gateway key public -c /etc/ugs-gateway/gateway.toml     # the line partners need

`generate` writes a new private key (PEM) readable by its owner and group only (mode 0640)
and refuses to replace an existing one (a new key makes every partner's copy of the old
public key useless). `public` prints one line, "ugs-ed25519 NODE KEY", for the key the
config names in [signing] key_file (or --key FILE --node ID): partners put these lines into
the file they give `ugs-gateway subscribe --verify-key`. See docs/signing.md.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

NAME = "key"
HELP = "make the unit's report signing key, or print its public half for partners"
ORDER = 35


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    generate = sub.add_parser("generate", help="write a new private key (mode 0640)")
    generate.add_argument("path", type=Path, metavar="FILE", help="where to write the key")
    public = sub.add_parser("public", help="print the public key line for partners")
    public.add_argument("-c", "--config", type=Path, metavar="CONFIG", help="the gateway config")
    public.add_argument("--key", type=Path, metavar="FILE", help="the private key file")
    public.add_argument("--node", metavar="ID", help="node id (default: the config's)")


def run(args: argparse.Namespace) -> int:
    from gateway.errors import InputError
    from gateway.signing import Signer, generate_key, public_line

    if args.action == "generate":
        path: Path = args.path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            raise InputError(
                f"{path} exists: a unit keeps its key (partners hold its public half); "
                "remove it first to make a new one"
            ) from None
        except OSError as exc:
            raise InputError(f"cannot create {path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as out:
            out.write(generate_key())
            out.flush()
            os.fsync(out.fileno())
        signer = Signer.from_file(path)
        # The node id is the config's, unknown here: `key public -c CONFIG` prints it in.
        print(public_line(signer.public_key, "NODE"))
        return 0

    node, key = args.node, args.key
    if args.config is not None:
        from gateway.config import load_config

        config = load_config(args.config)
        node = node or config.node.id
        key = key or config.signing.key_file
        if key is None:
            raise InputError(f"{args.config}: no [signing] key_file: reports are not signed")
    if key is None or node is None:
        raise InputError("give -c CONFIG, or --key FILE and --node ID")
    print(public_line(Signer.from_file(key).public_key, node))
    return 0
