"""Validate a gateway configuration file without starting anything.

Prints "ok" and exits 0, or prints one line per problem, each naming the field path
(for example ``sensors[1].device_id: ...``), and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

NAME = "check-config"
HELP = "validate a configuration file (exit 0, or 2 with one line per problem)"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="path to the TOML config")


def run(args: argparse.Namespace) -> int:
    from dsp.classifier import ModelError, load_model
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    path = config.dsp.classifier.model
    try:
        model = load_model(path)
    except ModelError as exc:
        print(f"dsp.classifier.model: {exc}", file=sys.stderr)
        return 2
    print(f"{args.config}: ok")
    if path is not None:
        print(f"dsp.classifier.model: {model_line(model.info, model.name, model.digest)}")
    return 0


def model_line(info: dict[str, Any], name: str, digest: str) -> str:
    """What a model file holds, in a line: a site model says what it was calibrated from."""
    prior = info.get("prior")
    if not isinstance(prior, dict):
        return f"{name} ({digest})"
    calibration = info.get("calibration") or {}
    walks = info.get("walk_tests") or []
    forced = " (written with --force, though it scored worse)" if calibration.get("forced") else ""
    return (
        f"site model {name} ({digest}) from {len(walks)} walk test(s) on top of "
        f"{prior.get('id')} ({prior.get('hash')}){forced}"
    )
