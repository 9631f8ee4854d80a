"""
Stripe objects <-> domain values: the form bodies we send and the JSON we read back.

Follows Stripe API version ``2026-10-28.endive`` (the version stripe-python 16.1 pins); the
fields used here (PaymentIntent, Refund, Checkout Session) have been stable since 2022-08-01,
when Checkout stopped creating a PaymentIntent before the customer pays.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...domain.errors import InvalidValue
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
from ..http.errors import unexpected
from ..http.reading import Fields


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


def _money(fields: Fields, amount_key: str, operation: str) -> Money:
    amount = fields.integer(amount_key)
    currency = fields.text("currency")
    try:
        return Money(amount, currency)
    except InvalidValue as err:
        raise unexpected(INTEGRATION, operation, f"{err.field} {err.rule}") from None


def _enum(fields: Fields, enum: Any, operation: str) -> Any:
    raw = fields.text("status")
    try:
        return enum(raw)
    except ValueError:
        raise unexpected(INTEGRATION, operation, "unknown status") from None


def read_intent(fields: Fields, operation: str) -> PaymentIntent:
    """A PaymentIntent object; ``metadata.patient_ref`` becomes ``patient_ref``."""
    if fields.opt_text("object") not in (None, "payment_intent"):
        raise unexpected(INTEGRATION, operation, "object is not a payment_intent")
    amount = _money(fields, "amount", operation)
    received = fields.opt_integer("amount_received")
    metadata = dict(fields.text_map("metadata"))
    patient_ref = metadata.pop(PATIENT_REF, None)
    try:
        return PaymentIntent(
            id=fields.text("id"),
            status=_enum(fields, PaymentStatus, operation),
            amount=amount,
            amount_received=Money(received, amount.currency) if received is not None else None,
            description=fields.opt_text("description"),
            patient_ref=patient_ref,
            metadata=metadata,
            client_secret=fields.opt_text("client_secret"),
        )
    except InvalidValue as err:
        raise unexpected(INTEGRATION, operation, f"{err.field} {err.rule}") from None


def read_refund(fields: Fields, operation: str) -> Refund:
    """A Refund object (``payment_intent`` may be an id or an expanded object)."""
    intent = fields.raw.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    if not isinstance(intent, str) or not intent:
        raise unexpected(INTEGRATION, operation, "missing payment_intent")
    try:
        return Refund(
            id=fields.text("id"),
            payment_intent_id=intent,
            amount=_money(fields, "amount", operation),
            status=_enum(fields, RefundStatus, operation),
        )
    except InvalidValue as err:
        raise unexpected(INTEGRATION, operation, f"{err.field} {err.rule}") from None


def read_checkout(fields: Fields, operation: str) -> CheckoutLink:
    """A Checkout Session object; its ``payment_intent`` is null until the patient pays."""
    expires = fields.integer("expires_at")
    intent = fields.raw.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    url = fields.text("url")
    try:
        return CheckoutLink(
            id=fields.text("id"),
            url=url,
            expires_at=datetime.fromtimestamp(expires, UTC),
            amount=_money(fields, "amount_total", operation),
            payment_intent_id=intent if isinstance(intent, str) and intent else None,
        )
    except (InvalidValue, OverflowError, OSError, ValueError) as err:
        raise unexpected(INTEGRATION, operation, f"bad field ({type(err).__name__})") from None
