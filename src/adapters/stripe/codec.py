"""
Stripe objects <-> domain values: the form bodies we send and the JSON we read back.

Follows Stripe API version ``2026-10-28.endive`` (the version stripe-python 16.1 pins); the
fields used here (PaymentIntent, Refund, Checkout Session) have been stable since 2022-08-01,
when Checkout stopped creating a PaymentIntent before the customer pays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...domain.json_reader import JsonNode
from ...domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    RefundStatus,
)
from ...domain.values import Money


__all__ = [
    "PATIENT_REF",
    "REFUND_REASONS",
    "checkout_form",
    "expiry_time",
    "intent_form",
    "read_checkout",
    "read_intent",
    "read_refund",
    "refund_form",
]

INTEGRATION = "stripe"
PATIENT_REF = "patient_ref"
# The only values Stripe accepts in ``reason``; any other text travels in metadata.
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})


def intent_form(request: PaymentRequest) -> dict[str, Any]:
    """The body of ``POST /v1/payment_intents``."""
    return {
        "amount": request.amount.amount_minor,
        "currency": request.amount.currency.lower(),
        "description": request.description,
        "metadata": {**request.metadata, PATIENT_REF: request.patient_ref},
    }


def refund_form(request: RefundRequest) -> dict[str, Any]:
    """The body of ``POST /v1/refunds`` (no amount: all that is left)."""
    form: dict[str, Any] = {"payment_intent": request.payment_intent_id}
    if request.amount is not None:
        form["amount"] = request.amount.amount_minor
    if request.reason in REFUND_REASONS:
        form["reason"] = request.reason
    elif request.reason is not None:
        form["metadata"] = {"reason": request.reason}
    return form


def expiry_time(request: CheckoutRequest) -> int:
    """The request's fixed ``expires_at`` as the whole Unix seconds Stripe wants."""
    return int(request.expires_at.timestamp())


def checkout_form(request: CheckoutRequest) -> dict[str, Any]:
    """The body of ``POST /v1/checkout/sessions``: one line item priced inline."""
    metadata = {**request.metadata, PATIENT_REF: request.patient_ref}
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": request.amount.currency.lower(),
                    "unit_amount": request.amount.amount_minor,
                    "product_data": {"name": request.description},
                },
            }
        ],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "expires_at": expiry_time(request),
        "client_reference_id": request.patient_ref,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }


def _money(fields: JsonNode, amount_key: str) -> Money:
    amount, currency = fields.integer(amount_key), fields.text("currency")
    return fields.build(lambda: Money(amount, currency))


def _intent_id(fields: JsonNode) -> str | None:
    """``payment_intent``: an id, or the object when expanded; None while there is none."""
    intent = fields.raw.get("payment_intent")
    if isinstance(intent, Mapping):
        return fields.child("payment_intent").opt_text("id", max_length=255)
    return fields.opt_text("payment_intent", max_length=255)


def read_intent(fields: JsonNode) -> PaymentIntent:
    """A PaymentIntent object; ``metadata.patient_ref`` becomes ``patient_ref``."""
    if fields.opt_text("object") not in (None, "payment_intent"):
        fields.fail("is not payment_intent", "object")
    amount = _money(fields, "amount")
    received = fields.opt_integer("amount_received")
    metadata = fields.text_map("metadata", lenient=True)
    patient_ref = metadata.pop(PATIENT_REF, None)
    return fields.build(
        lambda: PaymentIntent(
            id=fields.text("id"),
            status=fields.enum("status", PaymentStatus),
            amount=amount,
            amount_received=Money(received, amount.currency) if received is not None else None,
            description=fields.opt_text("description"),
            patient_ref=patient_ref,
            metadata=metadata,
            client_secret=fields.opt_text("client_secret"),
        )
    )


def read_refund(fields: JsonNode) -> Refund:
    """A Refund object (``payment_intent`` may be an id or an expanded object)."""
    intent = _intent_id(fields)
    if intent is None:
        fields.fail("missing", "payment_intent")
    return fields.build(
        lambda: Refund(
            id=fields.text("id"),
            payment_intent_id=intent,
            amount=_money(fields, "amount"),
            status=fields.enum("status", RefundStatus),
        )
    )


def read_checkout(fields: JsonNode) -> CheckoutLink:
    """A Checkout Session object; its ``payment_intent`` is null until the patient pays."""
    return fields.build(
        lambda: CheckoutLink(
            id=fields.text("id"),
            url=fields.text("url"),
            expires_at=fields.timestamp("expires_at"),
            amount=_money(fields, "amount_total"),
            payment_intent_id=_intent_id(fields),
        )
    )
