"""
`DeliveryStatusLog`: what Meta told us about a message, since Meta will not tell us again.

The Cloud API has no endpoint that returns a sent message's status: statuses arrive only by
webhook (``entry[].changes[].value.statuses[]``). The adapter records QUEUED when Meta accepts a
message, the webhook handler calls `record` for each status event, and ``get_status`` reads it
back. Statuses only move forward (a late "sent" never undoes "read"), and the log is bounded: the
oldest messages are forgotten first, so a busy process cannot grow it without limit.

The log lives in one process's memory; `MemoryDeliveryStatusStore` is its async
`DeliveryStatusStore` view for tests. Production shares a durable store between the process that
receives webhooks and the one that sends (`adapters.whatsapp.status_sqlite`, ``status_redis``).
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from ...domain.messaging import DeliveryStatus
from ...ports.delivery_status import DeliveryStatusStore, TextFallbackStore


__all__ = [
    "DeliveryStatusLog",
    "MemoryDeliveryStatusStore",
    "advances",
    "as_status_store",
    "stored_status",
]


def advances(current: DeliveryStatus | None, status: DeliveryStatus) -> bool:
    """Whether ``status`` replaces ``current``: the forward-only rule every store applies."""
    return current is None or (not current.is_final() and status.rank > current.rank)


def stored_status(raw: bytes | str) -> DeliveryStatus:
    """A status read back from a durable store; one this version does not know is a clear error."""
    value = raw.decode() if isinstance(raw, bytes) else raw
    try:
        return DeliveryStatus(value)
    except ValueError:
        msg = "the delivery-status store holds a status this version does not know"
        raise ValueError(msg) from None


@attrs.define
class DeliveryStatusLog:
    """
    In-memory, bounded, forward-only message statuses, keyed by provider message id.

    Args:
        max_messages: how many messages to remember; the least recently updated go first.
    """

    max_messages: int = attrs.field(default=100_000, validator=attrs.validators.gt(0))
    _statuses: OrderedDict[str, DeliveryStatus] = attrs.field(factory=OrderedDict, init=False)

    def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """
        Apply a status report and return the status now on record.

        A report that would move the message backwards (or out of READ / FAILED) is ignored,
        which makes webhook redeliveries and out-of-order deliveries harmless.
        """
        current = self._statuses.get(message_id)
        if current is None or advances(current, status):
            self._statuses[message_id] = status
            current = status
        self._statuses.move_to_end(message_id)
        while len(self._statuses) > self.max_messages:
            self._statuses.popitem(last=False)
        return current

    def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id``, or None if it is unknown."""
        return self._statuses.get(message_id)

    def __len__(self) -> int:
        return len(self._statuses)


@attrs.define
class MemoryDeliveryStatusStore(DeliveryStatusStore, TextFallbackStore):
    """
    `DeliveryStatusStore` over a `DeliveryStatusLog`: one process, lost on restart (tests, demos).

    It also keeps text fallbacks (`TextFallbackStore`), as many as the log keeps messages, the
    oldest forgotten first.

    Args:
        log: the bounded log kept; share it to read statuses synchronously too.
    """

    log: DeliveryStatusLog = attrs.field(factory=DeliveryStatusLog, repr=False)
    _fallbacks: OrderedDict[str, str] = attrs.field(factory=OrderedDict, init=False, repr=False)

    async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """Apply one status report (forward-only); returns the status now on record."""
        return self.log.record(message_id, status)

    async def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id``, or None."""
        return self.log.get(message_id)

    async def remember_fallback(self, message_id: str, command: str) -> None:
        """Keep the command to send if ``message_id`` fails outside the window (bounded)."""
        self._fallbacks[message_id] = command
        self._fallbacks.move_to_end(message_id)
        while len(self._fallbacks) > self.log.max_messages:
            self._fallbacks.popitem(last=False)

    async def fallback_for(self, message_id: str) -> str | None:
        """The command kept for ``message_id``, or None."""
        return self._fallbacks.get(message_id)


def as_status_store(log: DeliveryStatusLog | DeliveryStatusStore) -> DeliveryStatusStore:
    """The async store view of ``log``: a `DeliveryStatusLog` is wrapped, a store kept as is."""
    return MemoryDeliveryStatusStore(log) if isinstance(log, DeliveryStatusLog) else log
