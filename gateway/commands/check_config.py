"""Validate a gateway configuration file without starting anything.

Prints "ok" and exits 0, or prints one line per problem, each naming the field path
(for example ``sensors[1].device_id: ...``), and exits 2. Secret files (passwords, keys)
that this user cannot read, or that other users can, are problems too (run it as the
service user: the installer does). Links that trust too much (``tls.verify = false``, a
password without TLS) are printed as ``WARNING`` lines and do not change the exit code.
"""

from __future__ import annotations

import argparse
import sys

NAME = "check-config"
HELP = "validate a configuration file (exit 0, or 2 with one line per problem)"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="path to the TOML config")


def run(args: argparse.Namespace) -> int:
    from gateway import trust
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    for line in trust.config_warnings(config):
        print(f"WARNING: {line}", file=sys.stderr)
    problems = trust.config_problems(config)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"{args.config}: ok")
    return 0
