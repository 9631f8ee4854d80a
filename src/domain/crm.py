"""Contacts, deals and notes as the CRM keeps them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

from . import _validation as v
from .errors import InvalidValue
from .values import Email, Money, PhoneNumber


__all__ = ["Contact", "ContactDraft", "Deal", "DealDraft", "DealStage", "LifecycleStage", "Note"]


class LifecycleStage(enum.Enum):
    """
    Where a person is on the way from first contact to paying customer: the domain's own names.

    A CRM adapter maps them to its vendor's values (HubSpot: `adapters.hubspot.HubSpotStages`).
    ``OTHER`` is every stage the domain does not name (a portal's custom stage, say): a read of
    such a stage is ``OTHER``, never an error.
    """

    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MARKETING_QUALIFIED = "marketing_qualified"
    SALES_QUALIFIED = "sales_qualified"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    ADVOCATE = "advocate"
    OTHER = "other"


class DealStage(enum.Enum):
    """
    Where a deal stands: the domain's own stages, whatever the CRM's pipeline calls them.

    ``OPEN`` is every stage before a decision (a consultation asked for or booked, a payment
    awaited); ``WON`` is a paid deal, ``LOST`` one that will not happen. A CRM adapter maps them
    to its pipeline's stage ids, and reads any stage it has no mapping for as ``OPEN``.
    """

    OPEN = "open"
    WON = "won"
    LOST = "lost"

    @classmethod
    def of(cls, value: DealStage | str, *, field: str = "stage") -> DealStage:
        """
        ``value`` as a stage: a member, or its value as configuration spells it (``"won"``).

        Raises:
            InvalidValue: not a stage (``field`` names the setting or field, never the value).
        """
        if isinstance(value, DealStage):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(stage.value for stage in cls)
            raise InvalidValue(field, f"must be one of {names}") from None


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
    stage: DealStage = attrs.field(validator=v.of_type(DealStage))
    amount: Money | None = attrs.field(default=None, validator=v.optional_of_type(Money))
    pipeline: str = attrs.field(default="default", validator=v.text(max_length=100))


@attrs.frozen
class Deal:
    """A deal as the CRM stores it."""

    id: str = attrs.field(validator=v.text(max_length=64))
    contact_id: str
    name: str
    stage: DealStage
    amount: Money | None = None
    pipeline: str = "default"


@attrs.frozen
class Note:
    """A note on a contact's timeline (call summaries, payment confirmations)."""

    id: str = attrs.field(validator=v.text(max_length=64))
    contact_id: str
    body: str = attrs.field(repr=False)
    created_at: datetime
