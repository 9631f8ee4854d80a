"""
``portico outbox status|dead|requeue|purge`` and ``portico relay``: operate the durable outbox.

The outbox is the container's (``outbox.kind``: sqlite at ``outbox.path``, or postgres); set it
with ``--config`` or ``PORTICO_OUTBOX__*`` variables. Output never shows payloads (patient data).
Every command names the store it uses on stderr. ``status`` and ``dead`` open it read-only and
``requeue`` / ``purge`` never create it: an operator's typo must not leave an empty outbox behind.
``relay`` refuses the ``fake`` environment unless ``--allow-fake``: it would mark real commands
delivered into in-memory fakes.

A store that cannot be read is one line on stderr and exit 1, never a traceback: a corrupt or
locked SQLite file, an unreachable PostgreSQL server, or something at the path that is no outbox
(a directory, a 0-byte file, another program's database: `NotAnOutbox`). Only a path where
nothing exists is "no outbox yet" (``status`` and ``dead`` say so and exit 0). ``relay`` reads
the store once before it starts, so ``--until-idle`` on an unreadable store exits 1 at once
instead of retrying forever.

``requeue`` leaves "maybe sent" dead letters alone (reason starting ``outcome unknown``: the vendor
may have applied the command, and sending it again could give a patient a duplicate message)
unless ``--include-maybe-sent`` (with ``--all``) or ``--force`` (one id).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from ....adapters.outbox import NotAnOutbox, OutboxNotFound
from ....adapters.outbox.sqlite import OpenMode
from ....domain.errors import IntegrationError
from ....domain.outbox import OutboxStatus
from ....ports.outbox import Outbox
from ...services.outbox_relay import OutboxRelay, RelayStats
from ...wiring.container import ConfigurationError, Container, create_container
from ...wiring.outbox import relay_settings
from ...wiring.stores import build_outbox, describe
from ._args import positive_int
from .requeue import requeue


__all__ = ["read_backlog", "register", "render_status"]

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``portico outbox ...`` and ``portico relay``."""
    outbox = subparsers.add_parser("outbox", help="inspect and repair the durable outbox")
    outbox.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    actions = outbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help="pending, in flight, dead, oldest age per integration")
    dead = actions.add_parser("dead", help="list dead letters with their reasons")
    dead.add_argument("--limit", type=positive_int, default=50)
    dead.add_argument("--integration", help="only this integration (messaging, crm, ...)")
    for name, verb in (("requeue", "make pending again"), ("purge", "delete")):
        action = actions.add_parser(name, help=f"{verb} one dead letter, or all of them")
        target = action.add_mutually_exclusive_group(required=True)
        target.add_argument("id", nargs="?", help="the dead letter's id")
        target.add_argument("--all", action="store_true", help="every dead letter")
        action.add_argument("--integration", help="with --all: only this integration")
        if name == "requeue":
            action.add_argument(
                "--include-maybe-sent",
                action="store_true",
                help="with --all: also requeue 'outcome unknown' dead letters (may duplicate)",
            )
            action.add_argument(
                "--force",
                action="store_true",
                help="with an id: requeue it even if it may have been sent (may duplicate)",
            )
    outbox.set_defaults(handler=run_outbox)

    relay = subparsers.add_parser("relay", help="deliver the outbox until stopped (Ctrl-C)")
    relay.add_argument("--config", metavar="YAML", help="configuration file (else defaults)")
    relay.add_argument("--until-idle", action="store_true", help="exit once nothing is pending")
    relay.add_argument(
        "--batch-size", type=positive_int, default=32, help="commands per batch (default 32)"
    )
    relay.add_argument(
        "--allow-fake",
        action="store_true",
        help="run in the fake environment anyway (deliveries go to in-memory fakes)",
    )
    relay.set_defaults(handler=run_relay)


def _container(args: argparse.Namespace) -> Container | None:
    """The container with its outbox resolved, or None after saying what is wrong."""
    try:
        container = create_container({"config_file": args.config} if args.config else None)
        container.outbox()
    except (ConfigurationError, ValueError) as exc:
        sys.stderr.write(f"portico {args.command}: {exc}\n")
        return None
    return container


async def _using(outbox: Outbox, work: Callable[[Outbox], Awaitable[T]]) -> T:
    try:
        return await work(outbox)
    finally:
        await outbox.close()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def render_status(status: OutboxStatus) -> str:
    """A plain table: one row per integration and a total."""
    rows = [("integration", "pending", "in flight", "dead", "delivered", "oldest")]
    for b in status.integrations:
        oldest = None if b.oldest_pending_at is None else status.now - b.oldest_pending_at
        rows.append(
            (
                b.integration,
                str(b.pending),
                str(b.in_flight),
                str(b.dead),
                str(b.delivered),
                _age(oldest),
            )
        )
    delivered = sum(b.delivered for b in status.integrations)
    rows.append(
        (
            "total",
            str(status.pending),
            str(status.in_flight),
            str(status.dead),
            str(delivered),
            _age(status.oldest_age),
        )
    )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n" for r in rows
    )


def _open(container: Container, mode: OpenMode) -> Outbox:
    """The configured outbox opened in ``mode``; ValueError for a bad ``outbox`` section."""
    return build_outbox(container.settings(), mode=mode)


