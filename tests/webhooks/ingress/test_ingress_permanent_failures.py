"""WebhookIngress: a handler that refuses an event for good is completed, counted and listed."""

from __future__ import annotations

import logging

import pytest

from portico.app.entrypoints.asgi import create_webhook_app
from portico.domain.errors import (
    AuthenticationFailed,
    InvalidRequest,
    InvalidValue,
    PermanentError,
    Unavailable,
)
from portico.domain.events import DomainEvent


PATIENT = "patient Jane Doe +15551234567 jane@example.org"


@pytest.mark.parametrize(
    "error",
    [
        InvalidValue("contact", f"needs a phone or an email ({PATIENT})"),
        InvalidRequest(PATIENT, integration="hubspot"),
        PermanentError(PATIENT, integration="crm"),
    ],
)
async def test_permanent_failure_is_200_failed_and_not_retried(
    make_ingress, deliver, paid_type, error
):
    """A PermanentError / InvalidValue completes the event: 200 failed, redelivery a duplicate."""
    ingress = make_ingress()
    calls: list[str] = []

    async def refuses(event: DomainEvent) -> None:
        calls.append(event.event_id)
        raise error

    ingress.on(paid_type, refuses)
    first = await ingress.handle("test", deliver("evt_1"))
    again = await ingress.handle("test", deliver("evt_1"))
    assert (first.status, first.body) == (200, {"received": True, "failed": True})
    assert again.body == {"received": True, "duplicate": True}
    assert calls == ["evt_1"]
    counters = ingress.counters("test")
    assert (counters.handler_rejected, counters.handler_failures, counters.processed) == (1, 0, 0)


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom"), Unavailable("down", integration="crm"), AuthenticationFailed("no")],
)
async def test_transient_failure_is_still_500_and_released(make_ingress, deliver, paid_type, error):
    """Other errors (and refused credentials, which an operator fixes) keep 500-and-retry."""
    ingress = make_ingress()
    calls: list[str] = []

    async def flaky(event: DomainEvent) -> None:
        calls.append(event.event_id)
        if len(calls) == 1:
            raise error

    ingress.on(paid_type, flaky)
    first = await ingress.handle("test", deliver("evt_1"))
    retry = await ingress.handle("test", deliver("evt_1"))
    assert (first.status, retry.status) == (500, 200)
    assert calls == ["evt_1", "evt_1"]
    assert ingress.counters("test").handler_rejected == 0
    assert len(ingress.recent_failures) == 0


async def test_permanent_failure_is_logged_at_error_without_patient_data(
    make_ingress, deliver, paid_type, caplog
):
    """The ERROR log names the event id, event type and error type, never the message."""
    ingress = make_ingress()

    async def refuses(_event: DomainEvent) -> None:
        raise InvalidValue("contact", PATIENT)

    ingress.on(paid_type, refuses)
    with caplog.at_level(logging.DEBUG, logger="portico.webhooks"):
        await ingress.handle("test", deliver("evt_42"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "evt_42" in message
    assert "Paid" in message
    assert "InvalidValue" in message
    assert "Jane" not in caplog.text
    assert "5551234567" not in caplog.text
    assert "jane@" not in caplog.text


async def test_recent_failures_are_bounded_and_newest_first(make_ingress, deliver, paid_type):
    """Only the last recent_failures_limit failures are kept, newest first, without messages."""
    ingress = make_ingress(recent_failures_limit=3)

    async def refuses(_event: DomainEvent) -> None:
        raise InvalidValue("contact", PATIENT)

    ingress.on(paid_type, refuses)
    for n in range(5):
        await ingress.handle("test", deliver(f"evt_{n}"))
    listed = ingress.recent_failures.snapshot()
    assert [f["event_id"] for f in listed] == ["evt_4", "evt_3", "evt_2"]
    assert listed[0]["provider"] == "test"
    assert listed[0]["event_type"] == "Paid"
    assert listed[0]["error"] == "InvalidValue"
    assert "refuses" in str(listed[0]["handler"])
    assert "Jane" not in str(listed)
    assert ingress.counters("test").handler_rejected == 5


async def test_healthz_webhooks_lists_recent_failures(make_ingress, deliver, paid_type):
    """GET /healthz/webhooks shows the recent permanent failures next to the counters."""
    ingress = make_ingress()

    async def refuses(_event: DomainEvent) -> None:
        raise InvalidValue("contact", PATIENT)

    ingress.on(paid_type, refuses)
    await ingress.handle("test", deliver("evt_9"))
    body = create_webhook_app(ingress).counters()
    assert body["providers"]["test"]["handler_rejected"] == 1  # type: ignore[index]
    failures = body["recent_failures"]
    assert isinstance(failures, list)
    assert [f["event_id"] for f in failures] == ["evt_9"]
    assert "Jane" not in str(body)
