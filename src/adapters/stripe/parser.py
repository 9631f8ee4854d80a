"""
Stripe event deliveries -> payment domain events.

Follows the event envelope of API versions 2020-08-27 and later: ``{"id": "evt_...", "type",
"created", "data": {"object": {...}}}``. Amounts are integer minor units with a lower-case ISO
currency, exactly what `Money` holds.

Dedup key (``event_id``): the Stripe ``event.id``, Stripe's redeliveries repeat it; two different
events about one object (``payment_intent.succeeded`` then ``charge.refunded``) have different ids
and are both processed. Refunds are the exception: one refund is announced by several events
(``refund.created`` while pending, ``refund.updated`` once it succeeded, ``charge.refunded``), so
their key is the refund's identity, ``refund:<refund id>``, and the refund is processed once.

- ``payment_intent.succeeded`` -> `PaymentSucceeded` (``amount_received``, else ``amount``).
- ``payment_intent.payment_failed`` -> `PaymentFailed` (``last_payment_error.decline_code`` or
  ``.code`` as ``failure_code``).
- ``refund.created`` / ``refund.updated`` / ``charge.refund.updated`` -> `RefundIssued` once the
  refund is ``succeeded``; any other status (``pending``, ``failed``, ``canceled``...) is
  acknowledged and listed in ``unknown_types`` as e.g. ``refund.created:pending``.
- ``charge.refunded`` -> `RefundIssued` for the newest refund in ``charge.refunds`` when Stripe
  embeds it (API versions before 2022-11-15): its id, its amount (else the charge's cumulative
  ``amount_refunded``) and, when given, its status (only ``succeeded`` is announced); the key is
  ``refund:<id>``, shared with the refund events. Newer versions embed no refund: the charge id
  stands in for the refund id, the amount is cumulative and the key is the ``event.id``, which
  cannot match a refund event's, so on those versions subscribe to refund events only.
- ``checkout.session.completed`` -> `CheckoutCompleted` (``paid`` unless ``payment_status`` is
  ``unpaid``, as it is for a delayed method such as a bank debit).
- ``checkout.session.async_payment_succeeded`` / ``..._failed`` -> `CheckoutPaymentSettled`
  (``paid`` by the event type: Stripe sends these only for a delayed-method checkout, days after
  its ``completed``).

``patient_ref`` is read from ``metadata.patient_ref`` (as our payments adapter writes it) or a
checkout session's ``client_reference_id``. Every other type goes to ``unknown_types``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ...domain.events import (
    CheckoutCompleted,
    CheckoutPaymentSettled,
    DomainEvent,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from ...domain.json_reader import JsonNode, malformed, parse_json
from ...domain.payments import PaymentStatus
from ...domain.values import Money
from ...domain.webhooks import ParsedDelivery, WebhookRequest


__all__ = ["StripeParser"]

PROVIDER = "stripe"
# A builder returns the event, or the status (a str) for which nothing is announced.
_Builder = Callable[[JsonNode, str, datetime], DomainEvent | str]
_SUCCEEDED = "succeeded"


def _money(obj: JsonNode, amount_field: str) -> Money:
    amount = obj.integer(amount_field, minimum=0)
    currency = obj.text("currency", max_length=3)
    return obj.build(lambda: Money(amount, currency))


def _patient_ref(obj: JsonNode) -> str | None:
    metadata = obj.opt_child("metadata")
    return metadata.opt_text("patient_ref", max_length=100) if metadata else None


def _payment_succeeded(obj: JsonNode, event_id: str, at: datetime) -> DomainEvent:
    field = "amount_received" if obj.has("amount_received") else "amount"
    return PaymentSucceeded(
        event_id=event_id,
        provider=PROVIDER,
        occurred_at=at,
        payment_intent_id=obj.text("id", max_length=255),
        amount=_money(obj, field),
        patient_ref=_patient_ref(obj),
    )


def _payment_failed(obj: JsonNode, event_id: str, at: datetime) -> DomainEvent:
    error = obj.opt_child("last_payment_error")
    code = (error.opt_text("decline_code") or error.opt_text("code")) if error else None
    status = obj.opt_enum("status", PaymentStatus) or PaymentStatus.REQUIRES_PAYMENT_METHOD
    return PaymentFailed(
        event_id=event_id,
        provider=PROVIDER,
        occurred_at=at,
        payment_intent_id=obj.text("id", max_length=255),
        amount=_money(obj, "amount"),
        status=status,
        failure_code=code,
        patient_ref=_patient_ref(obj),
    )


def _refund(obj: JsonNode, _event_id: str, at: datetime) -> DomainEvent | str:
    status = obj.text("status", max_length=40)
    if status != _SUCCEEDED:
        return status
    refund_id = obj.text("id", max_length=255)
    return RefundIssued(
        event_id=f"refund:{refund_id}",
        provider=PROVIDER,
        occurred_at=at,
        refund_id=refund_id,
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=_money(obj, "amount"),
    )


def _charge_refunded(obj: JsonNode, event_id: str, at: datetime) -> DomainEvent | str:
    refunds = obj.opt_child("refunds")
    embedded = refunds.items("data", required=False) if refunds else []
    if not embedded:
        return RefundIssued(
            event_id=event_id,
            provider=PROVIDER,
            occurred_at=at,
            refund_id=obj.text("id", max_length=255),
            payment_intent_id=obj.opt_text("payment_intent", max_length=255),
            amount=_money(obj, "amount_refunded"),
        )
    newest = embedded[0]
    status = newest.opt_text("status", max_length=40)
    if status not in {None, _SUCCEEDED}:
        return str(status)
    refund_id = newest.text("id", max_length=255)
    has_own_amount = newest.has("amount") and newest.has("currency")
    return RefundIssued(
        event_id=f"refund:{refund_id}",
        provider=PROVIDER,
        occurred_at=at,
        refund_id=refund_id,
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=_money(newest, "amount") if has_own_amount else _money(obj, "amount_refunded"),
    )


def _checkout_completed(obj: JsonNode, event_id: str, at: datetime) -> CheckoutCompleted:
    amount = None
    if obj.has("amount_total") and obj.has("currency"):
        amount = _money(obj, "amount_total")
    return CheckoutCompleted(
        event_id=event_id,
        provider=PROVIDER,
        occurred_at=at,
        session_id=obj.text("id", max_length=255),
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=amount,
        patient_ref=_patient_ref(obj) or obj.opt_text("client_reference_id", max_length=200),
        paid=obj.opt_text("payment_status") != "unpaid",
    )


def _checkout_settled(*, paid: bool) -> _Builder:
    def build(obj: JsonNode, event_id: str, at: datetime) -> DomainEvent:
        completed = _checkout_completed(obj, event_id, at)
        return CheckoutPaymentSettled(
            event_id=event_id,
            provider=PROVIDER,
            occurred_at=at,
            session_id=completed.session_id,
            payment_intent_id=completed.payment_intent_id,
            amount=completed.amount,
            patient_ref=completed.patient_ref,
            paid=paid,
        )

    return build


_BUILDERS: dict[str, _Builder] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.refund.updated": _refund,
    "charge.refunded": _charge_refunded,
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_settled(paid=True),
    "checkout.session.async_payment_failed": _checkout_settled(paid=False),
}


class StripeParser:
    """`WebhookParser` for Stripe: one event per delivery."""

    provider = PROVIDER

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """The delivery's event as a domain event, or its type in ``unknown_types``."""
        envelope = parse_json(request.body, error=malformed(self.provider))
        event_id = envelope.text("id", max_length=255)
        event_type = envelope.text("type", max_length=200)
        created = envelope.timestamp("created")
        build = _BUILDERS.get(event_type)
        if build is None:
            return ParsedDelivery(self.provider, unknown_types=(event_type,))
        obj = envelope.child("data").child("object")
        event = build(obj, event_id, created)
        if isinstance(event, str):
            return ParsedDelivery(self.provider, unknown_types=(f"{event_type}:{event}",))
        return ParsedDelivery(self.provider, events=(event,))
