"""Messages to and from patients: outbound text and templates, receipts, delivery statuses."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from . import _validation as v
from .errors import InvalidValue
from .values import IdempotencyKey, PhoneNumber


__all__ = [
    "DeliveryStatus",
    "InboundMessage",
    "MessageReceipt",
    "OutboundMessage",
    "TemplateMessage",
    "TextMessage",
]

# WhatsApp's limit for a text body; SMS adapters split or refuse longer bodies themselves.
MAX_TEXT_LENGTH = 4096


def _to_phone(raw: PhoneNumber | str) -> PhoneNumber:
    return raw if isinstance(raw, PhoneNumber) else PhoneNumber.parse(raw, field="to")


class DeliveryStatus(enum.Enum):
    """Where a message is on its way to the patient. Only ever moves forward (or to FAILED)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Order of progress; FAILED is terminal and ranks highest."""
        return _RANK[self]

    def is_final(self) -> bool:
        """READ and FAILED end the progression."""
        return self in (DeliveryStatus.READ, DeliveryStatus.FAILED)


_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.FAILED: 4,
}


@attrs.frozen
class TextMessage:
    """A free-form text. On WhatsApp it is only allowed inside the 24-hour customer-care window."""

    to: PhoneNumber = attrs.field(converter=_to_phone)
    body: str = attrs.field(validator=v.text(max_length=MAX_TEXT_LENGTH), repr=False)
    idempotency_key: IdempotencyKey | None = attrs.field(
        default=None, validator=v.optional_of_type(IdempotencyKey)
    )


def _parameters(raw: object) -> tuple[str, ...]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise InvalidValue("parameters", "must be a sequence of str")
    if not all(isinstance(p, str) for p in raw):
        raise InvalidValue("parameters", "must be a sequence of str")
    return tuple(raw)


def _language(_inst: object, _attr: object, value: object) -> None:
    if not isinstance(value, str) or not (2 <= len(value) <= 15) or " " in value:
        raise InvalidValue("language", "must be a language code such as 'en' or 'en_US'")


@attrs.frozen
class TemplateMessage:
    """A pre-approved template (WhatsApp) with positional body parameters; allowed any time."""

    to: PhoneNumber = attrs.field(converter=_to_phone)
    template: str = attrs.field(validator=v.text(max_length=512))
    language: str = attrs.field(default="en", validator=_language)
    parameters: tuple[str, ...] = attrs.field(default=(), converter=_parameters, repr=False)
    idempotency_key: IdempotencyKey | None = attrs.field(
        default=None, validator=v.optional_of_type(IdempotencyKey)
    )


OutboundMessage = TextMessage | TemplateMessage


@attrs.frozen
class MessageReceipt:
    """What the provider said when it accepted a message."""

    message_id: str = attrs.field(validator=v.text(max_length=256))
    status: DeliveryStatus = attrs.field(validator=v.of_type(DeliveryStatus))
    provider: str = attrs.field(validator=v.text(max_length=64))


@attrs.frozen
class InboundMessage:
    """A message a patient sent us. ``text`` is None for media or interactive messages."""

    message_id: str = attrs.field(validator=v.text(max_length=256))
    sender: PhoneNumber = attrs.field(validator=v.of_type(PhoneNumber))
    received_at: datetime = attrs.field(validator=v.of_type(datetime))
    provider: str = attrs.field(validator=v.text(max_length=64))
    text: str | None = attrs.field(default=None, repr=False)
    kind: str = "text"
    sender_name: str | None = attrs.field(default=None, repr=False)
