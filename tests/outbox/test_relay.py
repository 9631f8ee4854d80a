"""The relay's verdicts: deliver, retry with backoff, pause on an open breaker, dead-letter."""

from __future__ import annotations

import sqlite3
from typing import Unpack

import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.domain.commands import AddNote, CreatePaymentIntent, SendMessage, UpsertContact
from portico.domain.crm import ContactDraft
from portico.domain.errors import CircuitOpenError, OutcomeUnknown, RateLimited, Unavailable
from portico.domain.messaging import TemplateMessage, TextMessage
from portico.domain.outbox import EntryState
from portico.domain.payments import (
    CheckoutLink,
    CheckoutRequest,
    PaymentIntent,
    PaymentRequest,
    Refund,
    RefundRequest,
)
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts
from portico.ports.payments import PaymentPort


@pytest.fixture
async def box(tmp_path, clock):
    """A SQLite outbox on the test clock."""
    outbox = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    yield outbox
    await outbox.close()


def _mid(low, high):
    return (low + high) / 2


def relay(box, clock, **ports: Unpack[CommandPorts]):
    return OutboxRelay(
        box,
        CommandPorts(**ports),
        RelaySettings(base_delay=1, max_attempts=4),
        clock=clock,
        uniform=_mid,
    )


def template(to="+40712345678", name="reminder"):
    return SendMessage(TemplateMessage(to, name))


async def test_delivers_through_the_port_and_marks_delivered(box, clock):
    """A pending message is sent once and marked delivered."""
    fake = FakeMessaging()
    entry_id = await box.enqueue(template())
    r = relay(box, clock, messaging=fake)
    await r.run(until_idle=True)
    assert len(fake.faults.calls_to("send")) == 1
    assert (await box.get(entry_id)).state is EntryState.DELIVERED
    assert r.stats.delivered == 1


async def test_permanent_error_becomes_a_dead_letter_with_the_vendor_error(box, clock):
    """A text outside WhatsApp's window is parked with Meta's code, and sent only once."""
    fake = FakeMessaging()  # enforces the 24-hour window
    await box.enqueue(SendMessage(TextMessage("+40712345678", "free text")))
    await relay(box, clock, messaging=fake).run(until_idle=True)
    [dead] = await box.dead_letters()
    assert "131047" in dead.last_error
    assert len(fake.faults.calls_to("send")) == 1


async def test_transient_errors_retry_with_backoff_then_dead_letter(box, clock):
    """Transient failures are retried with growing delays, then parked after max_attempts."""
    fake = FakeMessaging()
    fake.faults.fail_next(10, Unavailable("down", integration="whatsapp", request_sent=False))
    entry_id = await box.enqueue(template())
    r = relay(box, clock, messaging=fake)
    delays = []
    while (entry := await box.get(entry_id)).state is EntryState.PENDING:
        clock.advance(max(entry.available_at - clock(), 0.0))
        assert await r.run_once() == 1
        after = await box.get(entry_id)
        if after.state is EntryState.PENDING:
            delays.append(after.available_at - clock())
    # full jitter pinned at the middle: 0.5 x (1, 2, 4) seconds after attempts 1, 2 and 3
    assert delays == [0.5, 1.0, 2.0]
    assert len(fake.faults.calls_to("send")) == 4
    [dead] = await box.dead_letters()
    assert "gave up after 4 attempts" in dead.last_error


async def test_rate_limit_retry_after_is_honoured(box, clock):
    """A 429 with Retry-After 30 s is retried no sooner than 30 s later."""
    fake = FakeMessaging()
    fake.faults.fail_next(1, RateLimited("slow down", integration="whatsapp", retry_after=30))
    entry_id = await box.enqueue(template())
    r = relay(box, clock, messaging=fake)
    await r.run_once()
    assert (await box.get(entry_id)).available_at - clock() == 30
    clock.advance(29)
    assert await r.run_once() == 0
    clock.advance(1)
    assert await r.run_once() == 1
    assert len(fake.faults.calls_to("send")) == 2
    assert (await box.get(entry_id)).state is EntryState.DELIVERED


async def test_unknown_outcome_of_a_message_is_never_resent(box, clock):
    """A message whose outcome is unknown goes to dead letters instead of maybe reaching twice."""
    fake = FakeMessaging()
    fake.faults.fail_next(1, OutcomeUnknown("timeout after send", integration="whatsapp"))
    await box.enqueue(template())
    await relay(box, clock, messaging=fake).run(until_idle=True)
    [dead] = await box.dead_letters()
    assert dead.last_error.startswith("outcome unknown")
    assert len(fake.faults.calls_to("send")) == 1


class _AppliedThenLost(PaymentPort):
    """Stripe applies the first request, but the answer is lost on the way back."""

    def __init__(self, inner: FakePayments) -> None:
        self.inner = inner
        self.results: list[PaymentIntent] = []

    async def create_payment_intent(self, request):
        intent = await self.inner.create_payment_intent(request)
        self.results.append(intent)
        if len(self.results) == 1:
            raise OutcomeUnknown("read timeout", integration="stripe")
        return intent

    async def get_payment_intent(self, intent_id: str) -> PaymentIntent:
        return await self.inner.get_payment_intent(intent_id)

    async def cancel_payment_intent(self, intent_id: str) -> PaymentIntent:
        return await self.inner.cancel_payment_intent(intent_id)

    async def refund(self, request: RefundRequest) -> Refund:
        return await self.inner.refund(request)

    async def create_checkout_link(self, request: CheckoutRequest) -> CheckoutLink:
        return await self.inner.create_checkout_link(request)


