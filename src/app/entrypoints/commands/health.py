"""
``portico health``: the Integrations Audit Report for the container's integrations.

One row per integration: circuit state, failures, last success, retry attempts, backoff and the
breaker's threshold. With ``--probe`` it first makes one harmless read per port through its
resilient pipeline (looking up an id that does not exist: "not found" proves the vendor answered),
so the table reflects the vendors' health now, not only this process's history.
Exit codes (`EXIT_CODES`): 0 healthy; 1 unhealthy (a probe got no answer, a circuit is open, the
server or the outbox cannot be read); 2 degraded (the outbox holds dead letters, or its oldest
pending command is older than ``--max-pending-age``): webhooks were acknowledged but their side
effects are not delivered, which a monitor must see.

Webhook counters (received, processed, duplicates, rejected, unknown types, handler failures per
provider) live in the serving process: ``--server http://127.0.0.1:8000`` reads them from a
running ``portico serve`` (``GET /healthz/webhooks``); an unreachable server, or one that cannot
process deliveries (its replay store fails), also exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ....adapters.resilience import CircuitState, render_health
from ....domain.errors import IntegrationError, NotFound, PermanentError
from ...services.outbox_health import DEFAULT_MAX_PENDING_AGE, outbox_problems
from ...wiring.container import ConfigurationError, Container, create_container
from ..webhook_counters import COUNTERS_PATH, fetch_webhook_health, render_webhook_counters
from ._args import positive_seconds
from .outbox import read_backlog


_PROBE_ID = "portico-health-probe"
HEALTHY, UNHEALTHY, DEGRADED = 0, 1, 2
EXIT_CODES = """exit codes:
  0  healthy
  1  unhealthy: a probe got no answer, a circuit is open, or the server / outbox is unreadable
  2  degraded: the outbox holds dead letters, or a command has been pending longer than
     --max-pending-age (is a relay running?)
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico health``."""
    parser = subparsers.add_parser(
        "health",
        help="print the Integrations Audit Report (exit 0 ok, 1 unhealthy, 2 degraded)",
        description="The Integrations Audit Report: circuits, outbox backlog, webhook counters.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=["markdown", "text"], default="markdown")
    parser.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    parser.add_argument(
        "--probe", action="store_true", help="make one harmless read per port before reporting"
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="a running `portico serve` (e.g. http://127.0.0.1:8000): show its webhook counters",
    )
    parser.add_argument(
        "--max-pending-age",
        type=positive_seconds,
        default=DEFAULT_MAX_PENDING_AGE,
        metavar="SECONDS",
        help="degraded when the oldest pending command is older (default 900: 15 minutes)",
    )
    parser.set_defaults(handler=run)


async def probe(container: Container) -> list[str]:
    """One lookup of a missing id per port; returns a line per port whose vendor did not answer."""
    reads: dict[str, Callable[[], Awaitable[object]]] = {
        "messaging": lambda: container.messaging().get_status(_PROBE_ID),
        "crm": lambda: container.crm().get_contact(_PROBE_ID),
        "payments": lambda: container.payments().get_payment_intent(_PROBE_ID),
        "voice": lambda: container.voice().get_call(_PROBE_ID),
    }
    problems = []
    settings = container.settings()
    for port, read in reads.items():
        if not settings.enabled(port):
            continue  # left off by the configuration: nothing to probe
        try:
            await read()
        except NotFound:
            continue
        except PermanentError as exc:
            if exc.status_code in (400, 404, 422):
                continue  # the vendor answered; our probe id is merely malformed for it
            problems.append(f"{port}: {type(exc).__name__}: {exc}")
        except IntegrationError as exc:
            problems.append(f"{port}: {type(exc).__name__}: {exc}")
    return problems


def run(args: argparse.Namespace) -> int:
    """Build the container, optionally probe, print the report."""
    try:
        container = create_container({"config_file": args.config} if args.config else None)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico health: {exc}\n")
        return 1
    problems = asyncio.run(probe(container)) if args.probe else []
    rows = container.breakers().snapshot()
    sys.stdout.write(render_health(rows, fmt=args.format))
    if not args.probe:
        # Breakers live in each process: a fresh CLI process has seen no call yet.
        sys.stdout.write(
            "circuits: this process's view, no call made yet; add --probe to try each vendor now\n"
        )
    line, status, unreadable = read_backlog(container)
    sys.stdout.write(line)
    if unreadable:
        problems.append(line.strip())
    problems.extend(_webhooks(args))
    for problem in problems:
        sys.stdout.write(f"probe failed: {problem}\n")
    max_age = getattr(args, "max_pending_age", DEFAULT_MAX_PENDING_AGE)
    degraded = [] if status is None else outbox_problems(status, max_pending_age=max_age)
    for reason in degraded:
        sys.stdout.write(f"degraded: outbox: {reason}\n")
    if problems or any(row.stats.state is CircuitState.OPEN for row in rows):
        return UNHEALTHY
    return DEGRADED if degraded else HEALTHY


def _webhooks(args: argparse.Namespace) -> list[str]:
    """Print the server's webhook counters (or how to see them); return problems."""
    server = getattr(args, "server", None)
    if not server:
        sys.stdout.write(
            "webhooks: counters live in the serving process; see them with "
            f"`portico health --server http://127.0.0.1:8000` (GET {COUNTERS_PATH})\n"
        )
        return []
    try:
        health = asyncio.run(fetch_webhook_health(server))
    except ValueError as exc:
        return [f"webhooks: {exc}"]
    except (httpx.InvalidURL, httpx.HTTPError) as exc:  # a malformed --server: no traceback
        return [f"webhooks: --server is not a valid URL ({type(exc).__name__}: {str(exc)[:120]})"]
    sys.stdout.write(render_webhook_counters(health.rows, fmt=args.format))
    return [f"webhooks: {problem}" for problem in health.problems]
