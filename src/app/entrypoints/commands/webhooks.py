"""
``portico webhooks failed|replay|resolve``: the events a webhook handler refused for good.

The log is the configured ``webhooks.failed_events`` (SQLite at ``./portico-failed-events.sqlite3``
by default). Output shows identities, error types and safe reasons, never a delivery (patient
data). ``failed`` and ``resolve`` never create the log file; ``replay`` builds the container's
subscribed ingress (so the provider's secrets and the vendors' settings must be configured) and
refuses the ``fake`` environment unless ``--allow-fake``: the services would act on in-memory
fakes and the record would be resolved without anything reaching a vendor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ....adapters.failed_events.sqlite import SQLiteFailedEventLog
from ....domain.failed_events import FailedEvent
from ....ports.failed_events import FailedEventLog
from ...services.webhook_replay import ReplayOutcome, replay_failed
from ...wiring.container import ConfigurationError, Container, create_container
from ...wiring.lifecycle import aclose_container


__all__ = ["register", "render_failed"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico webhooks ...``."""
    webhooks = subparsers.add_parser(
        "webhooks", help="list, replay and resolve webhook events a handler refused for good"
    )
    webhooks.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    actions = webhooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    failed = actions.add_parser("failed", help="list the unresolved failed events")
    failed.add_argument("--limit", type=int, default=50)
    failed.add_argument("--all", action="store_true", help="include the resolved ones")
    failed.add_argument("--format", choices=("text", "json"), default="text")
    replay = actions.add_parser("replay", help="run one failed event through the handlers again")
    replay.add_argument("id", help="the record's id, PROVIDER:EVENT_ID (see `failed`)")
    replay.add_argument(
        "--allow-fake",
        action="store_true",
        help="replay in the fake environment anyway (the handlers act on in-memory fakes)",
    )
    resolve = actions.add_parser("resolve", help="mark one failed event handled by hand")
    resolve.add_argument("id", help="the record's id, PROVIDER:EVENT_ID (see `failed`)")
    webhooks.set_defaults(handler=run_webhooks)


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M:%S}Z"


def render_failed(events: list[FailedEvent]) -> str:
    """One line per record: id, type, handler, attempts, last failure, reason (no delivery)."""
    lines = [
        f"{e.id}  {e.event_type}  handler={e.handler}  attempts={e.attempts}  "
        f"last={_when(e.last_failed_at)}  "
        + (f"resolved={_when(e.resolved_at)}  " if e.resolved else "")
        + e.reason
        + "\n"
        for e in events
    ]
    return "".join(lines) + f"{len(events)} failed event(s)\n"


def _container(args: argparse.Namespace) -> Container | None:
    try:
        return create_container({"config_file": args.config} if args.config else None)
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico webhooks: {exc}\n")
        return None


def _describe(log: FailedEventLog) -> str:
    return f"failed-event log {log!r}"


def run_webhooks(args: argparse.Namespace) -> int:
    """Run one ``portico webhooks`` action."""
    container = _container(args)
    if container is None:
        return 1
    try:
        if args.action == "replay":
            return _replay(args, container)
        log = container.failed_event_log()
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico webhooks: {exc}\n")
        return 1
    sys.stderr.write(f"portico webhooks: {_describe(log)}\n")
    if isinstance(log, SQLiteFailedEventLog) and not Path(log.path).exists():
        if args.action == "failed":
            sys.stdout.write("no failed-event log yet: 0 failed event(s)\n")
            return 0
        sys.stderr.write(f"portico webhooks resolve: no record {args.id!r} (no log yet)\n")
        return 1
    return asyncio.run(_on_log(args, log))


async def _on_log(args: argparse.Namespace, log: FailedEventLog) -> int:
    try:
        if args.action == "failed":
            events = await log.list(args.limit, resolved=args.all)
            if args.format == "json":
                sys.stdout.write(json.dumps([e.summary() for e in events], indent=2) + "\n")
            else:
                sys.stdout.write(render_failed(events))
            return 0
        if await log.resolve(args.id):
            sys.stdout.write(f"resolved {args.id}\n")
            return 0
        found = await log.get(args.id)
        state = "already resolved" if found is not None else "no such record"
        sys.stderr.write(f"portico webhooks resolve: {args.id!r}: {state}\n")
        return 1
    finally:
        await log.close()


def _replay(args: argparse.Namespace, container: Container) -> int:
    if container.environment() == "fake" and not args.allow_fake:
        sys.stderr.write(
            "portico webhooks replay: the environment is 'fake': the handlers would act on "
            "in-memory fakes and the record would be resolved without reaching a vendor. Set "
            "PORTICO_ENVIRONMENT, or pass --allow-fake.\n"
        )
        return 2
    ingress = container.webhook_ingress()
    log = ingress.failed_log
    if log is None:
        sys.stderr.write("portico webhooks replay: the ingress has no failed-event log\n")
        return 1
    sys.stderr.write(f"portico webhooks: {_describe(log)}\n")

    async def run() -> int:
        try:
            result = await replay_failed(ingress, log, args.id)
        finally:
            await aclose_container(container, log)
        detail = f" ({result.detail})" if result.detail else ""
        stream = sys.stdout if result.ok else sys.stderr
        stream.write(f"replay {args.id}: {result.outcome.value}{detail}\n")
        return 0 if result.outcome is ReplayOutcome.PROCESSED else 1

    return asyncio.run(run())
