"""Payments: intents, refunds and checkout links, in integer minor units."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from . import _validation as v
from .time import utc_now
from .values import IdempotencyKey, Money


__all__ = [
    "CheckoutLink",
    "CheckoutRequest",
    "PaymentIntent",
    "PaymentRequest",
    "PaymentStatus",
    "Refund",
    "RefundRequest",
    "RefundStatus",
]

_METADATA = v.str_mapping(max_items=50, max_key=40, max_value=500)


class PaymentStatus(enum.Enum):
    """Stripe's PaymentIntent statuses, plus FAILED for a payment that can no longer succeed."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"

    def is_final(self) -> bool:
        """SUCCEEDED, CANCELED and FAILED never change again."""
        return self in (PaymentStatus.SUCCEEDED, PaymentStatus.CANCELED, PaymentStatus.FAILED)


@attrs.frozen
class PaymentRequest:
    """
    A payment to collect from a patient.

    ``patient_ref`` is our opaque reference to the patient (never a name or a phone number); it
    travels to the vendor in metadata so webhooks can be matched back.
    """

    amount: Money = attrs.field(validator=v.of_type(Money))
    description: str = attrs.field(validator=v.text(max_length=1000))
    patient_ref: str = attrs.field(validator=v.text(max_length=100))
    idempotency_key: IdempotencyKey = attrs.field(validator=v.of_type(IdempotencyKey))
    metadata: Mapping[str, str] = attrs.field(
        factory=dict, converter=v.frozen_mapping, validator=_METADATA
    )

    def __attrs_post_init__(self) -> None:
        if self.amount.amount_minor == 0:
            from .errors import InvalidValue

            raise InvalidValue("amount", "must be greater than zero")


@attrs.frozen
class PaymentIntent:
    """A payment as the vendor tracks it. ``amount_received`` is what was captured."""

    id: str = attrs.field(validator=v.text(max_length=255))
    status: PaymentStatus = attrs.field(validator=v.of_type(PaymentStatus))
    amount: Money = attrs.field(validator=v.of_type(Money))
    amount_received: Money | None = None
    description: str | None = None
    patient_ref: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=v.frozen_mapping)
    client_secret: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class RefundRequest:
    """Give money back: all that is left when ``amount`` is None, else part of it."""

    payment_intent_id: str = attrs.field(validator=v.text(max_length=255))
    idempotency_key: IdempotencyKey = attrs.field(validator=v.of_type(IdempotencyKey))
    amount: Money | None = attrs.field(default=None, validator=v.optional_of_type(Money))
    reason: str | None = attrs.field(default=None, validator=v.optional_text(max_length=200))


class RefundStatus(enum.Enum):
    """Stripe's refund statuses."""

    PENDING = "pending"
    REQUIRES_ACTION = "requires_action"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


@attrs.frozen
class Refund:
    """A refund as the vendor tracks it."""

    id: str = attrs.field(validator=v.text(max_length=255))
    payment_intent_id: str
    amount: Money = attrs.field(validator=v.of_type(Money))
    status: RefundStatus = attrs.field(validator=v.of_type(RefundStatus))


def _aware(_inst: object, attr: attrs.Attribute[datetime], value: object) -> None:
    from .errors import InvalidValue

    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidValue(attr.name, "must be a timezone-aware datetime")


@attrs.frozen
class CheckoutRequest:
    """
    A hosted payment page for one line item, sent to the patient as a link.

    The link expires ``expires_in_seconds`` (Stripe's 30 minutes to 24 hours) after
    ``created_at``, so `expires_at` is fixed when the request is made: every delivery of it,
    even after a restart, asks for the same expiry, as a retry under one idempotency key must.
    Pass ``created_at=clock.now()`` to use an injected `Clock`.
    """

    amount: Money = attrs.field(validator=v.of_type(Money))
    description: str = attrs.field(validator=v.text(max_length=500))
    patient_ref: str = attrs.field(validator=v.text(max_length=100))
    success_url: str = attrs.field(validator=v.text(max_length=2048))
    cancel_url: str | None = attrs.field(default=None, validator=v.optional_text(max_length=2048))
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )
    expires_in_seconds: int = attrs.field(default=24 * 3600)
    metadata: Mapping[str, str] = attrs.field(
        factory=dict, converter=v.frozen_mapping, validator=_METADATA
    )
    created_at: datetime = attrs.field(factory=utc_now, kw_only=True, validator=_aware)

    @expires_in_seconds.validator
    def _expiry(self, _attr: object, value: object) -> None:
        from .errors import InvalidValue

        # Stripe accepts 30 minutes to 24 hours.
        if isinstance(value, bool) or not isinstance(value, int) or not 1800 <= value <= 86400:
            raise InvalidValue("expires_in_seconds", "must be an int from 1800 to 86400")

    @property
    def expires_at(self) -> datetime:
        """When the link stops working: ``created_at + expires_in_seconds``."""
        return self.created_at + timedelta(seconds=self.expires_in_seconds)


@attrs.frozen
class CheckoutLink:
    """A payment page URL and when it stops working."""

    id: str = attrs.field(validator=v.text(max_length=255))
    url: str = attrs.field(validator=v.text(max_length=4096))
    expires_at: datetime = attrs.field(validator=v.of_type(datetime))
    amount: Money = attrs.field(validator=v.of_type(Money))
    payment_intent_id: str | None = None
