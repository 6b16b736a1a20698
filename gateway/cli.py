"""The ``ugs-gateway`` console script.

Each command lives in its own module under ``gateway.commands`` and exposes ``NAME``, ``HELP``,
``ORDER`` (position in ``--help``), ``add_arguments(parser)`` and ``run(args) -> int``. Command
modules keep heavy imports (numpy, numba, paho) inside ``run`` so that ``--help`` stays fast.

Exit codes: 0 ok, 2 bad input (a message, never a traceback), 1 other failure.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import cast

from gateway import __version__, commands
from gateway.errors import InputError, UgsError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on bad arguments already; keep its message on one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _command_modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found.append(module)
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.NAME))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ugs-gateway",
        description="Edge gateway for unattended ground sensors.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log verbosity on stderr (default INFO)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in _command_modules():
        doc = (module.__doc__ or "").strip()
        cmd = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=doc or module.HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(cmd)
        cmd.set_defaults(handler=module.run)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    handler = cast(Callable[[argparse.Namespace], int], args.handler)
    try:
        return handler(args)
    except InputError as exc:
        print(f"ugs-gateway {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UgsError as exc:
        print(f"ugs-gateway {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
