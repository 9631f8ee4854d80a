"""Vapi server messages become call events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.webhooks.parsers import payloads as p

from portico.adapters.vapi.parser import VapiParser
from portico.domain.errors import MalformedWebhook
from portico.domain.events import CallEnded, CallStatusChanged
from portico.domain.voice import CallStatus


CALL = "0f5a5a0c-7f2d-4b1e-9c3a-2e7d1c0a9b11"


def test_status_update() -> None:
    """status-update becomes CallStatusChanged keyed '<call>:status-update:<status>'."""
    (event,) = VapiParser().parse(p.request(p.VAPI_STATUS)).events
    assert isinstance(event, CallStatusChanged)
    assert event.event_id == f"{CALL}:status-update:ended"
    assert event.status is CallStatus.ENDED
    assert event.ended_reason == "customer-ended-call"
    assert event.occurred_at == datetime.fromtimestamp(1723595486, tz=UTC)


def test_end_of_call_report() -> None:
    """end-of-call-report becomes CallEnded with summary, transcript, recording and duration."""
    (event,) = VapiParser().parse(p.request(p.VAPI_REPORT)).events
    assert isinstance(event, CallEnded)
    assert event.event_id == f"{CALL}:end-of-call-report"
    outcome = event.outcome
    assert outcome.call_id == CALL
    assert outcome.summary == "The patient confirmed the Friday appointment."
    assert outcome.transcript is not None
    assert outcome.transcript.startswith("AI: Hello")
    assert outcome.recording_url == "https://storage.vapi.ai/0f5a5a0c-mono.wav"
    assert outcome.duration_seconds == pytest.approx(86.5)
    assert "Friday" not in repr(event)


def test_legacy_report_fields_and_iso_timestamp() -> None:
    """Older reports with top-level summary/transcript and an ISO timestamp are read."""
    report = {
        "message": {
            "type": "end-of-call-report",
            "timestamp": "2024-08-14T00:31:30Z",
            "call": {"id": CALL},
            "summary": "s",
            "transcript": "t",
            "recordingUrl": "https://r",
            "durationSeconds": 12,
        }
    }
    (event,) = VapiParser().parse(p.request(report)).events
    assert isinstance(event, CallEnded)
    assert (event.outcome.summary, event.outcome.transcript) == ("s", "t")
    assert event.outcome.duration_seconds == 12
    assert event.occurred_at == datetime(2024, 8, 14, 0, 31, 30, tzinfo=UTC)


def test_other_message_types_are_counted() -> None:
    """tool-calls and friends are acknowledged in unknown_types."""
    parsed = VapiParser().parse(
        p.request({"message": {"type": "tool-calls", "call": {"id": CALL}}})
    )
    assert parsed.unknown_types == ("tool-calls",)


def test_missing_call_id_is_malformed() -> None:
    """A status update without call.id is refused naming the path."""
    body = copy.deepcopy(p.VAPI_STATUS)
    del body["message"]["call"]["id"]
    with pytest.raises(MalformedWebhook, match=r"body\.message\.call\.id: missing"):
        VapiParser().parse(p.request(body))


RECORDED = Path(__file__).parent / "recorded" / "vapi"


def test_a_status_update_without_a_call_is_counted_not_refused() -> None:
    """The docs' status-update without message.call is valid Vapi: counted, never a 400."""
    body = (RECORDED / "status_update_events_docs.json").read_bytes()
    parsed = VapiParser().parse(p.request(body))
    assert parsed.events == ()
    assert parsed.unknown_types == ("status-update:without-call",)


def test_the_end_of_call_report_falls_back_to_the_calls_ended_reason() -> None:
    """The docs' queue example carries endedReason only on message.call: it is used."""
    body = (RECORDED / "end_of_call_report_queue_docs.json").read_bytes()
    (event,) = VapiParser().parse(p.request(body)).events
    assert isinstance(event, CallEnded)
    assert event.outcome.call_id == "73a6da0f-c455-4bb6-bf4a-5f0634871430"
    assert event.outcome.ended_reason == "assistant-ended-call"


@pytest.mark.parametrize("status", ["not-found", "deletion-failed"])
def test_vapis_final_statuses_parse(status: str) -> None:
    """not-found and deletion-failed (Call.status in Vapi's openapi.json) are final statuses."""
    message = {"message": {"type": "status-update", "status": status, "call": {"id": CALL}}}
    (event,) = VapiParser().parse(p.request(message)).events
    assert isinstance(event, CallStatusChanged)
    assert event.status is CallStatus(status)
    assert event.status.finished
