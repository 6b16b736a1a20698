"""Validate a gateway configuration file without starting anything.

Prints "ok" and exits 0, or prints one line per problem, each naming the field path
(for example ``sensors[1].device_id: ...``), and exits 2.
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
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    print(f"{args.config}: ok")
    return 0
