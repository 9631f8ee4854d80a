"""The application's choice per command: send now with the outbox as fallback, or always enqueue."""

from __future__ import annotations

import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.outbox_dispatch import DeliveryMode, OutboxDispatch
from portico.domain.commands import AddNote, CreatePaymentIntent, SendMessage
from portico.domain.errors import CircuitOpenError, InvalidRequest, OutcomeUnknown, Unavailable
from portico.domain.messaging import MessageReceipt, TemplateMessage, TextMessage
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts


@pytest.fixture
async def box(tmp_path, clock):
    """A SQLite outbox on the test clock."""
    outbox = SqliteOutbox(tmp_path / "d.sqlite3", clock=clock)
    yield outbox
    await outbox.close()


@pytest.fixture
def fakes():
    """Fake messaging, CRM and payments."""
    return FakeMessaging(), FakeCRM(), FakePayments()


def dispatch(box, fakes, **kwargs):
    messaging, crm, payments = fakes
    return OutboxDispatch(
        box, CommandPorts(messaging=messaging, crm=crm, payments=payments), **kwargs
    )


def reminder():
    return SendMessage(TemplateMessage("+40712345678", "reminder"))


async def test_send_now_returns_the_vendor_result(box, fakes):
    """By default a command is sent at once and the caller gets the receipt; nothing is queued."""
    done = await dispatch(box, fakes).submit(reminder())
    assert done.sent
    assert isinstance(done.result, MessageReceipt)
    assert (await box.status()).pending == 0


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("503", integration="whatsapp", request_sent=False),
        CircuitOpenError("whatsapp", retry_in=30),
    ],
)
async def test_a_transient_failure_falls_back_to_the_outbox(box, fakes, error):
    """An outage or an open breaker queues the command instead of failing the caller."""
    fakes[0].faults.fail_next(1, error)
    done = await dispatch(box, fakes).submit(reminder())
    assert done.queued
    assert done.reason == str(error)
    assert (await box.get(done.entry_id)).kind == "send_message"


async def test_a_permanent_failure_is_raised_not_queued(box, fakes):
    """A refusal (text outside the window) reaches the caller and is not stored."""
    with pytest.raises(InvalidRequest):
        await dispatch(box, fakes).submit(SendMessage(TextMessage("+40712345678", "hi")))
    assert (await box.status()).pending == 0


async def test_unknown_outcome_queues_only_redeliverable_commands(box, fakes):
    """A payment with an unknown outcome is queued (same key); a message is raised instead."""
    messaging, _, payments = fakes
    messaging.faults.fail_next(1, OutcomeUnknown("read timeout", integration="whatsapp"))
    with pytest.raises(OutcomeUnknown):
        await dispatch(box, fakes).submit(reminder())
    payments.faults.fail_next(1, OutcomeUnknown("read timeout", integration="stripe"))
    request = PaymentRequest(Money(100, "EUR"), "x", "pat", IdempotencyKey("p1"))
    done = await dispatch(box, fakes).submit(CreatePaymentIntent(request))
    assert done.queued
    assert (await box.get(done.entry_id)).idempotency_key == "p1"


async def test_always_enqueue_mode_never_calls_the_vendor(box, fakes):
    """A kind configured ALWAYS_ENQUEUE goes straight to the outbox."""
    d = dispatch(box, fakes, modes={"add_note": DeliveryMode.ALWAYS_ENQUEUE})
    done = await d.submit(AddNote("c1", "summary"))
    assert done.queued
    assert fakes[1].faults.calls == []
    assert d.mode_of(reminder()) is DeliveryMode.SEND_NOW


async def test_an_unknown_outcome_waits_a_settle_delay_before_the_relay_may_take_it(
    box, fakes, clock
):
    """OutcomeUnknown parks the command for settle_delay; a clean outage queues it due now."""
    _, _, payments = fakes
    payments.faults.fail_next(1, OutcomeUnknown("read timeout", integration="stripe"))
    request = PaymentRequest(Money(100, "EUR"), "x", "pat", IdempotencyKey("p-settle"))
    unknown = await dispatch(box, fakes).submit(CreatePaymentIntent(request))
    entry = await box.get(unknown.entry_id)
    assert entry.available_at == clock() + 60.0
    assert await box.claim(limit=5, lease_seconds=30) == []

    payments.faults.fail_next(1, Unavailable("503", integration="stripe", request_sent=False))
    request = PaymentRequest(Money(100, "EUR"), "y", "pat2", IdempotencyKey("p-outage"))
    outage = await dispatch(box, fakes, settle_delay=5).submit(CreatePaymentIntent(request))
    assert (await box.get(outage.entry_id)).available_at == clock()


async def test_the_settle_delay_is_configurable(box, fakes, clock):
    """settle_delay=5 parks an unknown outcome for five seconds; a negative one is refused."""
    _, _, payments = fakes
    payments.faults.fail_next(1, OutcomeUnknown("read timeout", integration="stripe"))
    request = PaymentRequest(Money(100, "EUR"), "x", "pat", IdempotencyKey("p-five"))
    done = await dispatch(box, fakes, settle_delay=5).submit(CreatePaymentIntent(request))
    assert (await box.get(done.entry_id)).available_at == clock() + 5
    with pytest.raises(ValueError, match="settle_delay"):
        dispatch(box, fakes, settle_delay=-1)
