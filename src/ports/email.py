"""The port to an email provider (Microsoft Graph)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..domain.email import EmailMessage, EmailReceipt


__all__ = ["EmailPort"]


@runtime_checkable
class EmailPort(Protocol):
    """Send email from a clinic's mailbox."""

    async def send(self, message: EmailMessage) -> EmailReceipt:
        """
        Send one email from ``message.sender``'s mailbox.

        Returns:
            A receipt once the provider accepted the message for delivery (Graph: ``202
            Accepted``). Acceptance is not delivery; Graph gives no message id (None).

        Raises:
            InvalidRequest: the provider refused the message (a malformed address, a body or
                attachment it does not take).
            NotFound: the sending mailbox does not exist.
            AuthenticationFailed, PermissionDenied: the credentials were refused or lack
                ``Mail.Send`` for this mailbox; `TokenRefreshFailed` when no token could be had.
            TransientError: the provider is unavailable or throttled us (``Retry-After`` kept).

        Not idempotent, and no key can make it so: Graph's ``sendMail``
        (``POST /v1.0/users/{id}/sendMail``) takes no idempotency key and returns no message
        id, so a timeout or a dropped connection after the request was sent means "maybe sent".
        Resilience retries it only when the request provably never reached the provider (a
        refused connection, a 429, a 503), and the outbox never resends it automatically after
        an unknown outcome: it is dead-lettered as "maybe sent", exactly as a WhatsApp message.
        """
        ...
