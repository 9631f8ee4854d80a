"""
Outbound commands as durable values: what the outbox stores and the relay replays.

A command is one call to one port, frozen with its arguments and an idempotency key chosen once,
when the command is created. The key travels with the command through every redelivery, so a
vendor that honours keys (Stripe, our CRM upserts), or an adapter that reconciles by key where the
vendor has none (Vapi calls), applies it at most once.

Each command also names:

* ``integration``: the port it goes through ("messaging", "crm", "payments", "voice");
* ``ordering_key``: the subject whose commands must reach the vendor in order (a recipient, a
  contact, a deal, a patient); it is a hash, so the outbox never indexes patient data in clear;
* ``redeliverable``: whether sending it again after an *unknown* outcome is safe at the vendor
  (a class constant, except for `UpsertContact`, where the CRM in use decides per draft).

`domain.command_codec` turns commands into JSON and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import attrs

from . import _validation as v
from ._command_keys import KeyFromRequest, KeyFromWrapped, subject, wrapped_key
from .crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from .email import EmailMessage
from .errors import InvalidValue
from .messaging import OutboundMessage, TemplateMessage, TextMessage
from .payments import CheckoutRequest, PaymentRequest, RefundRequest
from .values import IdempotencyKey
from .voice import CallRequest


__all__ = [
    "AddNote",
    "Command",
    "CreateCheckoutLink",
    "CreateDeal",
    "CreatePaymentIntent",
    "IssueRefund",
    "MoveDeal",
    "SendEmail",
    "SendMessage",
    "StartCall",
    "UpdateContact",
    "UpsertContact",
]


@attrs.frozen
class SendMessage(KeyFromWrapped[TextMessage | TemplateMessage]):
    """Send a text or template message; ordered per recipient."""

    kind: ClassVar[str] = "send_message"
    integration: ClassVar[str] = "messaging"
    # WhatsApp has no idempotency key: after an unknown outcome a resend may arrive twice.
    redeliverable: ClassVar[bool] = False

    message: OutboundMessage = attrs.field(validator=v.of_type(TextMessage, TemplateMessage))
    idempotency_key: IdempotencyKey = attrs.field(
        default=attrs.Factory(wrapped_key, takes_self=True), validator=v.of_type(IdempotencyKey)
    )

    @property
    def _wrapped(self) -> OutboundMessage:
        return self.message

    @property
    def ordering_key(self) -> str:
        """Messages to one phone number go out in the order they were accepted."""
        return subject(self.integration, "phone", self.message.to.e164)

    def keyed_message(self) -> OutboundMessage:
        """The message carrying the command's key, for adapters that can pass it on."""
        return self._keyed()


def _email_matched(command: UpsertContact) -> bool:
    """The safe default: only a draft with an email is deduped by every CRM (unique emails)."""
    return command.draft.email is not None


@attrs.frozen
class UpsertContact:
    """
    Create or update a contact; ordered per phone (or email when there is no phone).

    ``redeliverable`` is per value: the CRM in use decides whether a resend of *this* draft can
    create a second contact (HubSpot dedupes a phone-only draft only with a unique phone
    property), so whoever creates the command asks it (``ports.crm.upsert_is_idempotent``) and
    the outbox stores the answer. Left out, it is True only for a draft with an email.
    """

    kind: ClassVar[str] = "upsert_contact"
    integration: ClassVar[str] = "crm"

    draft: ContactDraft = attrs.field(validator=v.of_type(ContactDraft))
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )
    redeliverable: bool = attrs.field(
        default=attrs.Factory(_email_matched, takes_self=True),
        kw_only=True,
        validator=v.of_type(bool),
    )

    @property
    def ordering_key(self) -> str:
        """Keyed by the identity the CRM matches on: phone first, then email."""
        if self.draft.phone is not None:
            return subject(self.integration, "phone", self.draft.phone.e164)
        assert self.draft.email is not None  # ContactDraft guarantees one of the two
        return subject(self.integration, "email", self.draft.email.address)


@attrs.frozen
class UpdateContact:
    """
    Set properties and the lifecycle stage of one contact by its CRM id; ordered per contact.

    Preferred over `UpsertContact` whenever the id is known: nothing is matched by search (which
    lags behind writes at HubSpot), so it can neither miss a new contact nor create one.
    """

    kind: ClassVar[str] = "update_contact"
    integration: ClassVar[str] = "crm"
    redeliverable: ClassVar[bool] = True  # a write by id: the same update twice changes nothing

    contact_id: str = attrs.field(validator=v.text(max_length=64))
    properties: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=v.frozen_mapping,
        validator=v.str_mapping(max_items=100, max_key=100, max_value=65536),
        repr=False,
    )
    lifecycle_stage: LifecycleStage | None = attrs.field(
        default=None, validator=v.optional_of_type(LifecycleStage)
    )
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )

    def __attrs_post_init__(self) -> None:
        if not self.properties and self.lifecycle_stage is None:
            raise InvalidValue("properties", "give properties or a lifecycle stage to update")

    @property
    def ordering_key(self) -> str:
        """Keyed by the CRM contact id."""
        return subject(self.integration, "contact", self.contact_id)


@attrs.frozen
class CreateDeal:
    """Open a deal for a contact; ordered per contact."""

    kind: ClassVar[str] = "create_deal"
    integration: ClassVar[str] = "crm"
    redeliverable: ClassVar[bool] = False  # each call opens a new deal

    draft: DealDraft = attrs.field(validator=v.of_type(DealDraft))
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )

    @property
    def ordering_key(self) -> str:
        """Keyed by the CRM contact id."""
        return subject(self.integration, "contact", self.draft.contact_id)


