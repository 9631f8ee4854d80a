"""WhatsApp Cloud API notifications become message events (Meta and 360dialog alike)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.webhooks.parsers import payloads as p

from portico.adapters.whatsapp.parser import WhatsAppParser
from portico.domain.errors import MalformedWebhook
from portico.domain.events import MessageReceived, MessageStatusChanged, MessagingErrorReported
from portico.domain.messaging import DeliveryStatus
from portico.domain.values import PhoneNumber


def test_inbound_text_message() -> None:
    """A text message becomes MessageReceived keyed by its wamid, with the sender's number."""
    parsed = WhatsAppParser().parse(p.request(p.WHATSAPP_TEXT))
    (event,) = parsed.events
    assert isinstance(event, MessageReceived)
    assert event.event_id.startswith("wamid.")
    assert event.message.sender == PhoneNumber("+16505551234")
    assert event.message.text == "Does it come in another color?"
    assert event.message.sender_name == "Sheena Nelson"
    assert event.message.kind == "text"
    assert event.occurred_at == datetime.fromtimestamp(1749416383, tz=UTC)


def test_statuses_are_keyed_by_id_and_status() -> None:
    """Each status becomes MessageStatusChanged keyed '<wamid>:<status>', errors kept."""
    parsed = WhatsAppParser().parse(p.request(p.WHATSAPP_STATUSES))
    delivered, failed = parsed.events
    assert isinstance(delivered, MessageStatusChanged)
    assert isinstance(failed, MessageStatusChanged)
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.event_id == f"{delivered.message_id}:delivered"
    assert failed.status is DeliveryStatus.FAILED
    assert failed.error_code == "131047"


def test_360dialog_uses_the_same_shape_under_its_own_name() -> None:
    """The 360dialog parser reads Meta's shape and stamps its own provider."""
    parsed = WhatsAppParser(provider="360dialog").parse(p.request(p.WHATSAPP_TEXT))
    assert parsed.provider == "360dialog"
    assert parsed.events[0].provider == "360dialog"


def test_interactive_reply_text_is_the_title() -> None:
    """A button reply's title is the message text."""
    body = copy.deepcopy(p.WHATSAPP_TEXT)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message["type"] = "interactive"
    message["interactive"] = {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}}
    (event,) = WhatsAppParser().parse(p.request(body)).events
    assert isinstance(event, MessageReceived)
    assert (event.message.kind, event.message.text) == ("interactive", "Yes")


def test_other_fields_and_statuses_are_counted() -> None:
    """Template updates and unknown statuses are acknowledged in unknown_types."""
    body = copy.deepcopy(p.WHATSAPP_STATUSES)
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    body["entry"][0]["changes"].append({"field": "message_template_status_update", "value": {}})
    parsed = WhatsAppParser().parse(p.request(body))
    assert parsed.unknown_types == ("status:deleted", "message_template_status_update")
    assert len(parsed.events) == 1


def test_bad_sender_number_names_the_field() -> None:
    """A sender that is not a phone number is malformed, and the number is not echoed."""
    body = copy.deepcopy(p.WHATSAPP_TEXT)
    body["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "12"
    with pytest.raises(MalformedWebhook, match=r"messages\[0\]\.from") as caught:
        WhatsAppParser().parse(p.request(body))
    assert "12" not in caught.value.reason.split(":")[-1]


def test_missing_entry_is_malformed() -> None:
    """A body without entry[] is refused naming it."""
    with pytest.raises(MalformedWebhook, match=r"body\.entry: missing"):
        WhatsAppParser().parse(p.request({"object": "whatsapp_business_account"}))


RECORDED = Path(__file__).parent / "recorded" / "whatsapp"


@pytest.mark.parametrize(
    ("name", "sender", "text"),
    [
        ("messages_reference_text.json", "+16505551234", "Does it come in another color?"),
        ("dashboard_test_sample.json", "+16315551181", "this is a text message"),
    ],
)
def test_recorded_payloads_parse(name: str, sender: str, text: str) -> None:
    """Meta's reference example and its dashboard test sample are each one MessageReceived."""
    parsed = WhatsAppParser().parse(p.request((RECORDED / name).read_bytes()))
    (event,) = parsed.events
    assert isinstance(event, MessageReceived)
    assert event.message.sender == PhoneNumber(sender)
    assert event.message.text == text
    assert parsed.unknown_types == ()


def test_errors_outside_any_message_are_reported_not_dropped() -> None:
    """value.errors[] (no status, no message) becomes one MessagingErrorReported per error."""
    body = copy.deepcopy(p.WHATSAPP_TEXT)
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"], value["contacts"]
    value["errors"] = [
        {
            "code": 130429,
            "title": "Rate limit hit",
            "message": "Rate limit hit",
            "error_data": {"details": "Cloud API message throughput has been reached."},
            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
        },
        {"code": 131000, "title": "Something went wrong"},
    ]
    parsed = WhatsAppParser().parse(p.request(body))
    first, second = parsed.events
    assert isinstance(first, MessagingErrorReported)
    assert isinstance(second, MessagingErrorReported)
    assert (first.code, first.title) == ("130429", "Rate limit hit")
    assert first.details == "Cloud API message throughput has been reached."
    assert (second.code, second.title, second.details) == ("131000", "Something went wrong", None)
    assert first.event_id != second.event_id
    assert "throughput" not in repr(first)  # details stay out of reprs
