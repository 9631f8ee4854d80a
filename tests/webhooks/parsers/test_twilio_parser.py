"""Twilio form callbacks become status changes and inbound messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.webhooks.parsers import payloads as p

from portico.adapters.fakes import FakeClock
from portico.adapters.twilio.parser import TwilioParser
from portico.adapters.twilio.statuses import MESSAGE_STATUSES
from portico.domain.errors import MalformedWebhook
from portico.domain.events import MessageReceived, MessageStatusChanged
from portico.domain.messaging import DeliveryStatus
from portico.domain.values import PhoneNumber


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _parser() -> TwilioParser:
    return TwilioParser(clock=FakeClock(NOW))


def test_status_callback() -> None:
    """MessageStatus and ErrorCode become MessageStatusChanged keyed '<sid>:<status>'."""
    (event,) = _parser().parse(p.request(p.TWILIO_STATUS, form=True)).events
    assert isinstance(event, MessageStatusChanged)
    assert event.event_id == "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:undelivered"
    assert event.status is DeliveryStatus.FAILED
    assert event.error_code == "30003"
    assert event.occurred_at == NOW


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("queued", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
    ],
)
def test_status_mapping(raw: str, status: DeliveryStatus) -> None:
    """Each Twilio status maps onto our delivery status."""
    form = {**p.TWILIO_STATUS, "MessageStatus": raw}
    form.pop("ErrorCode")
    (event,) = _parser().parse(p.request(form, form=True)).events
    assert isinstance(event, MessageStatusChanged)
    assert event.status is status
    assert event.error_code is None


def test_inbound_sms() -> None:
    """An incoming SMS becomes MessageReceived with sender and body."""
    (event,) = _parser().parse(p.request(p.TWILIO_INBOUND, form=True)).events
    assert isinstance(event, MessageReceived)
    assert event.event_id == "SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d:received"
    assert event.message.sender == PhoneNumber("+14155552671")
    assert event.message.text == "Can I move my appointment to Friday?"


def test_inbound_whatsapp_through_twilio() -> None:
    """A 'whatsapp:+...' sender is read as the phone number."""
    form = {**p.TWILIO_INBOUND, "From": "whatsapp:+14155552671", "ProfileName": "Ana"}
    (event,) = _parser().parse(p.request(form, form=True)).events
    assert isinstance(event, MessageReceived)
    assert event.message.sender == PhoneNumber("+14155552671")
    assert event.message.sender_name == "Ana"


def test_unknown_status_is_counted() -> None:
    """A status we do not map is acknowledged as unknown."""
    form = {**p.TWILIO_STATUS, "MessageStatus": "teleported"}
    parsed = _parser().parse(p.request(form, form=True))
    assert parsed.unknown_types == ("status:teleported",)


@pytest.mark.parametrize(("raw", "expected"), sorted(MESSAGE_STATUSES.items()))
def test_callback_statuses_follow_the_shared_twilio_table(
    raw: str, expected: DeliveryStatus
) -> None:
    """Every outbound Twilio status maps as the REST adapter maps it (one shared table)."""
    form = {**p.TWILIO_STATUS, "MessageStatus": raw}
    (event,) = _parser().parse(p.request(form, form=True)).events
    assert isinstance(event, MessageStatusChanged)
    assert event.status is expected


def test_missing_sid_is_malformed() -> None:
    """A callback without MessageSid is refused naming the field."""
    with pytest.raises(MalformedWebhook, match=r"form\.MessageSid: missing"):
        _parser().parse(p.request({"MessageStatus": "sent"}, form=True))


def test_non_utf8_form_is_malformed() -> None:
    """Percent-encoded bytes that are not UTF-8 are refused."""
    with pytest.raises(MalformedWebhook, match="not UTF-8"):
        _parser().parse(p.request(b"MessageSid=SM1&Body=%ff%fe"))
