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
from typing import Any

NAME = "check-config"
HELP = "validate a configuration file (exit 0, or 2 with one line per problem)"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="path to the TOML config")


def run(args: argparse.Namespace) -> int:
    from dsp.classifier import ModelError, configured_model
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
    classifier = config.dsp.classifier
    model = None
    try:
        model = configured_model(classifier)
    except ModelError as exc:
        problems.append(f"dsp.classifier.model: {exc}")
    for line in problems:
        print(line, file=sys.stderr)
    if problems or model is None:
        return 2
    print(f"{args.config}: ok")
    if classifier.model is not None or classifier.installation != "ground":
        print(f"dsp.classifier.model: {model_line(model.info, model.name, model.digest)}")
    return 0


def model_line(info: dict[str, Any], name: str, digest: str) -> str:
    """What a model file holds, in a line: a site model says what it was calibrated from."""
    prior = info.get("prior")
    if not isinstance(prior, dict):
        return f"{name} ({digest})"
    calibration = info.get("calibration") or {}
    simulated = info.get("simulated")
    if isinstance(simulated, dict):
        seeds = simulated.get("seeds") or []
        source = f"simulated {simulated.get('scenario')!r} ({len(seeds)} recordings)"
        empty = simulated.get("empty") or []
        if empty:
            names = ", ".join(sorted({str(item[0]) for item in empty}))
            source += f" with {len(empty)} of the setting empty ({names})"
        real = (info.get("real") or {}).get("sets") or {}
        if real:
            source += f" and the dev split of {', '.join(real)}"
    else:
        source = f"{len(info.get('walk_tests') or [])} walk test(s)"
    forced = " (written with --force, though it scored worse)" if calibration.get("forced") else ""
    return (
        f"site model {name} ({digest}) from {source} on top of "
        f"{prior.get('id')} ({prior.get('hash')}){forced}"
    )
