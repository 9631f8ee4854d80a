"""The port to a messaging provider (WhatsApp, SMS)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.messaging import MessageReceipt, OutboundMessage
from .probe import Probed


__all__ = ["MessagingPort"]


@runtime_checkable
class MessagingPort(Probed, Protocol):
    """Send messages to patients and ask where they are."""

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        """
        Send one text or template message.

        Returns:
            A receipt with the provider's message id (unique per accepted message) and a status
            of QUEUED or SENT.

        Raises:
            InvalidRequest: the provider refused this message, e.g. a free-form text outside
                WhatsApp's 24-hour window (send a `TemplateMessage` instead) or an unknown template.
            AuthenticationFailed, PermissionDenied: the credentials were refused.
            TransientError: the provider is unavailable or rate limited us.

        Not idempotent: a retry may send the message twice, so resilience retries it only when
        the request provably never reached the provider.
        """
        ...

    async def get_status(self, message_id: str) -> MessageReceipt:
        """
        Where a message sent earlier is now.

        Returns:
            A receipt whose status only ever moves forward: QUEUED, SENT, DELIVERED, READ (or
            FAILED).

        Raises:
            NotFound: no message with that id is known.

        Idempotent (a read).
        """
        ...
