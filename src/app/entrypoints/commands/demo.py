"""``portico demo``: the end-to-end patient story on the embedded defaults (fakes, no network)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico demo``."""
    parser = subparsers.add_parser("demo", help="run the patient story on fakes (no network)")
    parser.set_defaults(handler=run)


def run(_args: argparse.Namespace) -> int:
    """Run the demo story and print its report."""
    from ..demo import main

    return main()