async def test_unknown_outcome_of_a_payment_is_resent_with_the_same_key(box, clock):
    """After an unknown outcome the payment is resent with its key: one intent at the vendor."""
    port = _AppliedThenLost(FakePayments())
    request = PaymentRequest(Money(15000, "RON"), "Consult", "pat-1", IdempotencyKey("pay-1"))
    entry_id = await box.enqueue(CreatePaymentIntent(request))
    await relay(box, clock, payments=port).run(until_idle=True)
    assert (await box.get(entry_id)).state is EntryState.DELIVERED
    assert len(port.results) == 2
    assert port.results[0].id == port.results[1].id
    calls = port.inner.faults.calls_to("create_payment_intent")
    assert {c.args[0].idempotency_key for c in calls} == {IdempotencyKey("pay-1")}


async def test_open_breaker_pauses_the_integration_without_spending_attempts(box, clock):
    """CircuitOpenError pauses that integration for retry_in; other integrations keep flowing."""
    fake, crm = FakeMessaging(), FakeCRM()
    fake.faults.fail_next(1, CircuitOpenError("whatsapp", retry_in=45))
    m_id = await box.enqueue(template())
    c_id = await box.enqueue(UpsertContact(ContactDraft(phone="+40712345678")))
    r = relay(box, clock, messaging=fake, crm=crm)
    start = clock()
    await r.run_once()
    assert r.active_integrations() == {"crm"}
    assert (await box.get(c_id)).state is EntryState.DELIVERED
    assert (await box.get(m_id)).attempts == 0
    await r.run(until_idle=True)
    assert (await box.get(m_id)).state is EntryState.DELIVERED
    assert clock() - start >= 45
    assert len(fake.faults.calls_to("send")) == 2


async def test_undecodable_payload_is_parked_not_crashing_the_relay(box, clock, tmp_path):
    """A corrupted row becomes a dead letter naming the problem; the relay carries on."""
    crm = FakeCRM()
    contact = await crm.upsert_contact(ContactDraft(phone="+40712345678"))
    good = await box.enqueue(AddNote(contact.id, "hello"))
    bad = await box.enqueue(AddNote("c2", "hello"))
    with sqlite3.connect(tmp_path / "o.sqlite3") as conn:
        conn.execute("UPDATE portico_outbox SET payload = '{\"v\": 1}' WHERE id = ?", (bad,))
    await relay(box, clock, crm=crm).run(until_idle=True)
    [dead] = await box.dead_letters()
    assert dead.id == bad
    assert dead.last_error.startswith("undecodable command")
    assert (await box.get(good)).state is EntryState.DELIVERED
    assert len(crm.notes_of(contact.id)) == 1


async def test_a_5xx_after_sending_a_note_is_not_resent(box, clock):
    """A non-idempotent CRM note that got a 500 after sending is parked, never added twice."""
    crm = FakeCRM()
    contact = await crm.upsert_contact(ContactDraft(phone="+40712345678"))
    crm.faults.fail_next(1, Unavailable("500", integration="hubspot", request_sent=True))
    await box.enqueue(AddNote(contact.id, "summary"))
    await relay(box, clock, crm=crm).run(until_idle=True)
    [dead] = await box.dead_letters()
    assert dead.last_error.startswith("outcome unknown")


class _FlakyStore:
    """An outbox whose first claim fails, as a database restart would."""

    def __init__(self, inner):
        self.inner, self.failed = inner, False

    async def claim(self, **kwargs):
        if not self.failed:
            self.failed = True
            raise sqlite3.OperationalError("database is locked")
        return await self.inner.claim(**kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_relay_survives_a_store_failure(box, clock):
    """A failed claim is logged and retried after idle_delay; the relay does not die."""
    await box.enqueue(template())
    fake = FakeMessaging()
    r = relay(_FlakyStore(box), clock, messaging=fake)
    await r.run(until_idle=True)
    assert r.stats.delivered == 1
    assert clock.slept[0] == r.settings.idle_delay


class _CountingOutbox(SqliteOutbox):
    """A SQLite outbox that keeps each batch of deliveries it was asked to record."""

    recorded: list[list[str]]

    async def mark_delivered_many(self, entries):
        self.recorded.append([e.id for e in entries])
        return await super().mark_delivered_many(entries)


async def test_a_batch_records_its_deliveries_in_one_call_after_every_verdict(tmp_path, clock):
    """Five sent and one dead letter in a batch: one store call records the five, once decided."""
    box = _CountingOutbox(tmp_path / "o.sqlite3", clock=clock)
    box.recorded = []
    sent = [await box.enqueue(template(to=f"+4071234560{n}")) for n in range(5)]
    await box.enqueue(SendMessage(TextMessage("+40712345699", "outside the window")))
    r = relay(box, clock, messaging=FakeMessaging())
    assert await r.run_once() == 6
    [batch] = box.recorded
    assert sorted(batch) == sorted(sent)
    assert (r.stats.delivered, r.stats.dead) == (5, 1)
    assert (await box.status()).integrations[0].delivered == 5
    assert await r.run_once() == 0
    assert len(box.recorded) == 1  # an empty claim records nothing
    await box.close()
