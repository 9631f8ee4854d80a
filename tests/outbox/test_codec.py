"""The command codec: lossless round trips and clear errors on bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.command_codec import decode_command, encode_command, from_dict, to_dict
from portico.domain.commands import (
    CreateDeal,
    CreatePaymentIntent,
    MoveDeal,
    SendMessage,
    StartCall,
    UpdateContact,
    UpsertContact,
)
from portico.domain.crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from portico.domain.errors import InvalidValue
from portico.domain.messaging import TextMessage
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.domain.voice import CallRequest
from tests.outbox.strategies import commands


@given(commands)
def test_every_command_round_trips_through_json(command):
    """decode(encode(c)) == c, and the key, kind and ordering key survive."""
    back = decode_command(encode_command(command))
    assert back == command
    assert back.idempotency_key == command.idempotency_key
    assert back.ordering_key == command.ordering_key


@given(commands)
def test_encoding_is_canonical(command):
    """Equal commands encode to equal text (the outbox compares payloads on key reuse)."""
    assert encode_command(decode_command(encode_command(command))) == encode_command(command)


def _payment() -> CreatePaymentIntent:
    return CreatePaymentIntent(
        PaymentRequest(Money(15000, "RON"), "Consult", "pat-1", IdempotencyKey("k-1"))
    )


def test_payment_command_reuses_the_request_key():
    """A payment command's key is the request's, so every attempt sends the same key."""
    assert _payment().idempotency_key == IdempotencyKey("k-1")


def test_message_key_is_fixed_at_creation_and_passed_on():
    """A message command picks a key once and hands it to the adapter on every attempt."""
    command = SendMessage(TextMessage("+40712345678", "hello"))
    assert command.keyed_message().idempotency_key == command.idempotency_key
    assert decode_command(encode_command(command)).idempotency_key == command.idempotency_key


def test_wrapped_request_key_must_match():
    """A command whose key differs from its request's key is refused, naming the field."""
    call = CallRequest("+40712345678", "asst", idempotency_key=IdempotencyKey("a"))
    with pytest.raises(InvalidValue) as info:
        StartCall(call, IdempotencyKey("b"))
    assert info.value.field == "idempotency_key"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("kind"), "kind"),
        (lambda d: d.update(kind="launch_rocket"), "kind"),
        (lambda d: d.update(v=99), "v"),
        (lambda d: d["request"].pop("patient_ref"), "request.patient_ref"),
        (lambda d: d["request"]["amount"].update(currency="XXX"), "request.amount.currency"),
        (lambda d: d["request"]["amount"].update(amount_minor="12"), "request.amount.amount_minor"),
        (lambda d: d["request"]["amount"].update(amount_minor=True), "request.amount.amount_minor"),
        (lambda d: d["request"].update(metadata={"a": 1}), "request.metadata"),
        (lambda d: d.update(key="with space"), "key"),
        (lambda d: d.update(request=[]), "request"),
    ],
)
def test_bad_payload_names_the_field(mutate, field):
    """Every malformed payload raises InvalidValue naming the dotted field, never KeyError."""
    data = to_dict(_payment())
    mutate(data)
    with pytest.raises(InvalidValue) as info:
        from_dict(data)
    assert info.value.field == field


def test_bad_phone_error_names_the_path_and_hides_the_number():
    """A bad phone in a stored message names message.to and does not echo the digits."""
    data = to_dict(SendMessage(TextMessage("+40712345678", "hi")))
    data["message"]["to"] = "0712-bad"
    with pytest.raises(InvalidValue) as info:
        from_dict(data)
    assert info.value.field == "message.to"
    assert "0712" not in str(info.value)


@pytest.mark.parametrize("text", ["", "not json", "[]", "null", json.dumps({"v": 1})])
def test_garbage_text_is_refused_cleanly(text):
    """Garbage is refused with InvalidValue, not a JSON or key error."""
    with pytest.raises(InvalidValue):
        decode_command(text)


