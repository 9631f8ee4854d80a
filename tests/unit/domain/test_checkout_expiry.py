"""A checkout request's expiry is fixed when it is made, and survives the outbox codec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from portico.domain.command_codec import decode_command, encode_command
from portico.domain.commands import CreateCheckoutLink
from portico.domain.errors import InvalidValue
from portico.domain.payments import CheckoutRequest
from portico.domain.values import IdempotencyKey, Money


FEE = Money.of("150.00", "EUR")
MADE = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _request(**kwargs: Any) -> CheckoutRequest:
    return CheckoutRequest(
        FEE, "Consultation", "P-1", "https://x.example/ok", None, IdempotencyKey("co-1"), **kwargs
    )


def test_expires_at_is_created_at_plus_the_window() -> None:
    """expires_at is created_at + expires_in_seconds, whatever the time it is read."""
    request = _request(expires_in_seconds=3600, created_at=MADE)
    assert request.expires_at == MADE + timedelta(hours=1)


def test_the_default_creation_time_is_now() -> None:
    """Without created_at, the request is stamped with the current UTC time once."""
    before = datetime.now(UTC)
    request = _request()
    after = datetime.now(UTC)
    assert before <= request.created_at <= after
    assert request.expires_at == request.created_at + timedelta(hours=24)


@pytest.mark.parametrize("bad", [datetime(2026, 3, 1, 9, 30), "2026-03-01T09:30:00Z"])
def test_created_at_must_be_an_aware_datetime(bad: object) -> None:
    """A naive or non-datetime created_at is refused naming the field."""
    with pytest.raises(InvalidValue, match="created_at"):
        _request(created_at=bad)


@pytest.mark.parametrize(
    "made", [MADE, MADE.astimezone(timezone(timedelta(hours=2)))], ids=["utc", "offset"]
)
def test_the_codec_keeps_the_expiry_exactly(made: datetime) -> None:
    """Encoding and decoding keeps created_at to the microsecond, so expires_at is unchanged."""
    command = CreateCheckoutLink(_request(expires_in_seconds=1800, created_at=made))
    decoded = decode_command(encode_command(command))
    assert decoded == command
    assert isinstance(decoded, CreateCheckoutLink)
    assert decoded.request.expires_at == command.request.expires_at


def test_a_row_without_created_at_still_decodes() -> None:
    """A command stored before created_at existed decodes, stamped at decode time."""
    stored = json.loads(encode_command(CreateCheckoutLink(_request(created_at=MADE))))
    del stored["request"]["created_at"]
    decoded = decode_command(json.dumps(stored))
    assert isinstance(decoded, CreateCheckoutLink)
    assert decoded.request.created_at > MADE


@pytest.mark.parametrize(
    ("value", "rule"),
    [("yesterday", "ISO 8601"), ("2026-03-01T09:30:00", "UTC offset"), (5, "must be a string")],
)
def test_a_bad_stored_created_at_names_the_field(value: object, rule: str) -> None:
    """A stored created_at that is not an aware ISO datetime is refused naming its path."""
    stored = json.loads(encode_command(CreateCheckoutLink(_request(created_at=MADE))))
    stored["request"]["created_at"] = value
    with pytest.raises(InvalidValue, match=rf"request\.created_at.*{rule}"):
        decode_command(json.dumps(stored))
