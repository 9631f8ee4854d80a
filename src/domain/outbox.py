"""
What the outbox knows about a stored command: its state, attempts, lease and last error.

Times are seconds since the epoch from the outbox's injected clock, so tests control them.
Entries never carry the command's content in ``repr``: the payload may hold patient data.
"""

from __future__ import annotations

import enum

import attrs


__all__ = ["EntryState", "IntegrationBacklog", "OutboxEntry", "OutboxStatus"]


class EntryState(enum.Enum):
    """Where a command is: waiting (or leased to a relay), delivered, or parked as a dead letter."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@attrs.frozen
class OutboxEntry:
    """
    One stored command.

    ``lease_token`` is set while a relay holds the entry; the outbox accepts an outcome only with
    the token of the current lease, so a relay whose lease expired cannot overwrite a newer one.

    ``lease_expired`` is True on a claim that took over a lease which ran out without an outcome
    (a relay killed mid-send, or recording the outcome failed): the previous attempt may have
    reached the vendor, so only a command the vendor dedupes may be sent again.

    ``trace_context`` is the W3C trace context (``traceparent``, ``tracestate``) of the code that
    enqueued the command and ``correlation_id`` its correlation id (`domain.correlation`), both
    None when there was none: the relay links its delivery span to the first and restores the
    second while delivering, hours later and in another process.
    """

    id: str
    seq: int
    kind: str
    integration: str
    ordering_key: str
    idempotency_key: str
    payload: str = attrs.field(repr=False)
    state: EntryState
    attempts: int
    enqueued_at: float
    available_at: float
    lease_token: str | None = attrs.field(default=None, repr=False)
    lease_until: float | None = None
    last_error: str | None = None
    finished_at: float | None = None
    lease_expired: bool = False
    trace_context: str | None = attrs.field(default=None, repr=False)
    correlation_id: str | None = None


@attrs.frozen
class IntegrationBacklog:
    """Counts for one integration; ``oldest_pending_at`` is None when nothing waits."""

    integration: str
    pending: int = 0
    in_flight: int = 0
    dead: int = 0
    delivered: int = 0
    oldest_pending_at: float | None = None


@attrs.frozen
class OutboxStatus:
    """The backlog per integration at ``now`` (for ``portico outbox status`` and health)."""

    now: float
    integrations: tuple[IntegrationBacklog, ...] = ()

    @property
    def pending(self) -> int:
        """Commands waiting, including those leased to a relay right now."""
        return sum(b.pending for b in self.integrations)

    @property
    def in_flight(self) -> int:
        """
        Commands being sent right now: one per ordering key leased to a relay (a relay sends a
        key's run one command at a time; the run's later commands count as pending only).
        """
        return sum(b.in_flight for b in self.integrations)

    @property
    def dead(self) -> int:
        """Dead letters."""
        return sum(b.dead for b in self.integrations)

    @property
    def delivered(self) -> int:
        """Commands ever delivered (counted when delivered, so purged ones still count)."""
        return sum(b.delivered for b in self.integrations)

    @property
    def oldest_age(self) -> float | None:
        """Seconds the oldest pending command has waited, or None."""
        starts = [b.oldest_pending_at for b in self.integrations if b.oldest_pending_at is not None]
        return max(0.0, self.now - min(starts)) if starts else None
