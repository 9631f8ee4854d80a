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

from ....ports.outbox import Outbox
from ...services.outbox_requeue import MAYBE_SENT_PREFIX, MAYBE_SENT_WHY, requeue_one, requeue_sure


__all__ = ["MAYBE_SENT_PREFIX", "requeue"]

T = TypeVar("T")


async def _closing(outbox: Outbox, work: Awaitable[T]) -> T:
    try:
        return await work
    finally:
        await outbox.close()


def requeue(args: argparse.Namespace, outbox: Outbox) -> int:
    """Requeue one dead letter or all, keeping "maybe sent" ones unless told otherwise."""
    out, err = sys.stdout.write, sys.stderr.write
    if not args.all:
        n = asyncio.run(_closing(outbox, requeue_one(outbox, args.id, force=args.force)))
        if n is None:
            err(
                f"portico outbox requeue: not requeued: {args.id}: {MAYBE_SENT_WHY}; "
                "check with the vendor, then pass --force to send it again\n"
            )
            return 1
        out(f"requeued {n} dead letter(s)\n")
        return 0 if n else 1
    if args.include_maybe_sent:
        n = asyncio.run(_closing(outbox, outbox.requeue_all(integration=args.integration)))
        out(f"requeued {n} dead letter(s)\n")
        return 0
    n, skipped = asyncio.run(_closing(outbox, requeue_sure(outbox, args.integration)))
    out(f"requeued {n} dead letter(s)\n")
    if skipped:
        out(
            f"skipped {skipped} 'maybe sent' dead letter(s): {MAYBE_SENT_WHY}; "
            "see `portico outbox dead`, then requeue them by id with --force, or pass "
            "--include-maybe-sent\n"
        )
    return 0
