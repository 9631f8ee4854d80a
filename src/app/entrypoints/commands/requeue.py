"""
``portico outbox requeue``: make dead letters pending again, except those that may have been sent.

A dead letter whose reason starts ``outcome unknown`` (`MAYBE_SENT_PREFIX`, the relay's wording) was
possibly applied by the vendor before the failure: requeueing it could give a patient a duplicate
message. ``--all`` therefore skips those and says how many, unless ``--include-maybe-sent``; one id
needs ``--force``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

from ....domain.outbox import EntryState, OutboxEntry
from ....ports.outbox import Outbox


__all__ = ["MAYBE_SENT_PREFIX", "requeue"]

T = TypeVar("T")

# The relay's reasons for a command that may have reached the vendor and is not sent again.
MAYBE_SENT_PREFIX = "outcome unknown"


async def _closing(outbox: Outbox, work: Awaitable[T]) -> T:
    try:
        return await work
    finally:
        await outbox.close()


def _maybe_sent(entry: OutboxEntry) -> bool:
    return (entry.last_error or "").startswith(MAYBE_SENT_PREFIX)


_MAYBE_SENT_WHY = (
    "outcome unknown: the vendor may already have applied the command (a patient could get a "
    "duplicate message)"
)


def requeue(args: argparse.Namespace, outbox: Outbox) -> int:
    """Requeue one dead letter or all, keeping "maybe sent" ones unless told otherwise."""
    out, err = sys.stdout.write, sys.stderr.write
    if not args.all:
        n = asyncio.run(_closing(outbox, _requeue_one(outbox, args.id, force=args.force)))
        if n is None:
            err(
                f"portico outbox requeue: not requeued: {args.id}: {_MAYBE_SENT_WHY}; "
                "check with the vendor, then pass --force to send it again\n"
            )
            return 1
        out(f"requeued {n} dead letter(s)\n")
        return 0 if n else 1
    if args.include_maybe_sent:
        n = asyncio.run(_closing(outbox, outbox.requeue_all(integration=args.integration)))
        out(f"requeued {n} dead letter(s)\n")
        return 0
    n, skipped = asyncio.run(_closing(outbox, _requeue_sure(outbox, args.integration)))
    out(f"requeued {n} dead letter(s)\n")
    if skipped:
        out(
            f"skipped {skipped} 'maybe sent' dead letter(s): {_MAYBE_SENT_WHY}; "
            "see `portico outbox dead`, then requeue them by id with --force, or pass "
            "--include-maybe-sent\n"
        )
    return 0


async def _requeue_one(outbox: Outbox, entry_id: str, *, force: bool) -> int | None:
    """1 or 0 requeued; None when it is a "maybe sent" dead letter and ``force`` is not set."""
    if not force:
        entry = await outbox.get(entry_id)
        if entry is not None and entry.state is EntryState.DEAD and _maybe_sent(entry):
            return None
    return int(await outbox.requeue(entry_id))


async def _requeue_sure(outbox: Outbox, integration: str | None) -> tuple[int, int]:
    """Requeue the dead letters known not to have been sent; returns (requeued, skipped)."""
    total = (await outbox.status()).dead  # every dead letter now: one page holds them all
    letters = await outbox.dead_letters(limit=max(total, 1), integration=integration)
    requeued = skipped = 0
    for entry in letters:
        if _maybe_sent(entry):
            skipped += 1
        elif await outbox.requeue(entry.id):
            requeued += 1
    return requeued, skipped