@attrs.frozen
class MoveDeal:
    """Move a deal to a stage; ordered per deal, so stage changes land in the order made."""

    kind: ClassVar[str] = "move_deal"
    integration: ClassVar[str] = "crm"
    redeliverable: ClassVar[bool] = True  # moving to the same stage twice changes nothing

    deal_id: str = attrs.field(validator=v.text(max_length=64))
    stage: DealStage = attrs.field(validator=v.of_type(DealStage))
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )

    @property
    def ordering_key(self) -> str:
        """Keyed by the deal id."""
        return subject(self.integration, "deal", self.deal_id)


@attrs.frozen
class AddNote:
    """Add a note to a contact's timeline; ordered per contact."""

    kind: ClassVar[str] = "add_note"
    integration: ClassVar[str] = "crm"
    redeliverable: ClassVar[bool] = False  # each call adds a note

    contact_id: str = attrs.field(validator=v.text(max_length=64))
    body: str = attrs.field(validator=v.text(max_length=65536), repr=False)
    idempotency_key: IdempotencyKey = attrs.field(
        factory=IdempotencyKey.new, validator=v.of_type(IdempotencyKey)
    )

    @property
    def ordering_key(self) -> str:
        """Keyed by the CRM contact id."""
        return subject(self.integration, "contact", self.contact_id)


@attrs.frozen
class CreatePaymentIntent(KeyFromRequest):
    """Create a payment intent; its key is the request's, reused on every attempt."""

    kind: ClassVar[str] = "create_payment_intent"
    integration: ClassVar[str] = "payments"
    redeliverable: ClassVar[bool] = True  # idempotent by key at the vendor

    request: PaymentRequest = attrs.field(validator=v.of_type(PaymentRequest))

    @property
    def ordering_key(self) -> str:
        """Keyed by the patient reference."""
        return subject(self.integration, "patient", self.request.patient_ref)


@attrs.frozen
class CreateCheckoutLink(KeyFromRequest):
    """Create a hosted payment page; its key is the request's."""

    kind: ClassVar[str] = "create_checkout_link"
    integration: ClassVar[str] = "payments"
    redeliverable: ClassVar[bool] = True

    request: CheckoutRequest = attrs.field(validator=v.of_type(CheckoutRequest))

    @property
    def ordering_key(self) -> str:
        """Keyed by the patient reference."""
        return subject(self.integration, "patient", self.request.patient_ref)


@attrs.frozen
class IssueRefund(KeyFromRequest):
    """Refund a payment; its key is the request's, so money moves at most once."""

    kind: ClassVar[str] = "issue_refund"
    integration: ClassVar[str] = "payments"
    redeliverable: ClassVar[bool] = True

    request: RefundRequest = attrs.field(validator=v.of_type(RefundRequest))

    @property
    def ordering_key(self) -> str:
        """Keyed by the payment intent refunded."""
        return subject(self.integration, "intent", self.request.payment_intent_id)


@attrs.frozen
class StartCall(KeyFromWrapped[CallRequest]):
    """Have the voice agent call a patient; ordered per number, one key on every attempt."""

    kind: ClassVar[str] = "start_call"
    integration: ClassVar[str] = "voice"
    # Vapi takes no idempotency key, but the voice adapter writes ours into the call's metadata
    # and, before ringing, returns the call that key already started (looking back 24 h), so a
    # resend after an unknown outcome rings the patient once. The outbox sends one command per
    # number at a time, so the check and the create never race with themselves.
    redeliverable: ClassVar[bool] = True

    request: CallRequest = attrs.field(validator=v.of_type(CallRequest))
    idempotency_key: IdempotencyKey = attrs.field(
        default=attrs.Factory(wrapped_key, takes_self=True), validator=v.of_type(IdempotencyKey)
    )

    @property
    def _wrapped(self) -> CallRequest:
        return self.request

    @property
    def ordering_key(self) -> str:
        """Keyed by the number called."""
        return subject(self.integration, "phone", self.request.to.e164)

    def keyed_request(self) -> CallRequest:
        """The request carrying the command's key."""
        return self._keyed()


@attrs.frozen
class SendEmail(KeyFromWrapped[EmailMessage]):
    """Send an email from a clinic's mailbox; ordered per first recipient."""

    kind: ClassVar[str] = "send_email"
    integration: ClassVar[str] = "email"
    # Graph's sendMail takes no key and returns no id: after an unknown outcome a resend could
    # deliver the email twice, so it is never redelivered (dead-lettered as "maybe sent").
    redeliverable: ClassVar[bool] = False

    message: EmailMessage = attrs.field(validator=v.of_type(EmailMessage))
    idempotency_key: IdempotencyKey = attrs.field(
        default=attrs.Factory(wrapped_key, takes_self=True), validator=v.of_type(IdempotencyKey)
    )

    @property
    def _wrapped(self) -> EmailMessage:
        return self.message

    @property
    def ordering_key(self) -> str:
        """Emails to one address go out in the order they were accepted."""
        return subject(self.integration, "email", self.message.to[0].address)

    def keyed_message(self) -> EmailMessage:
        """The message carrying the command's key."""
        return self._keyed()


Command = (
    SendMessage
    | SendEmail
    | UpsertContact
    | UpdateContact
    | CreateDeal
    | MoveDeal
    | AddNote
    | CreatePaymentIntent
    | CreateCheckoutLink
    | IssueRefund
    | StartCall
)
