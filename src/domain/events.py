"""
Domain events: what inbound webhooks tell us happened, in our words rather than vendor JSON.

Every event carries ``event_id``, the provider's identity for the occurrence (the replay store's
dedup key), ``provider`` and ``occurred_at``.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from .crm import LifecycleStage
from .messaging import DeliveryStatus, InboundMessage
from .payments import PaymentStatus
from .values import Money
from .voice import CallOutcome, CallStatus


__all__ = [
    "CallEnded",
    "CallStatusChanged",
    "ChangeNotificationsMissed",
    "CheckoutCompleted",
    "CheckoutPaymentSettled",
    "ContactChanged",
    "DomainEvent",
    "MessageReceived",
    "MessageStatusChanged",
    "MessagingErrorReported",
    "PaymentFailed",
    "PaymentSucceeded",
    "RefundIssued",
    "ResourceChangeType",
    "ResourceChanged",
    "SubscriptionLifecycleEvent",
    "SubscriptionReauthorizationRequired",
    "SubscriptionRemoved",
]


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base of every event."""

    event_id: str
    provider: str
    occurred_at: datetime


@attrs.frozen(kw_only=True)
class MessageReceived(DomainEvent):
    """A patient wrote to us."""

    message: InboundMessage


@attrs.frozen(kw_only=True)
class MessageStatusChanged(DomainEvent):
    """
    An outbound message moved on (sent, delivered, read) or failed.

    A failed message carries the provider's ``error_code`` (WhatsApp's 131047: outside the
    24-hour window) and ``error_title``, the provider's short, generic name for it. A message the
    provider failed only because it was throttled carries ``retry_after``, the seconds after which
    the same message may go again (Twilio's 14107: 30 s); None for every other failure.
    """

    message_id: str
    status: DeliveryStatus
    error_code: str | None = None
    error_title: str | None = None
    retry_after: float | None = None


@attrs.frozen(kw_only=True)
class MessagingErrorReported(DomainEvent):
    """
    The messaging provider reported an error that belongs to no message (WhatsApp's
    ``entry[].changes[].value.errors[]``: a throughput limit, an app or account problem).

    ``title`` and ``details`` are the provider's text, cut to a safe length; ``details`` is kept
    out of reprs, since a provider may quote what it refused.
    """

    code: str | None = None
    title: str | None = None
    details: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class PaymentSucceeded(DomainEvent):
    """Money was collected."""

    payment_intent_id: str
    amount: Money
    patient_ref: str | None = None


@attrs.frozen(kw_only=True)
class PaymentFailed(DomainEvent):
    """A payment attempt failed; the intent may still be paid with another method."""

    payment_intent_id: str
    amount: Money
    status: PaymentStatus = PaymentStatus.REQUIRES_PAYMENT_METHOD
    failure_code: str | None = None
    patient_ref: str | None = None


@attrs.frozen(kw_only=True)
class RefundIssued(DomainEvent):
    """Money went back to the patient."""

    refund_id: str
    payment_intent_id: str | None
    amount: Money


@attrs.frozen(kw_only=True)
class CheckoutCompleted(DomainEvent):
    """A patient finished a hosted checkout page."""

    session_id: str
    payment_intent_id: str | None
    amount: Money | None
    patient_ref: str | None = None
    paid: bool = True


@attrs.frozen(kw_only=True)
class CheckoutPaymentSettled(DomainEvent):
    """
    A checkout paid by a delayed method (bank debit, transfer) finally succeeded or failed.

    Its `CheckoutCompleted` came days earlier with ``paid=False``; this is the end of that story.
    """

    session_id: str
    payment_intent_id: str | None
    amount: Money | None
    paid: bool
    patient_ref: str | None = None


@attrs.frozen(kw_only=True)
class ContactChanged(DomainEvent):
    """A CRM contact was created, changed or deleted (``change`` names which)."""

    contact_id: str
    change: str  # "created", "property_changed", "deleted", "merged", ...
    property_name: str | None = None
    property_value: str | None = attrs.field(default=None, repr=False)
    lifecycle_stage: LifecycleStage | None = None


@attrs.frozen(kw_only=True)
class CallStatusChanged(DomainEvent):
    """A call moved on (queued, ringing, in progress, ended)."""

    call_id: str
    status: CallStatus
    ended_reason: str | None = None


@attrs.frozen(kw_only=True)
class CallEnded(DomainEvent):
    """A call finished, with its summary and transcript."""

    outcome: CallOutcome


class ResourceChangeType(enum.Enum):
    """What happened to a subscribed resource (Microsoft Graph's ``changeType``)."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@attrs.frozen(kw_only=True)
class ResourceChanged(DomainEvent):
    """
    A resource the host subscribed to changed (a Graph change notification: a new message in a
    mailbox, a calendar event moved). Only *which* resource: fetch it to see what changed.

    ``resource`` is the path relative to the service root (it may name a mailbox, so it is kept
    out of reprs); ``resource_id`` the changed item's id, when the notification carries it.
    """

    subscription_id: str
    tenant_id: str
    change_type: ResourceChangeType
    resource: str = attrs.field(repr=False)
    resource_id: str | None = attrs.field(default=None, repr=False)
    subscription_expires_at: datetime


@attrs.frozen(kw_only=True)
class SubscriptionLifecycleEvent(DomainEvent):
    """
    A change-notification subscription needs the host's attention (a Graph lifecycle
    notification); subscribe to a subclass to handle one kind, to this class for all.
    """

    subscription_id: str
    tenant_id: str
    subscription_expires_at: datetime


@attrs.frozen(kw_only=True)
class SubscriptionReauthorizationRequired(SubscriptionLifecycleEvent):
    """The subscription needs reauthorizing (``POST /subscriptions/{id}/reauthorize`` or a renewal
    PATCH) or its notifications pause."""


@attrs.frozen(kw_only=True)
class SubscriptionRemoved(SubscriptionLifecycleEvent):
    """The vendor removed the subscription: create it again, then resynchronise."""


@attrs.frozen(kw_only=True)
class ChangeNotificationsMissed(SubscriptionLifecycleEvent):
    """Some change notifications were not delivered: resynchronise (a delta query)."""
