"""
``portico health``: the Integrations Audit Report for the container's integrations.

One row per integration: circuit state, failures, last success, retry attempts, backoff and the
breaker's threshold. With ``--probe`` it first calls each enabled port's ``probe()``: one cheap,
authenticated read that only the vendor can answer (HubSpot's contact list, Stripe's
PaymentIntent list, Meta's phone number node or 360dialog's template list, Twilio's account,
Vapi's call list), so the table reflects the vendors' health now, not only this process's
history. The probe goes through the port's resilient pipeline, as real work does: its retries,
breaker and rate limit apply, and its outcome is what the table shows. Any failure, a "not found"
included (the configured number or account does not exist), is unhealthy with its reason.
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
from ....domain.errors import (
    AuthenticationFailed,
    LocalRejection,
    NotFound,
    PermissionDenied,
    RetryExhaustedError,
    TransientError,
)
from ...services.outbox_health import DEFAULT_MAX_PENDING_AGE, outbox_problems
from ...wiring.container import ConfigurationError, Container, create_container
from ..webhook_counters import COUNTERS_PATH, fetch_webhook_health, render_webhook_counters
from ._args import positive_seconds
from .outbox import read_backlog


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
        "--probe",
        action="store_true",
        help="make one cheap authenticated read per vendor before reporting",
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
    """Call ``probe()`` on every enabled port; returns a line per port that failed, with why."""
    ports: dict[str, Callable[[], Awaitable[None]]] = {
        "messaging": lambda: container.messaging().probe(),
        "crm": lambda: container.crm().probe(),
        "payments": lambda: container.payments().probe(),
        "voice": lambda: container.voice().probe(),
    }
    problems = []
    settings = container.settings()
    for port, read in ports.items():
        if not settings.enabled(port):
            continue  # left off by the configuration: nothing to probe
        try:
            await read()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none passes
            problems.append(f"{port}: {_why(exc)}: {type(exc).__name__}: {exc}")
    return problems


async def _observe(container: Any, *, probing: bool) -> list[str]:
    """Probe when asked, then read the circuits shared on Redis (one event loop for both)."""
    problems = await probe(container) if probing else []
    await container.breakers().refresh_shared()
    return problems


def _why(exc: Exception) -> str:
    """The operator's word for a failed probe."""
    cause = exc.last_error if isinstance(exc, RetryExhaustedError) else exc
    if isinstance(cause, AuthenticationFailed | PermissionDenied):
        return "credentials refused"
    if isinstance(cause, TransientError):
        return "unreachable"
    if isinstance(cause, LocalRejection):
        return "refused locally (circuit open or rate limited)"
    if isinstance(cause, NotFound):
        return "not found at the vendor"
    if isinstance(cause, NotImplementedError):
        return "cannot be probed"
    return "failed"


# A circuit that refuses calls, tripped or forced open by an operator: the vendor is not served.
_REFUSING = frozenset({CircuitState.OPEN, CircuitState.FORCED_OPEN})


def run(args: argparse.Namespace) -> int:
    """Build the container, optionally probe, print the report."""
    try:
        container = create_container({"config_file": args.config} if args.config else None)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico health: {exc}\n")
        return 1
    problems = asyncio.run(_observe(container, probing=args.probe))
    container.breaker_control().refresh()  # an operator's `portico breaker open` shows here too
    rows = container.breakers().snapshot()
    sys.stdout.write(render_health(rows, fmt=args.format))
    for limit in container.breakers().limiter_status():
        sys.stdout.write(f"rate limit: {limit}\n")
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
    if problems or any(row.stats.state in _REFUSING for row in rows):
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
