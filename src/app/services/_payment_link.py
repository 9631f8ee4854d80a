"""
The checkout link a patient is sent: a request fixed per window, and what became of its message.

Stripe dedupes by idempotency key *and* refuses the same key with different parameters, and a
checkout's ``expires_at`` is one of them. So a retried `request_payment` must rebuild the very
same request: ``created_at`` is the start of the clock window the call falls in, and that window
is part of the key. A retry inside the window (seconds, minutes later, after a crash) asks for
the same session and gets the same link; a request in a later window asks for a new session
(a fresh 24-hour link), never a refused one. A retry that straddles a window boundary gets a
second link: with hourly windows that is a retry within seconds of the hour, and both links
settle the same deal.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import attrs

from ...domain.messaging import MessageReceipt
from ...domain.payments import CheckoutLink
from ...domain.values import IdempotencyKey, Money
from .outbox_dispatch import Dispatched


__all__ = ["LinkStatus", "PaymentLinkSent", "checkout_window"]


def checkout_window(
    now: datetime, window_seconds: int, deal_id: str, amount: Money
) -> tuple[datetime, IdempotencyKey]:
    """The window's start (the request's ``created_at``) and the checkout key for the deal."""
    seconds = int(now.timestamp()) // window_seconds * window_seconds
    start = datetime.fromtimestamp(seconds, UTC)
    return start, IdempotencyKey.derive("checkout", deal_id, str(amount), str(seconds))


class LinkStatus(enum.Enum):
    """What became of the message carrying a checkout link."""

    SENT = "sent"  # delivered to WhatsApp by this call
    QUEUED = "queued"  # parked in the outbox; the relay sends it
    ALREADY_ACCEPTED = "already_accepted"  # an earlier call sent or queued it: not sent again
    IN_PROGRESS = "in_progress"  # another call is sending it right now: not sent again
    UNKNOWN = "unknown"  # the send may have reached the patient; not resent (WhatsApp has no key)


@attrs.frozen
class PaymentLinkSent:
    """
    A checkout link and what became of the message carrying it.

    ``delivery`` is this call's dispatch of the message (None when this call sent nothing:
    ``ALREADY_ACCEPTED``, ``IN_PROGRESS``, ``UNKNOWN``).
    """

    link: CheckoutLink
    delivery: Dispatched | None
    status: LinkStatus

    @property
    def message(self) -> MessageReceipt | None:
        """The vendor's receipt when this call sent the message; None otherwise."""
        result = self.delivery.result if self.delivery is not None else None
        return result if isinstance(result, MessageReceipt) else None

    @property
    def queued(self) -> bool:
        """True when the message waits in the outbox for the relay."""
        return self.status is LinkStatus.QUEUED
