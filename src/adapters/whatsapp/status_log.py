"""
`DeliveryStatusLog`: what Meta told us about a message, since Meta will not tell us again.

The Cloud API has no endpoint that returns a sent message's status: statuses arrive only by
webhook (``entry[].changes[].value.statuses[]``). The adapter records QUEUED when Meta accepts a
message, the webhook handler calls `record` for each status event, and ``get_status`` reads it
back. Statuses only move forward (a late "sent" never undoes "read"), and the log is bounded: the
oldest messages are forgotten first, so a busy process cannot grow it without limit.
"""

from __future__ import annotations

from collections import OrderedDict

import attrs

from domain.messaging import DeliveryStatus


__all__ = ["DeliveryStatusLog"]


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
        if current is None or (not current.is_final() and status.rank > current.rank):
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
