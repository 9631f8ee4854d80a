"""A lease that runs out without an outcome: resend only what the vendor dedupes (both stores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from portico.adapters.fakes import FakeMessaging, FakePayments
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.domain.commands import CreatePaymentIntent, SendMessage
from portico.domain.messaging import TemplateMessage
from portico.domain.outbox import EntryState, OutboxEntry
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from portico.ports.execute import CommandPorts
from portico.ports.outbox import Outbox


LEASE = 30.0


def message() -> SendMessage:
    return SendMessage(TemplateMessage("+40712345678", "reminder"), IdempotencyKey("msg-1"))


def payment() -> CreatePaymentIntent:
    return CreatePaymentIntent(
        PaymentRequest(Money(5000, "EUR"), "consult", "pat1", IdempotencyKey("pay-1"))
    )


def relay(box: Outbox, clock, **ports: Unpack[CommandPorts]) -> OutboxRelay:
    settings = RelaySettings(lease_seconds=LEASE)
    return OutboxRelay(box, CommandPorts(**ports), settings, clock=clock)


class _MarkFails:
    """An outbox whose `mark_delivered(_many)` fails once (the store hiccuped after the send)."""

    def __init__(self, inner: Outbox) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def mark_delivered(self, entry: OutboxEntry) -> bool:
        raise OSError("disk I/O error")

    async def mark_delivered_many(self, entries: Sequence[OutboxEntry]) -> set[str]:
        raise OSError("disk I/O error")


async def test_claim_reports_a_lease_that_expired_without_an_outcome(make_outbox, clock):
    """Only the claim that takes over an expired lease says so; settled leases leave no trace."""
    box = make_outbox()
    await box.enqueue(message())
    [first] = await box.claim(limit=5, lease_seconds=LEASE)
    assert not first.lease_expired
    clock.advance(LEASE + 1)
    [second] = await box.claim(limit=5, lease_seconds=LEASE)
    assert second.lease_expired
    assert second.attempts == 2
    assert await box.schedule_retry(second, delay=0, error="try again")
    [third] = await box.claim(limit=5, lease_seconds=LEASE)
    assert not third.lease_expired


async def test_a_message_whose_relay_died_mid_send_is_dead_lettered_not_resent(make_outbox, clock):
    """A killed relay's message may have reached the patient: it is parked, never sent again."""
    box = make_outbox()
    entry_id = await box.enqueue(message())
    await box.claim(limit=5, lease_seconds=LEASE)  # the relay that died holding it
    clock.advance(LEASE + 1)
    fake = FakeMessaging()
    r = relay(box, clock, messaging=fake)
    await r.run(until_idle=True)
    assert fake.faults.calls_to("send") == []
    dead = await box.get(entry_id)
    assert dead is not None
    assert dead.state is EntryState.DEAD
    assert dead.last_error is not None
    assert dead.last_error.startswith("outcome unknown after lease expiry (maybe sent)")
    assert r.stats.dead == 1


async def test_a_sent_message_whose_outcome_was_not_recorded_is_not_sent_twice(make_outbox, clock):
    """Sent, then mark_delivered failed: after the lease expires the message is parked, once."""
    box = make_outbox()
    entry_id = await box.enqueue(message())
    fake = FakeMessaging()
    assert await relay(_MarkFails(box), clock, messaging=fake).run_once() == 1  # type: ignore[arg-type]
    clock.advance(LEASE + 1)
    await relay(box, clock, messaging=fake).run(until_idle=True)
    assert len(fake.faults.calls_to("send")) == 1
    entry = await box.get(entry_id)
    assert entry is not None
    assert entry.state is EntryState.DEAD


async def test_a_payment_whose_relay_died_is_resent_with_the_same_key(make_outbox, clock):
    """Stripe dedupes the key, so an abandoned payment is sent again and applied once."""
    box = make_outbox()
    entry_id = await box.enqueue(payment())
    fake = FakePayments()
    assert await relay(_MarkFails(box), clock, payments=fake).run_once() == 1  # type: ignore[arg-type]
    clock.advance(LEASE + 1)
    await relay(box, clock, payments=fake).run(until_idle=True)
    calls = fake.faults.calls_to("create_payment_intent")
    assert len(calls) == 2
    assert len(fake.intents) == 1  # the second request replayed the first intent
    entry = await box.get(entry_id)
    assert entry is not None
    assert entry.state is EntryState.DELIVERED


class _NoOutcomes(_MarkFails):
    """An outbox that claims but can record no outcome at all (a partly corrupted store)."""

    async def dead_letter(self, entry: OutboxEntry, *, reason: str) -> bool:
        raise OSError("disk I/O error")

    async def schedule_retry(
        self, entry: OutboxEntry, *, delay: float, error: str, attempted: bool = True
    ) -> bool:
        raise OSError("disk I/O error")


async def test_a_store_that_cannot_record_deliveries_parks_the_command_after_max_attempts(
    make_outbox, clock
):
    """Each send's outcome is lost: sent max_attempts times, then parked, never a resend loop."""
    box = make_outbox()
    entry_id = await box.enqueue(payment())
    fake = FakePayments()
    settings = RelaySettings(lease_seconds=LEASE, max_attempts=3)
    r = OutboxRelay(_MarkFails(box), CommandPorts(payments=fake), settings, clock=clock)  # type: ignore[arg-type]
    for _ in range(8):
        await r.run_once()
        clock.advance(LEASE + 1)
    assert len(fake.faults.calls_to("create_payment_intent")) == 3
    parked = await box.get(entry_id)
    assert parked is not None
    assert parked.state is EntryState.DEAD
    assert parked.last_error is not None
    assert parked.last_error.startswith(
        "attempts exhausted while its outcome could not be recorded"
    )


async def test_a_store_that_records_nothing_still_sends_at_most_max_attempts(make_outbox, clock):
    """Even when parking fails too, a claim past max_attempts sends nothing."""
    box = make_outbox()
    entry_id = await box.enqueue(payment())
    fake = FakePayments()
    settings = RelaySettings(lease_seconds=LEASE, max_attempts=2)
    r = OutboxRelay(_NoOutcomes(box), CommandPorts(payments=fake), settings, clock=clock)  # type: ignore[arg-type]
    for _ in range(6):
        await r.run_once()
        clock.advance(LEASE + 1)
    assert len(fake.faults.calls_to("create_payment_intent")) == 2
    still = await box.get(entry_id)
    assert still is not None
    assert still.attempts == 6