@given(
    st.sampled_from(["101", "51000000001"]),
    st.dictionaries(st.sampled_from(["portico_open_deal_id", "clinic"]), st.text(max_size=20)),
    st.none() | st.sampled_from(list(LifecycleStage)),
)
def test_update_contact_round_trips(contact_id, properties, stage):
    """An UpdateContact (write by id) survives the outbox unchanged, ordered per contact."""
    if not properties and stage is None:
        return  # refused at creation, see the test below
    command = UpdateContact(contact_id, properties, stage, IdempotencyKey("open-deal-1"))
    back = decode_command(encode_command(command))
    assert back == command
    assert back.redeliverable
    assert back.ordering_key == UpdateContact(contact_id, {"a": "b"}).ordering_key


def test_empty_update_contact_is_refused():
    """An update that sets nothing is refused, naming the field."""
    with pytest.raises(InvalidValue) as info:
        UpdateContact("101")
    assert info.value.field == "properties"


@pytest.mark.parametrize("flag", [True, False])
def test_upsert_contact_keeps_its_redeliverable_flag(flag):
    """The CRM's answer, fixed when the command was made, is what the relay reads back."""
    command = UpsertContact(ContactDraft(phone="+40712345678"), redeliverable=flag)
    back = decode_command(encode_command(command))
    assert back.redeliverable is flag
    assert back == command


def test_upsert_contact_defaults_to_redeliverable_only_with_an_email():
    """Without the CRM's answer, only an email-matched draft (unique at every CRM) is resent."""
    assert not UpsertContact(ContactDraft(phone="+40712345678")).redeliverable
    assert UpsertContact(ContactDraft(email="ana@example.com")).redeliverable
    stored = to_dict(UpsertContact(ContactDraft(phone="+40712345678"), redeliverable=True))
    del stored["redeliverable"]  # a row written before the flag existed
    assert not from_dict(stored).redeliverable


def test_upsert_contact_flag_must_be_a_bool():
    """A stored flag of the wrong type names the field instead of crashing."""
    stored = to_dict(UpsertContact(ContactDraft(phone="+40712345678")))
    stored["redeliverable"] = "yes"
    with pytest.raises(InvalidValue) as info:
        from_dict(stored)
    assert info.value.field == "redeliverable"


@pytest.mark.parametrize(
    ("command", "field", "legacy", "stage"),
    [
        (MoveDeal("9001", DealStage.WON), "stage", "closedwon", DealStage.WON),
        (MoveDeal("9001", DealStage.LOST), "stage", "closedlost", DealStage.LOST),
        (
            UpdateContact("101", lifecycle_stage=LifecycleStage.CUSTOMER),
            "lifecycle_stage",
            "customer",
            LifecycleStage.CUSTOMER,
        ),
        (
            UpdateContact("101", lifecycle_stage=LifecycleStage.MARKETING_QUALIFIED),
            "lifecycle_stage",
            "marketingqualifiedlead",
            LifecycleStage.MARKETING_QUALIFIED,
        ),
    ],
)
def test_rows_stored_with_hubspots_stage_values_still_decode(command, field, legacy, stage):
    """Rows written before the domain named its stages held HubSpot's defaults: same stages."""
    stored = to_dict(command)
    assert stored[field] == stage.value  # what is written now: the domain's name
    stored[field] = legacy
    assert getattr(from_dict(stored), field) is stage


def test_a_stored_stage_no_one_can_map_is_refused_naming_the_field():
    """A portal-specific stage id in an old row is refused, never guessed (it would move a deal)."""
    stored = to_dict(MoveDeal("9001", DealStage.WON))
    stored["stage"] = "contractsent"
    with pytest.raises(InvalidValue) as info:
        from_dict(stored)
    assert (info.value.field, "contractsent" in str(info.value)) == ("stage", False)


def test_deal_drafts_store_the_domains_stage():
    """A CreateDeal row holds the domain's stage name, not a CRM's id."""
    stored = to_dict(CreateDeal(DealDraft("101", "Consultation", DealStage.OPEN)))
    assert stored["draft"]["stage"] == "open"
    stored["draft"]["stage"] = "appointmentscheduled"
    decoded = from_dict(stored)
    assert isinstance(decoded, CreateDeal)
    assert decoded.draft.stage is DealStage.OPEN
