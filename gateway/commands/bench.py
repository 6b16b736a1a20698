"""Run the project's performance benchmarks and print the results as one JSON object.

The benchmarks live in :mod:`gateway.bench`; each of its modules named in ``QUICK`` has a
``BENCHMARKS`` mapping of name -> function returning a dict of figures. Figures that compare
against a reference (ObsPy, scipy, a raw fsync) measure that reference in the same run, so the
ratios mean something on a shared or slow machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

NAME = "bench"
HELP = "run the performance benchmarks and print JSON"
ORDER = 90


log = logging.getLogger(__name__)

Benchmark = Callable[[], dict[str, Any]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this benchmark (repeatable); see --list",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")


def collect() -> dict[str, Benchmark]:
    found: dict[str, Benchmark] = {}
    from gateway.bench import QUICK

    for name in QUICK:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        found.update(module.BENCHMARKS)
    return found


def run(args: argparse.Namespace) -> int:
    from gateway.errors import InputError

    benchmarks = collect()
    if args.list:
        for name in benchmarks:
            print(name)
        return 0
    selected = args.only or list(benchmarks)
    unknown = [name for name in selected if name not in benchmarks]
    if unknown:
        raise InputError(f"unknown benchmark(s): {', '.join(unknown)} (see --list)")
    results: dict[str, Any] = {}
    for name in selected:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        figures = benchmarks[name]()
        log.debug("%s took %.1f s", name, time.perf_counter() - started)
        results.update(figures)
    print(json.dumps(results, indent=2, sort_keys=True))
    return 0
