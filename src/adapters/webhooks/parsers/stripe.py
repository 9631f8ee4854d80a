"""
Stripe event deliveries -> payment domain events.

Follows the event envelope of API versions 2020-08-27 and later: ``{"id": "evt_...", "type",
"created", "data": {"object": {...}}}``. Amounts are integer minor units with a lower-case ISO
currency, exactly what `Money` holds.

Dedup key (``event_id``): the Stripe ``event.id``. Stripe redelivers the same event with the same
id; two different events about one object (``payment_intent.succeeded`` then ``charge.refunded``)
have different ids and are both processed.

- ``payment_intent.succeeded`` -> `PaymentSucceeded` (``amount_received``, else ``amount``).
- ``payment_intent.payment_failed`` -> `PaymentFailed` (``last_payment_error.decline_code`` or
  ``.code`` as ``failure_code``).
- ``refund.created`` / ``refund.updated`` / ``charge.refund.updated`` -> `RefundIssued` while the
  refund is ``succeeded`` or ``pending`` (money is on its way back); a refund that ``failed`` or
  was ``canceled`` is acknowledged and listed in ``unknown_types`` as ``refund.updated:failed``.
- ``charge.refunded`` -> `RefundIssued` for the charge's cumulative ``amount_refunded``; the
  refund id is the newest in ``charge.refunds`` when Stripe embeds it (API versions before
  2022-11-15), else the charge id. Subscribe to either refund events or ``charge.refunded``, not
  both, or a refund is announced twice (with two event ids).
- ``checkout.session.completed`` -> `CheckoutCompleted` (``paid`` unless ``payment_status`` is
  ``unpaid``).

``patient_ref`` is read from ``metadata.patient_ref`` (as our payments adapter writes it) or a
checkout session's ``client_reference_id``. Every other type goes to ``unknown_types``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from adapters.webhooks.parsers._access import Node, load_json, translate_invalid
from domain.events import (
    CheckoutCompleted,
    DomainEvent,
    PaymentFailed,
    PaymentSucceeded,
    RefundIssued,
)
from domain.payments import PaymentStatus
from domain.values import Money
from domain.webhooks import ParsedDelivery, WebhookRequest


__all__ = ["StripeParser"]

_Builder = Callable[[Node, str, datetime], DomainEvent | None]
_ISSUED = frozenset({"succeeded", "pending"})


def _money(obj: Node, amount_field: str) -> Money:
    amount = obj.integer(amount_field, minimum=0)
    currency = obj.text("currency", max_length=3)
    with translate_invalid(obj.provider, obj.path):
        return Money(amount, currency)


def _patient_ref(obj: Node) -> str | None:
    metadata = obj.opt_child("metadata")
    return metadata.opt_text("patient_ref", max_length=100) if metadata else None


def _payment_succeeded(obj: Node, event_id: str, at: datetime) -> DomainEvent:
    field = "amount_received" if obj.has("amount_received") else "amount"
    return PaymentSucceeded(
        event_id=event_id,
        provider=obj.provider,
        occurred_at=at,
        payment_intent_id=obj.text("id", max_length=255),
        amount=_money(obj, field),
        patient_ref=_patient_ref(obj),
    )


def _payment_failed(obj: Node, event_id: str, at: datetime) -> DomainEvent:
    error = obj.opt_child("last_payment_error")
    code = (error.opt_text("decline_code") or error.opt_text("code")) if error else None
    raw_status = obj.opt_text("status") or PaymentStatus.REQUIRES_PAYMENT_METHOD.value
    try:
        status = PaymentStatus(raw_status)
    except ValueError:
        obj.fail("is not a PaymentIntent status", "status")
    return PaymentFailed(
        event_id=event_id,
        provider=obj.provider,
        occurred_at=at,
        payment_intent_id=obj.text("id", max_length=255),
        amount=_money(obj, "amount"),
        status=status,
        failure_code=code,
        patient_ref=_patient_ref(obj),
    )


def _refund(obj: Node, event_id: str, at: datetime) -> DomainEvent | None:
    if obj.text("status") not in _ISSUED:
        return None
    return RefundIssued(
        event_id=event_id,
        provider=obj.provider,
        occurred_at=at,
        refund_id=obj.text("id", max_length=255),
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=_money(obj, "amount"),
    )


def _charge_refunded(obj: Node, event_id: str, at: datetime) -> DomainEvent:
    refunds = obj.opt_child("refunds")
    newest = refunds.items("data", required=False) if refunds else []
    refund_id = newest[0].text("id", max_length=255) if newest else obj.text("id", max_length=255)
    return RefundIssued(
        event_id=event_id,
        provider=obj.provider,
        occurred_at=at,
        refund_id=refund_id,
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=_money(obj, "amount_refunded"),
    )


def _checkout_completed(obj: Node, event_id: str, at: datetime) -> DomainEvent:
    amount = None
    if obj.has("amount_total") and obj.has("currency"):
        amount = _money(obj, "amount_total")
    return CheckoutCompleted(
        event_id=event_id,
        provider=obj.provider,
        occurred_at=at,
        session_id=obj.text("id", max_length=255),
        payment_intent_id=obj.opt_text("payment_intent", max_length=255),
        amount=amount,
        patient_ref=_patient_ref(obj) or obj.opt_text("client_reference_id", max_length=200),
        paid=obj.opt_text("payment_status") != "unpaid",
    )


_BUILDERS: dict[str, _Builder] = {
    "payment_intent.succeeded": _payment_succeeded,
    "payment_intent.payment_failed": _payment_failed,
    "refund.created": _refund,
    "refund.updated": _refund,
    "charge.refund.updated": _refund,
    "charge.refunded": _charge_refunded,
    "checkout.session.completed": _checkout_completed,
}


class StripeParser:
    """`WebhookParser` for Stripe: one event per delivery."""

    provider = "stripe"

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """The delivery's event as a domain event, or its type in ``unknown_types``."""
        envelope = load_json(request.body, provider=self.provider)
        event_id = envelope.text("id", max_length=255)
        event_type = envelope.text("type", max_length=200)
        created = envelope.timestamp("created")
        build = _BUILDERS.get(event_type)
        if build is None:
            return ParsedDelivery(self.provider, unknown_types=(event_type,))
        obj = envelope.child("data").child("object")
        event = build(obj, event_id, created)
        if event is None:
            return ParsedDelivery(
                self.provider, unknown_types=(f"{event_type}:{obj.text('status')}",)
            )
        return ParsedDelivery(self.provider, events=(event,))
