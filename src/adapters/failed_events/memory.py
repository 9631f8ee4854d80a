"""An in-process failed-event log: bounded, for tests and hosts that accept losing it on restart."""

from __future__ import annotations

import builtins
from collections import OrderedDict

import attrs

from ...domain.failed_events import FailedEvent
from ...domain.time import SYSTEM_CLOCK, Clock, epoch_seconds


__all__ = ["DEFAULT_MAX_ENTRIES", "MemoryFailedEventLog"]

DEFAULT_MAX_ENTRIES = 1000


class MemoryFailedEventLog:
    """
    `FailedEventLog` in a dict. When full, resolved records go first (the longest resolved), then
    the oldest failures (the record recorded least recently).

    `record`, `count`, `resolve` and an eviction cost the same however many records are held:
    the records are kept in the order they were recorded and the resolved ids in the order they
    were resolved, so the next to go is always the first of one of them.

    Args:
        max_entries: the bound (resolved and unresolved records together).
        clock: the time source; ``resolved_at`` is its `Clock.now` (epoch seconds).
    """

    def __init__(
        self, *, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max = max_entries
        self._clock = epoch_seconds(clock)
        self._items: OrderedDict[str, FailedEvent] = OrderedDict()  # least recently recorded first
        self._resolved: OrderedDict[str, float] = OrderedDict()  # id -> resolved_at, oldest first
        self.evicted = 0

    def __repr__(self) -> str:
        return f"<MemoryFailedEventLog entries={len(self._items)} max={self._max}>"

    async def record(self, event: FailedEvent) -> FailedEvent:
        """Store ``event``, merged with an earlier failure of it; evict when over the bound."""
        earlier = self._items.pop(event.id, None)
        stored = event if earlier is None else earlier.again(event)
        self._resolved.pop(stored.id, None)  # a resolved record failing again is reopened
        self._items[stored.id] = stored
        while len(self._items) > self._max:
            self._evict()
        return stored

    async def list(self, limit: int = 50, *, resolved: bool = False) -> builtins.list[FailedEvent]:
        """Unresolved (or all) records, newest failure first."""
        chosen = [e for e in self._items.values() if resolved or not e.resolved]
        chosen.sort(key=lambda e: e.last_failed_at, reverse=True)
        return chosen[: max(limit, 0)]

    async def get(self, id: str) -> FailedEvent | None:
        """One record, or None."""
        return self._items.get(id)

    async def count(self) -> int:
        """Unresolved records."""
        return len(self._items) - len(self._resolved)

    async def resolve(self, id: str) -> bool:
        """Mark one unresolved record handled."""
        event = self._items.get(id)
        if event is None or event.resolved:
            return False
        resolved_at = self._clock()
        self._items[id] = attrs.evolve(event, resolved_at=resolved_at)
        self._resolved[id] = resolved_at
        return True

    async def purge(self, *, resolved_before: float) -> int:
        """Delete records resolved before ``resolved_before``."""
        gone = [key for key, at in self._resolved.items() if at < resolved_before]
        for key in gone:
            del self._items[key]
            del self._resolved[key]
        return len(gone)

    async def close(self) -> None:
        """Nothing to release."""

    def _evict(self) -> None:
        if self._resolved:
            key, _ = self._resolved.popitem(last=False)
            del self._items[key]
        else:
            self._items.popitem(last=False)
        self.evicted += 1
