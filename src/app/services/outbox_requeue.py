"""
Requeueing dead letters, except those that may have been sent (the CLI's and the console's rule).

A dead letter whose reason starts ``outcome unknown`` (`MAYBE_SENT_PREFIX`, the relay's wording) was
possibly applied by the vendor before the failure: requeueing it could give a patient a duplicate
message. So one is requeued only when forced, and "requeue all" skips them unless told otherwise.
"""

from __future__ import annotations

from ...domain.outbox import EntryState, OutboxEntry
from ...ports.outbox import Outbox


__all__ = ["MAYBE_SENT_PREFIX", "MAYBE_SENT_WHY", "is_maybe_sent", "requeue_one", "requeue_sure"]

# The relay's reasons for a command that may have reached the vendor and is not sent again.
MAYBE_SENT_PREFIX = "outcome unknown"
MAYBE_SENT_WHY = (
    "outcome unknown: the vendor may already have applied the command (a patient could get a "
    "duplicate message)"
)


def is_maybe_sent(entry: OutboxEntry) -> bool:
    """True when the dead letter may have reached the vendor."""
    return (entry.last_error or "").startswith(MAYBE_SENT_PREFIX)


async def requeue_one(outbox: Outbox, entry_id: str, *, force: bool) -> int | None:
    """1 or 0 requeued; None when it is a "maybe sent" dead letter and ``force`` is not set."""
    if not force:
        entry = await outbox.get(entry_id)
        if entry is not None and entry.state is EntryState.DEAD and is_maybe_sent(entry):
            return None
    return int(await outbox.requeue(entry_id))


async def requeue_sure(outbox: Outbox, integration: str | None) -> tuple[int, int]:
    """Requeue the dead letters known not to have been sent; returns (requeued, skipped)."""
    total = (await outbox.status()).dead  # every dead letter now: one page holds them all
    letters = await outbox.dead_letters(limit=max(total, 1), integration=integration)
    requeued = skipped = 0
    for entry in letters:
        if is_maybe_sent(entry):
            skipped += 1
        elif await outbox.requeue(entry.id):
            requeued += 1
    return requeued, skipped
