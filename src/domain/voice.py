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
    """
    Vapi's call statuses (``Call.status`` in VapiAI/docs ``fern/apis/api/openapi.json``).

    ``NOT_FOUND`` (Vapi no longer finds the call) and ``DELETION_FAILED`` (deleting the call's
    data failed) are final like ``ENDED``: nothing is live any more, there is nothing to hang
    up, and the status never moves on. `finished` says so for all three.
    """

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    FORWARDING = "forwarding"
    ENDED = "ended"
    NOT_FOUND = "not-found"
    DELETION_FAILED = "deletion-failed"

    @property
    def finished(self) -> bool:
        """Whether the call is over: ended, lost by Vapi, or ended with its deletion failed."""
        return self in _FINISHED


_FINISHED = frozenset({CallStatus.ENDED, CallStatus.NOT_FOUND, CallStatus.DELETION_FAILED})


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
