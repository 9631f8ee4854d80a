"""
The port of the delivery-status store: what status webhooks reported, for ``get_status``.

Providers such as WhatsApp Cloud have no status lookup: statuses arrive only by webhook, often in
another process (``portico serve``) than the one that sent the message and later asks. A store
shared by both, and surviving restarts, closes that gap.

The same stores remember, per accepted free-form text, the template to send instead if the
provider later reports that text failed outside the 24-hour window (`TextFallbackStore`): Meta
reports that error (131047) synchronously, by webhook after accepting the send, or both.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.messaging import DeliveryStatus


__all__ = ["DeliveryStatusStore", "TextFallbackStore"]


@runtime_checkable
class DeliveryStatusStore(Protocol):
    """
    Forward-only message statuses, keyed by the provider's message id.

    A status moves forward only (QUEUED < SENT < DELIVERED < READ; FAILED ends it too, and
    nothing moves a message out of READ or FAILED), so redelivered and out-of-order webhooks are
    harmless. Each `record` is atomic: concurrent reports of one message, from one process or
    several, end on the furthest status, whatever their order.
    """

    async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
        """Apply one status report; returns the status now on record (maybe a further one)."""
        ...

    async def get(self, message_id: str) -> DeliveryStatus | None:
        """The furthest status recorded for ``message_id``, or None if it is unknown."""
        ...


@runtime_checkable
class TextFallbackStore(Protocol):
    """
    What to send instead of an accepted free-form text, keyed by the provider's message id.

    The value is an encoded command (`domain.command_codec`), written once when the text is
    accepted and read when its failed status arrives, maybe in another process and after a
    restart; it is kept as long as the store keeps statuses (its retention), then forgotten.
    """

    async def remember_fallback(self, message_id: str, command: str) -> None:
        """Keep ``command`` for ``message_id`` (a second call for the same id replaces it)."""
        ...

    async def fallback_for(self, message_id: str) -> str | None:
        """The command kept for ``message_id``, or None (never kept, or past retention)."""
        ...