def read_backlog(container: Container) -> tuple[str, OutboxStatus | None, bool]:
    """
    For ``portico health``: a line on the outbox backlog, its status (None when there is no
    outbox or it cannot be read) and whether reading failed. Read-only: never creates a store.
    """
    try:
        outbox = _open(container, "read_only")
    except ValueError as exc:
        return f"outbox: misconfigured: {exc}\n", None, True
    try:
        status = asyncio.run(_using(outbox, lambda o: o.status()))
    except OutboxNotFound:
        return f"outbox: empty (no outbox yet; {describe(outbox)})\n", None, False
    except NotAnOutbox as exc:
        return f"outbox: {exc}\n", None, True
    except Exception as exc:  # noqa: BLE001 - health must report, never crash
        return f"outbox: unreachable ({type(exc).__name__})\n", None, True
    line = (
        f"outbox: {status.pending} pending ({status.in_flight} in flight), {status.dead} dead, "
        f"oldest {_age(status.oldest_age)}\n"
    )
    return line, status, False


def run_outbox(args: argparse.Namespace) -> int:
    """Run one ``portico outbox`` action (read-only for ``status`` and ``dead``)."""
    container = _container(args)
    if container is None:
        return 1
    reading = args.action in ("status", "dead")
    outbox = _open(container, "read_only" if reading else "existing")
    sys.stderr.write(f"portico outbox: {describe(outbox)}\n")
    try:
        return _outbox_action(args, outbox)
    except OutboxNotFound as exc:
        if reading:
            sys.stdout.write(f"{exc}: nothing pending, no dead letters\n")
            return 0
        sys.stderr.write(f"portico outbox {args.action}: {exc}: nothing to {args.action}\n")
        return 1
    except NotAnOutbox as exc:
        sys.stderr.write(f"portico outbox {args.action}: {exc}\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - an unreadable store is one line, not a traceback
        sys.stderr.write(f"portico outbox {args.action}: {_unreadable(outbox, exc)}\n")
        return 1


def _unreadable(outbox: Outbox, exc: Exception) -> str:
    """One line on a store that failed: where it is and the error (type and safe message)."""
    detail = str(exc) if isinstance(exc, IntegrationError) else type(exc).__name__
    return f"cannot read {describe(outbox)}: {detail}"


def _outbox_action(args: argparse.Namespace, outbox: Outbox) -> int:
    out = sys.stdout.write
    if args.action == "status":
        out(render_status(asyncio.run(_using(outbox, lambda o: o.status()))))
        return 0
    if args.action == "dead":
        letters = asyncio.run(
            _using(outbox, lambda o: o.dead_letters(limit=args.limit, integration=args.integration))
        )
        for e in letters:
            when = datetime.fromtimestamp(e.finished_at or e.enqueued_at, UTC)
            out(
                f"{e.id}  {e.kind}  {e.integration}  attempts={e.attempts}  "
                f"dead={when:%Y-%m-%d %H:%M:%S}Z  {e.last_error}\n"
            )
        out(f"{len(letters)} dead letter(s)\n")
        return 0
    if args.action == "requeue":
        return requeue(args, outbox)
    if args.all:
        n = asyncio.run(_using(outbox, lambda o: o.purge_dead()))
    else:
        n = asyncio.run(_using(outbox, lambda o: o.purge_dead(args.id)))
    out(f"{args.action}d {n} dead letter(s)\n")
    return 0 if n or args.all else 1


class _Progress:
    """
    Progress on stderr, at most once a second, for long drains: rewritten in place (``\\r``) on a
    terminal, one line per report otherwise; the final report always stands on its own line.
    """

    def __init__(self) -> None:
        self.last = 0.0
        self.open_line = False  # a \r-line is on screen, not yet ended

    def __call__(self, stats: RelayStats, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < 1.0:
            return
        self.last = now
        line = (
            f"relay: delivered {stats.delivered}, retried {stats.retried}, dead {stats.dead}, "
            f"paused {stats.paused}"
        )
        if final:
            sys.stderr.write(("\n" if self.open_line else "") + line + "\n")
            self.open_line = False
        elif sys.stderr.isatty():
            sys.stderr.write("\r" + line)
            self.open_line = True
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


async def _relay(relay: OutboxRelay, until_idle: bool) -> str | None:
    """Relay until stopped or idle; the one-line problem when the store cannot be read first."""
    try:
        await relay.outbox.status()
    except Exception as exc:  # noqa: BLE001 - reported in one line, the relay never starts
        await relay.outbox.close()
        return str(exc) if isinstance(exc, NotAnOutbox) else _unreadable(relay.outbox, exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await relay.run(stop=stop, until_idle=until_idle)
    finally:
        await relay.outbox.close()
    return None


FAKE_REFUSAL = (
    "portico relay: the environment is 'fake': the relay would mark the outbox's commands "
    "delivered into in-memory fakes, and nothing would reach a vendor. Set PORTICO_ENVIRONMENT "
    "(sandbox or production), or pass --allow-fake to drain into the fakes on purpose.\n"
)


def run_relay(args: argparse.Namespace) -> int:
    """Run the relay until stopped (or, with ``--until-idle``, until nothing is pending)."""
    container = _container(args)
    if container is None:
        return 1
    if container.environment() == "fake" and not args.allow_fake:
        sys.stderr.write(FAKE_REFUSAL)
        return 2
    progress = _Progress()
    settings = relay_settings(container.settings().outbox, batch_size=args.batch_size)
    relay: OutboxRelay = container.relay(settings=settings, on_progress=progress)
    sys.stderr.write(
        f"portico relay: {container.environment()} vendors, {describe(relay.outbox)}\n"
    )
    problem = asyncio.run(_relay(relay, args.until_idle))
    if problem is not None:
        sys.stderr.write(f"portico relay: {problem}\n")
        return 1
    progress(relay.stats, final=True)
    return 0
