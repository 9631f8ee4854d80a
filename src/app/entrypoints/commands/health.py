"""
``portico health``: the Integrations Audit Report for the container's integrations.

A thin renderer of `app.services.audit_report`: client status per integration, the resilience
configuration, webhook security per provider, the outbox, the findings and the quality gate, as
Markdown (default), aligned text (``--format text``) or JSON (``--format json``). With
``--probe`` it first calls each enabled port's ``probe()``: one cheap, authenticated read that
only the vendor can answer (HubSpot's contact list, Stripe's PaymentIntent list, Meta's phone
number node or 360dialog's template list, Twilio's account, Vapi's call list), through the
port's resilient pipeline as real work does; any failure, a "not found" included, is a critical
finding with its reason.

The exit code is the gate's (`EXIT_CODES`): 0 healthy; 1 unhealthy (a critical finding: a probe
got no answer, a circuit is open, the server or the outbox cannot be read, a secret that must
not be there); 2 degraded (warnings only: dead letters, a command pending longer than
``--max-pending-age``, a weakness of the configuration).

Webhook counters (received, processed, duplicates, rejected, unknown types, handler failures per
provider) live in the serving process: ``--server http://127.0.0.1:8000`` reads them from a
running ``portico serve`` (``GET /healthz/webhooks``); an unreachable server, or one that cannot
process deliveries (its replay store fails), is a critical finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import httpx

from ...services.audit_report import (
    AuditReport,
    build_audit_report,
    render_audit_markdown,
    render_audit_text,
)
from ...services.audit_state import EXIT_UNHEALTHY
from ...services.outbox_health import DEFAULT_MAX_PENDING_AGE
from ...wiring.container import ConfigurationError, Container, create_container
from ..webhook_counters import WebhookHealth, fetch_webhook_health
from ._args import positive_seconds


EXIT_CODES = """exit codes (the quality gate):
  0  healthy: no critical or warning finding
  1  unhealthy: a critical finding (a probe got no answer, a circuit is open, the server or the
     outbox is unreadable, a development secret outside fake...)
  2  degraded: warnings only (dead letters, a command pending longer than --max-pending-age,
     a replay store without persistence...)
"""


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico health``."""
    parser = subparsers.add_parser(
        "health",
        help="print the Integrations Audit Report (exit 0 ok, 1 unhealthy, 2 degraded)",
        description=(
            "The Integrations Audit Report: client status, resilience, webhook security, "
            "outbox, findings and the quality gate."
        ),
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", choices=["markdown", "text", "json"], default="markdown")
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


def run(args: argparse.Namespace) -> int:
    """Build the container, gather and print the report; exit with the gate's code."""
    try:
        container = create_container({"config_file": args.config} if args.config else None)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico health: {exc}\n")
        return EXIT_UNHEALTHY
    report = asyncio.run(_report(container, args))
    sys.stdout.write(render(report, getattr(args, "format", "markdown")))
    return report.gate.exit_code


def render(report: AuditReport, fmt: str) -> str:
    """The report in ``fmt``: markdown, text or json."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    return render_audit_text(report) if fmt == "text" else render_audit_markdown(report)


async def _report(container: Container, args: argparse.Namespace) -> AuditReport:
    return await build_audit_report(
        container,
        probe=bool(getattr(args, "probe", False)),
        webhook_health=await _webhook_health(getattr(args, "server", None)),
        max_pending_age=getattr(args, "max_pending_age", DEFAULT_MAX_PENDING_AGE),
    )


async def _webhook_health(server: str | None) -> WebhookHealth | None:
    """The server's counters; an unreachable or malformed one is a problem in the result."""
    if not server:
        return None
    try:
        return await fetch_webhook_health(server)
    except ValueError as exc:
        return WebhookHealth([], (str(exc),))
    except (httpx.InvalidURL, httpx.HTTPError) as exc:  # a malformed --server: no traceback
        return WebhookHealth(
            [], (f"--server is not a valid URL ({type(exc).__name__}: {str(exc)[:120]})",)
        )
