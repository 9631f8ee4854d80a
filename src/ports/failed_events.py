"""The port of the failed-event log: permanently failed webhook events, kept until handled."""

from __future__ import annotations

import builtins
from typing import Protocol, runtime_checkable

from ..domain.failed_events import FailedEvent


__all__ = ["FailedEventLog"]


@runtime_checkable
class FailedEventLog(Protocol):
    """
    Remembers every webhook event a handler refused for good, with its delivery, for replay.

    Records are keyed by `FailedEvent.id`; recording the same event again merges into one record
    (`FailedEvent.again`: one more attempt, reopened if resolved).

    Growth is bounded: a log forgets resolved records on its own (after a retention period, or
    first when a bounded log is full); an unresolved record stays until it is resolved (a bounded
    log evicts the oldest only when it holds nothing resolved). `record` and `count` cost the same
    however many records are held: they are the ingress's and the health route's hot path.
    """

    async def record(self, event: FailedEvent) -> FailedEvent:
        """Store ``event`` (merging with an earlier failure of it) and return the stored record."""
        ...

    async def list(self, limit: int = 50, *, resolved: bool = False) -> builtins.list[FailedEvent]:
        """The unresolved records (or, with ``resolved``, every record), newest failure first."""
        ...

    async def get(self, id: str) -> FailedEvent | None:
        """One record by id, or None."""
        ...

    async def count(self) -> int:
        """How many records are unresolved (kept as records change, never counted by a scan)."""
        ...

    async def resolve(self, id: str) -> bool:
        """Mark the record handled; False when there is no unresolved record with that id."""
        ...

    async def purge(self, *, resolved_before: float) -> int:
        """Delete records resolved before this wall-clock time; returns how many went."""
        ...

    async def close(self) -> None:
        """Release the file or connection (idempotent)."""
        ...
