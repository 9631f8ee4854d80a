"""
The ``portico`` command line.

Each subcommand lives in its own module under `app.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (``args -> exit code``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.commands import demo, health, outbox, serve


COMMANDS = (demo, serve, health, outbox)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="portico",
        description="A resilient, secure and testable layer to the services your app depends on.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; exit codes: 0 ok, 1 failure, 2 usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
