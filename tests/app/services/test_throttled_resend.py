"""
Issue 12, Twilio: 14107 arrives through the status callback, not as a REST error.

More than 30 replies between two numbers, each within 30 s of the last, are accepted by Twilio and
then set ``failed`` with 14107 for 30 s (https://www.twilio.com/docs/api/errors/14107). The
simulator plays that; the parser turns the callback into a throttled failure (``retry_after``);
the remembered template goes through the outbox once, not before the throttle has passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest
from tests.app.services.conftest import Ticker
from tests.simulators.twilio import LOOP_LIMIT, TwilioSimulator

from portico.adapters.fakes import FakeMessaging
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.twilio import TwilioMessaging
from portico.adapters.twilio.parser import TwilioParser
from portico.adapters.whatsapp.status_log import MemoryDeliveryStatusStore
from portico.app.services._outreach import remember_fallback
from portico.app.services.message_failures import MessageFailures
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.domain.events import MessageStatusChanged
from portico.domain.messaging import DeliveryStatus, MessageReceipt, TemplateMessage, TextMessage
from portico.domain.values import PhoneNumber
from portico.domain.webhooks import WebhookRequest


PATIENT = PhoneNumber("+40712345678")


class SimClock:
    """Seconds for the simulator's loop windows, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="sim_clock")
def _sim_clock() -> SimClock:
    return SimClock()


@pytest.fixture(name="twilio")
async def _twilio(sim_clock: SimClock) -> AsyncIterator[tuple[TwilioSimulator, TwilioMessaging]]:
    sim = TwilioSimulator(clock=sim_clock)
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://api.twilio.com", transport=transport) as http:
        yield (
            sim,
            TwilioMessaging(
                http=http,
                account_sid=sim.account_sid,
                auth_token=sim.auth_token,
                sender=PhoneNumber("+15017122661"),
                status_callback="https://hooks.example.org/webhooks/twilio",
            ),
        )


def _callback(sim: TwilioSimulator, sid: str) -> MessageStatusChanged:
    body = urlencode(sim.status_callback_form(sid)).encode()
    request = WebhookRequest(
        "POST",
        "https://hooks.example.org/webhooks/twilio",
        {"content-type": "application/x-www-form-urlencoded"},
        body,
    )
    (event,) = TwilioParser().parse(request).events
    assert isinstance(event, MessageStatusChanged)
    return event


async def test_a_loop_is_accepted_then_failed_with_14107_and_parsed_as_throttled(
    twilio: tuple[TwilioSimulator, TwilioMessaging], sim_clock: SimClock
) -> None:
    """The REST API accepts every send; the 31st fails by callback, with retry_after 30 s."""
    sim, adapter = twilio
    receipts = []
    for n in range(LOOP_LIMIT + 2):
        receipts.append(await adapter.send(TextMessage(PATIENT, f"reply {n}")))
        sim_clock.now += 0.5
    assert all(r.status is DeliveryStatus.QUEUED for r in receipts)  # no synchronous error
    ok, throttled = (
        _callback(sim, receipts[LOOP_LIMIT - 1].message_id),
        _callback(sim, receipts[LOOP_LIMIT].message_id),
    )
    assert (ok.status, ok.retry_after) == (DeliveryStatus.QUEUED, None)
    assert (throttled.status, throttled.error_code) == (DeliveryStatus.FAILED, "14107")
    assert throttled.retry_after == 30.0
    assert throttled.error_title == "SMS send rate limit exceeded"
    assert (
        await adapter.get_status(receipts[LOOP_LIMIT].message_id)
    ).status is DeliveryStatus.FAILED

    sim_clock.now += 31.0  # the 30 s of failing have passed, and the loop has gone quiet
    after = await adapter.send(TextMessage(PATIENT, "later"))
    assert _callback(sim, after.message_id).retry_after is None


async def test_other_failures_carry_no_retry_after(
    twilio: tuple[TwilioSimulator, TwilioMessaging],
) -> None:
    """An undelivered message (30003) is a failure, not a throttle: nothing to send later."""
    sim, adapter = twilio
    receipt = await adapter.send(TextMessage(PATIENT, "hello"))
    sim.advance(receipt.message_id, "undelivered")
    event = _callback(sim, receipt.message_id)
    assert (event.status, event.error_code, event.retry_after) == (
        DeliveryStatus.FAILED,
        "30003",
        None,
    )


async def test_a_throttled_text_is_sent_again_once_after_the_throttle(
    wa: FakeMessaging,
    dispatch: OutboxDispatch,
    outbox: SqliteOutbox,
    relay: OutboxRelay,
    ticker: Ticker,
) -> None:
    """The remembered template is queued due in 30 s (redelivery adds nothing) and sent once."""
    store = MemoryDeliveryStatusStore()
    sid = "SM" + "a" * 32
    template = TemplateMessage(PATIENT, "appointment_reminder", "en", ("10:00",))
    receipt = MessageReceipt(message_id=sid, provider="twilio", status=DeliveryStatus.QUEUED)
    assert await remember_fallback(store, receipt, template)
    failed = MessageStatusChanged(
        event_id=f"{sid}:failed",
        provider="twilio",
        occurred_at=ticker.now(),
        message_id=sid,
        status=DeliveryStatus.FAILED,
        error_code="14107",
        retry_after=30.0,
    )
    failures = MessageFailures(dispatch, store)
    first = await failures.fall_back(failed)
    again = await failures.fall_back(failed)  # the callback redelivered
    assert first is not None
    assert again is not None
    assert first.entry_id == again.entry_id
    await relay.run_once()
    assert wa.sent_to(PATIENT) == []  # still throttled: not due yet
    await ticker.sleep(31.0)
    await relay.run(until_idle=True)
    (sent,) = wa.sent_to(PATIENT)
    assert isinstance(sent, TemplateMessage)
    assert (sent.template, sent.parameters) == (template.template, template.parameters)
