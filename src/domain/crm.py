"""Contacts, deals and notes as the CRM keeps them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

from . import _validation as v
from .errors import InvalidValue
from .values import Email, Money, PhoneNumber


__all__ = ["Contact", "ContactDraft", "Deal", "DealDraft", "LifecycleStage", "Note"]


class LifecycleStage(enum.Enum):
    """HubSpot's default lifecycle stages (their internal values)."""

    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MARKETING_QUALIFIED_LEAD = "marketingqualifiedlead"
    SALES_QUALIFIED_LEAD = "salesqualifiedlead"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    EVANGELIST = "evangelist"
    OTHER = "other"


def _opt_phone(raw: PhoneNumber | str | None) -> PhoneNumber | None:
    if raw is None or isinstance(raw, PhoneNumber):
        return raw
    return PhoneNumber.parse(raw, field="phone")


def _opt_email(raw: Email | str | None) -> Email | None:
    if raw is None or isinstance(raw, Email):
        return raw
    return Email.parse(raw, field="email")


_NAME = v.optional_text(max_length=100)


@attrs.frozen
class ContactDraft:
    """
    What we know of a person, to create or update their contact.

    At least a phone or an email is required: they are the identities `CRMPort.upsert_contact`
    matches on (phone first, then email).
    """

    phone: PhoneNumber | None = attrs.field(default=None, converter=_opt_phone)
    email: Email | None = attrs.field(default=None, converter=_opt_email)
    first_name: str | None = attrs.field(default=None, validator=_NAME, repr=False)
    last_name: str | None = attrs.field(default=None, validator=_NAME, repr=False)
    lifecycle_stage: LifecycleStage | None = attrs.field(
        default=None, validator=v.optional_of_type(LifecycleStage)
    )
    properties: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=v.frozen_mapping,
        validator=v.str_mapping(max_items=100, max_key=100, max_value=65536),
        repr=False,
    )

    def __attrs_post_init__(self) -> None:
        if self.phone is None and self.email is None:
            raise InvalidValue("phone", "a contact needs a phone or an email")


@attrs.frozen
class Contact:
    """A contact as the CRM stores it."""

    id: str = attrs.field(validator=v.text(max_length=64))
    phone: PhoneNumber | None = attrs.field(default=None, converter=_opt_phone)
    email: Email | None = attrs.field(default=None, converter=_opt_email)
    first_name: str | None = attrs.field(default=None, repr=False)
    last_name: str | None = attrs.field(default=None, repr=False)
    lifecycle_stage: LifecycleStage | None = None
    properties: Mapping[str, str] = attrs.field(
        factory=dict, converter=v.frozen_mapping, repr=False
    )


@attrs.frozen
class DealDraft:
    """A deal (a lead's opportunity) to open for a contact."""

    contact_id: str = attrs.field(validator=v.text(max_length=64))
    name: str = attrs.field(validator=v.text(max_length=256))
    stage: str = attrs.field(validator=v.text(max_length=100))
    amount: Money | None = attrs.field(default=None, validator=v.optional_of_type(Money))
    pipeline: str = attrs.field(default="default", validator=v.text(max_length=100))


@attrs.frozen
class Deal:
    """A deal as the CRM stores it."""

    id: str = attrs.field(validator=v.text(max_length=64))
    contact_id: str
    name: str
    stage: str
    amount: Money | None = None
    pipeline: str = "default"


@attrs.frozen
class Note:
    """A note on a contact's timeline (call summaries, payment confirmations)."""

    id: str = attrs.field(validator=v.text(max_length=64))
    contact_id: str
    body: str = attrs.field(repr=False)
    created_at: datetime
