"""The domain entities: their validators name the field, their reprs carry no patient data."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import emails, phone_numbers

from portico.domain.crm import Contact, ContactDraft, DealDraft, DealStage, Note
from portico.domain.errors import InvalidValue
from portico.domain.events import MessageReceived
from portico.domain.messaging import DeliveryStatus, InboundMessage, TemplateMessage, TextMessage
from portico.domain.payments import CheckoutRequest, PaymentRequest
from portico.domain.values import Email, IdempotencyKey, Money, PhoneNumber
from portico.domain.voice import CallOutcome, CallRequest


NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FEE = Money.of("150.00", "RON")


@given(phone_numbers, emails, st.text(min_size=3, max_size=30).filter(str.strip))
def test_contact_reprs_show_no_patient_data(phone: PhoneNumber, email: Email, name: str) -> None:
    """Drafts and contacts mask phone and email and hide names and properties."""
    draft = ContactDraft(
        phone=phone, email=email, first_name=name, last_name=name, properties={"note": name}
    )
    contact = Contact("1", phone, email, name, name, properties={"note": name})
    for shown in (repr(draft), repr(contact)):
        assert phone.e164 not in shown
        assert email.address not in shown
        assert f"'{name}'" not in shown


def test_a_contact_draft_needs_a_phone_or_an_email() -> None:
    """A draft with neither identity is refused, naming the phone field."""
    with pytest.raises(InvalidValue, match="phone: a contact needs a phone or an email"):
        ContactDraft(first_name="Ana")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "+40712345678", "first_name": "x" * 101}, "first_name"),
        ({"phone": "+40712345678", "first_name": "  "}, "first_name"),
        ({"phone": "+40712345678", "properties": {"": "x"}}, "properties"),
        ({"phone": "+40712345678", "properties": {"a": 1}}, "properties"),
        ({"phone": "+40712345678", "properties": "a=1"}, "properties"),
        ({"phone": "+40712345678", "lifecycle_stage": "lead"}, "lifecycle_stage"),
    ],
)
def test_contact_draft_validators_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Each bad field of a draft is refused under its own name."""
    with pytest.raises(InvalidValue) as err:
        ContactDraft(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_frozen_properties_cannot_be_changed_from_outside() -> None:
    """A draft copies its properties into a read-only mapping."""
    source = {"city": "Cluj"}
    draft = ContactDraft(phone="+40712345678", properties=source)
    source["city"] = "Iasi"
    assert draft.properties["city"] == "Cluj"
    with pytest.raises(TypeError):
        draft.properties["city"] = "Iasi"  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contact_id": "", "name": "n", "stage": DealStage.OPEN}, "contact_id"),
        ({"contact_id": "1", "name": "", "stage": DealStage.OPEN}, "name"),
        ({"contact_id": "1", "name": "n", "stage": "open"}, "stage"),
        ({"contact_id": "1", "name": "n", "stage": DealStage.OPEN, "amount": 150}, "amount"),
    ],
)
def test_deal_draft_validators_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Each bad field of a deal draft is refused under its own name."""
    with pytest.raises(InvalidValue) as err:
        DealDraft(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_message_reprs_hide_bodies_and_mask_numbers() -> None:
    """Outbound and inbound messages never show the body, the parameters or the number."""
    text = TextMessage("+40712345678", "my private symptoms")
    template = TemplateMessage("+40712345678", "payment_link", parameters=("Ana Popescu",))
    inbound = InboundMessage(
        "wamid.1", PhoneNumber("+40712345678"), NOW, "whatsapp", "my symptoms", "text", "Ana"
    )
    event = MessageReceived(event_id="e", provider="whatsapp", occurred_at=NOW, message=inbound)
    for shown in map(repr, (text, template, inbound, event)):
        assert "712345678" not in shown
        assert "symptoms" not in shown
        assert "Ana" not in shown


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TextMessage("+40712345678", ""), "body"),
        (lambda: TextMessage("+40712345678", "x" * 4097), "body"),
        (lambda: TextMessage("0712", "hi"), "to"),
        (lambda: TemplateMessage("+40712345678", "t", parameters="abc"), "parameters"),
        (lambda: TemplateMessage("+40712345678", "t", parameters=[1]), "parameters"),
        (lambda: TemplateMessage("+40712345678", "t", language="english please"), "language"),
        (lambda: TextMessage("+40712345678", "hi", idempotency_key="k"), "idempotency_key"),  # type: ignore[arg-type]
    ],
)
def test_message_validators_name_the_field(build: object, field: str) -> None:
    """Bad message fields are refused under their own names."""
    with pytest.raises(InvalidValue) as err:
        build()  # type: ignore[operator]
    assert err.value.field == field


def test_delivery_statuses_rank_forward_with_failed_final() -> None:
    """QUEUED < SENT < DELIVERED < READ < FAILED, and READ and FAILED are final."""
    order = [DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    order += [DeliveryStatus.READ, DeliveryStatus.FAILED]
    assert [s.rank for s in order] == sorted(s.rank for s in order)
    assert {s for s in DeliveryStatus if s.is_final()} == {
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
    }


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: PaymentRequest(Money(0, "EUR"), "d", "P", IdempotencyKey.new()), "amount"),
        (lambda: PaymentRequest(150, "d", "P", IdempotencyKey.new()), "amount"),  # type: ignore[arg-type]
        (lambda: PaymentRequest(FEE, "", "P", IdempotencyKey.new()), "description"),
        (lambda: PaymentRequest(FEE, "d", "P", "key"), "idempotency_key"),  # type: ignore[arg-type]
        (
            lambda: PaymentRequest(
                FEE, "d", "P", IdempotencyKey.new(), {f"k{i}": "v" for i in range(51)}
            ),
            "metadata",
        ),
        (
            lambda: CheckoutRequest(FEE, "d", "P", "https://x.example", expires_in_seconds=60),
            "expires_in_seconds",
        ),
        (
            lambda: CheckoutRequest(FEE, "d", "P", "https://x.example", expires_in_seconds=True),
            "expires_in_seconds",
        ),
        (lambda: CallRequest("+40712345678", ""), "assistant_id"),
        (lambda: CallRequest("+40712345678", "a", metadata={"k": 1}), "metadata"),  # type: ignore[dict-item]
    ],
)
def test_payment_and_call_validators_name_the_field(build: object, field: str) -> None:
    """Bad payment, checkout and call fields are refused under their own names."""
    with pytest.raises(InvalidValue) as err:
        build()  # type: ignore[operator]
    assert err.value.field == field


def test_call_outcomes_and_notes_hide_what_was_said() -> None:
    """Summaries, transcripts, recordings and note bodies never appear in reprs."""
    outcome = CallOutcome("c1", "customer-ended-call", 42.0, "summary!", "transcript!", "https://r")
    note = Note("n1", "1", "private note!", NOW)
    assert "!" not in repr(outcome) + repr(note)
    assert "https://r" not in repr(outcome)


def test_entities_are_frozen() -> None:
    """Entities cannot be mutated after construction."""
    draft = ContactDraft(phone="+40712345678")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        draft.first_name = "Ana"  # type: ignore[misc]


def test_a_deal_stage_is_read_from_its_domain_name_only() -> None:
    """Configuration spells stages by the domain's names; a CRM's own id is refused by name."""
    assert DealStage.of(" Won ") is DealStage.WON
    assert DealStage.of(DealStage.LOST) is DealStage.LOST
    with pytest.raises(InvalidValue) as err:
        DealStage.of("closedwon", field="crm.won_stage")
    assert (err.value.field, "closedwon" in str(err.value)) == ("crm.won_stage", False)
