"""The port to a durable outbox: commands accepted here survive vendor outages and crashes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from ..domain.commands import Command
from ..domain.outbox import OutboxEntry, OutboxStatus


__all__ = ["DeliveryObserver", "DeliveryRecord", "Outbox"]


@runtime_checkable
class Outbox(Protocol):
    """
    A durable queue of outbound commands with leases and dead letters.

    Order: `claim` hands out, per ``ordering_key``, a run of consecutive pending entries that
    starts at the key's oldest pending one (its head), and only when that head is not leased; the
    entries after the run wait until the run's entries are delivered or dead. The holder sends a
    run one entry after another in seq order, so commands for one subject reach the vendor in the
    order they were enqueued, even with several relays: the key stays leased to that holder while
    the run's entries are settled, as its next pending entry then carries the run's lease. A dead
    letter does not block its line (one poisoned command must not silence a patient forever).

    Errors: every method raises `domain.errors.Unavailable` (``integration="outbox"``,
    ``request_sent=False``) when the store itself fails (unopenable file, full disk, lock
    timeout, database down), never a driver's exception; its message names no path and no SQL
    (the detail is logged). A store opened without creating raises `FileNotFoundError` while it
    does not exist yet.
    """

    async def enqueue(self, command: Command, *, delay: float = 0.0) -> str:
        """
        Store ``command`` durably (committed before this returns) and return its entry id.

        Enqueueing a command whose idempotency key is already stored returns the existing id and
        stores nothing (the same operation is accepted once).

        Raises:
            Conflict: the key is already stored with a different command.
        """
        ...

    async def claim(
        self,
        *,
        limit: int,
        lease_seconds: float,
        integrations: Collection[str] | None = None,
        per_key: int = 1,
    ) -> list[OutboxEntry]:
        """
        Lease up to ``limit`` due entries, at most ``per_key`` per ordering key, in seq order.

        The entries of one key are consecutive pending entries starting at that key's head (its
        oldest pending entry), all due and none leased, in seq order: a key's run stops before
        its first entry that is not due yet or is still leased (to a run another claim holds).
        With the default ``per_key=1`` a claim takes only heads, one entry per key. At most
        ``limit`` keys are taken, oldest head first. When their runs hold more than ``limit``
        entries, the batch is cut fairly, round-robin across keys: entries are taken in the
        order (position in their run, seq), so every key taken keeps its head and a prefix of
        its run.

        Each entry claimed counts one attempt, and every entry of one claim gets the same lease
        expiry. A lease that expires (its relay crashed) makes the entry claimable again, and
        that claim returns it with ``lease_expired=True``: the previous attempt may have
        reached the vendor. ``integrations`` restricts the claim (a relay skips paused ones).

        The holder of a run sends its entries one after another and settles every one of them;
        an entry it decides not to send gives its lease back with
        ``schedule_retry(..., delay=0, error=None, attempted=False)``, so it waits behind the
        head again as it was.
        """
        ...

    async def mark_delivered(self, entry: OutboxEntry) -> bool:
        """
        Record success; False (and no change) when ``entry``'s lease is no longer current.

        One exception: when the lease ran out while the send was still in flight and the next
        claimer dead-lettered the entry for that (``lease_expired``), the holder of that expired
        lease may still record the delivery it proves, turning the dead letter into delivered.
        """
        ...

    async def mark_delivered_many(self, entries: Sequence[OutboxEntry]) -> set[str]:
        """
        `mark_delivered` for every entry of ``entries`` in one transaction; returns the ids
        recorded. An entry whose lease is no longer current is left out (and left unchanged),
        exactly as `mark_delivered` would have returned False for it; the others are recorded
        all the same. No entries: nothing is done.
        """
        ...

    async def schedule_retry(
        self, entry: OutboxEntry, *, delay: float, error: str | None, attempted: bool = True
    ) -> bool:
        """
        Release the lease and make the entry due again in ``delay`` seconds.

        ``error`` is recorded as the entry's last error; None keeps the one recorded before (an
        entry given back unsent, e.g. the rest of a stopped run). ``attempted=False`` gives the
        claim's attempt back (nothing reached the vendor, e.g. an open breaker). False when the
        lease is no longer current.
        """
        ...

    async def dead_letter(self, entry: OutboxEntry, *, reason: str) -> bool:
        """Park the entry as a dead letter with ``reason``; False when the lease is not current."""
        ...

    async def get(self, entry_id: str) -> OutboxEntry | None:
        """The entry with this id in whatever state, or None."""
        ...

    async def dead_letters(
        self, *, limit: int = 100, integration: str | None = None
    ) -> list[OutboxEntry]:
        """Dead letters, oldest first."""
        ...

    async def requeue(self, entry_id: str) -> bool:
        """Make a dead letter pending again, attempts reset; False when no such dead letter."""
        ...

    async def requeue_all(self, *, integration: str | None = None) -> int:
        """Requeue every dead letter (of one integration); returns how many."""
        ...

    async def purge_dead(self, entry_id: str | None = None) -> int:
        """Delete one dead letter, or all when ``entry_id`` is None; returns how many."""
        ...

    async def purge_delivered(self, *, finished_before: float, limit: int) -> int:
        """
        Delete up to ``limit`` delivered entries whose delivery was recorded before
        ``finished_before`` (epoch seconds), oldest first; returns how many. Dead letters are
        never purged here (an operator decides). A purged command's idempotency key is
        forgotten: enqueueing the same command again afterwards is accepted anew.
        """
        ...

    async def status(self) -> OutboxStatus:
        """
        Pending, in-flight, dead and delivered counts and the oldest pending, per integration.
        In flight counts leased keys, one each (`OutboxStatus.in_flight`).
        """
        ...

    async def close(self) -> None:
        """Release connections and threads; the stored entries stay."""
        ...


class DeliveryRecord(Protocol):
    """What the relay says of one delivery when it is decided (`DeliveryObserver.delivering`)."""

    def record(self, outcome: str, error: BaseException | None = None) -> None:
        """
        The outcome (``delivered``, a relay verdict: ``retry``, ``release``, ``pause``,
        ``dead``; or ``lost_lease``) and the error that led to it, if any.
        """
        ...


class DeliveryObserver(Protocol):
    """
    Watches the relay deliver stored commands, one context per delivery (telemetry: a span linked
    to the trace that enqueued the command, `adapters.telemetry.OutboxDeliverySpans`).

    The port calls the relay makes inside the context belong to that delivery. An exception
    escaping the context (the store failed) is the delivery's outcome, ``error``.
    """

    def delivering(self, entry: OutboxEntry) -> AbstractContextManager[DeliveryRecord]:
        """The context around delivering ``entry``; never raises on its own."""
        ...
