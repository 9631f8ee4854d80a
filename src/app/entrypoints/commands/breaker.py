"""
``portico breaker``: operator overrides of a circuit breaker, honoured by every running process.

``open|close|disable INTEGRATION [--for 10m]`` forces a breaker open, closed or off (until
``--for`` elapses, else until cleared); ``clear INTEGRATION`` ends the override; ``reset
INTEGRATION`` ends it and resets the breaker's counters in every process; ``status`` lists the
overrides. They are written to the breaker-control store (SQLite in ``data_dir``), which every
pipeline of a server, relay or host worker reads at most once a second.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

from ....domain.errors import ConfigurationError, IntegrationError
from ...wiring.settings import load_settings
from ...wiring.stores import build_breaker_control_store


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MODES = {"open": "open", "close": "closed", "disable": "disabled"}


def duration(text: str) -> float:
    """``90``, ``30s``, ``10m``, ``2h`` or ``1d`` as seconds (> 0)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None or float(match[1]) <= 0:
        msg = f"--for: expected a positive duration like 30s, 10m or 2h, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return float(match[1]) * _UNITS[match[2] or "s"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico breaker``."""
    parser = subparsers.add_parser(
        "breaker", help="force a circuit breaker open / closed / off, reset it, or list overrides"
    )
    parser.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action in ("open", "close", "disable"):
        sub = actions.add_parser(action, help=f"{action} INTEGRATION [--for DURATION]")
        sub.add_argument("integration")
        sub.add_argument("--for", dest="seconds", type=duration, default=None)
    for action in ("clear", "reset"):
        actions.add_parser(action, help=f"{action} INTEGRATION").add_argument("integration")
    actions.add_parser("status", help="list the overrides")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Apply one action; exit 0, or 1 with a one-line error."""
    try:
        config = {"config_file": args.config} if args.config else None
        settings = load_settings(config, env=os.environ)
        known = sorted(settings.resilience)
        integration: str = getattr(args, "integration", "")
        if args.action != "status" and integration not in known:
            sys.stderr.write(f"unknown integration {integration!r} (known: {', '.join(known)})\n")
            return 1
        store = build_breaker_control_store(settings)
        try:
            if args.action in _MODES:
                until = None if args.seconds is None else time.time() + args.seconds
                store.set(integration, _MODES[args.action], until)  # type: ignore[arg-type]
            elif args.action == "clear":
                store.clear(integration)
            elif args.action == "reset":
                store.reset(integration)
            now = time.time()
            for name, row in sorted(store.read().items()):
                mode = row.active(now)
                left = "" if mode is None or row.until is None else f" for {row.until - now:.0f}s"
                sys.stdout.write(f"{name}: {mode or 'no override'}{left} (resets: {row.resets})\n")
        finally:
            store.close()
    except (ConfigurationError, IntegrationError) as exc:
        sys.stderr.write(f"portico breaker: {exc}\n")
        return 1
    return 0
