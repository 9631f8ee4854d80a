"""Outbound voice calls placed by an AI voice agent, and what came of them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime

import attrs

from . import _validation as v
from .values import IdempotencyKey, PhoneNumber


__all__ = ["Call", "CallOutcome", "CallRequest", "CallStatus"]


def _to_phone(raw: PhoneNumber | str) -> PhoneNumber:
    return raw if isinstance(raw, PhoneNumber) else PhoneNumber.parse(raw, field="to")


class CallStatus(enum.Enum):
    """Vapi's call statuses."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    FORWARDING = "forwarding"
    ENDED = "ended"


@attrs.frozen
class CallRequest:
    """
    Ask the voice agent to call a patient.

    ``metadata`` is opaque data for the assistant (our references, never patient data); the
    optional ``idempotency_key`` lets the outbox recognise a call it already started.
    """

    to: PhoneNumber = attrs.field(converter=_to_phone)
    assistant_id: str = attrs.field(validator=v.text(max_length=100))
    metadata: Mapping[str, str] = attrs.field(
        factory=dict, converter=v.frozen_mapping, validator=v.str_mapping()
    )
    idempotency_key: IdempotencyKey | None = attrs.field(
        default=None, validator=v.optional_of_type(IdempotencyKey)
    )


@attrs.frozen
class Call:
    """A call as the voice platform tracks it."""

    id: str = attrs.field(validator=v.text(max_length=100))
    status: CallStatus = attrs.field(validator=v.of_type(CallStatus))
    to: PhoneNumber | None = None
    assistant_id: str | None = None
    ended_reason: str | None = None
    created_at: datetime | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, converter=v.frozen_mapping)


@attrs.frozen
class CallOutcome:
    """What a finished call produced. Summary and transcript are patient data: never logged."""

    call_id: str = attrs.field(validator=v.text(max_length=100))
    ended_reason: str | None = None
    duration_seconds: float | None = None
    summary: str | None = attrs.field(default=None, repr=False)
    transcript: str | None = attrs.field(default=None, repr=False)
    recording_url: str | None = attrs.field(default=None, repr=False)
