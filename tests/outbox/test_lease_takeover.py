"""Leases: database time on PostgreSQL, a configurable length, and a late delivery that wins."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from portico.adapters.fakes import FakeMessaging, FakeVoice
from portico.adapters.outbox.postgres import PostgresOutbox
from portico.adapters.resilience import (
    BreakerRegistry,
    ResiliencePolicy,
    ResilientMessaging,
    ResilientVoice,
    build_pipeline,
)
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.leases import (
    MARGIN,
    UNBOUNDED_ATTEMPT,
    check_relay_lease,
    intake_lease,
    pipelines_of,
)
from portico.app.wiring.outbox import build_relay
from portico.app.wiring.settings import load_settings
from portico.domain.commands import SendMessage
from portico.domain.errors import ConfigurationError
from portico.domain.messaging import MessageReceipt, OutboundMessage, TemplateMessage
from portico.domain.outbox import EntryState, OutboxEntry
from portico.ports.execute import CommandPorts
from portico.ports.outbox import Outbox
from tests.outbox.conftest import ManualClock


LEASE = 30.0


def _message(n: int = 0) -> SendMessage:
    return SendMessage(TemplateMessage(f"+4071234567{n}", "appointment_reminder"))


async def test_the_original_holder_overwrites_a_lease_expiry_dead_letter(make_outbox, clock):
    """A send that outlived its lease and was dead-lettered as maybe sent is recorded delivered."""
    box = make_outbox()
    entry_id = await box.enqueue(_message())
    [first] = await box.claim(limit=1, lease_seconds=LEASE)
    clock.advance(LEASE + 1)
    [second] = await box.claim(limit=1, lease_seconds=LEASE)
    assert second.lease_expired
    assert await box.dead_letter(second, reason="maybe sent")
    assert await box.mark_delivered(first)
    stored = await box.get(entry_id)
    assert stored.state is EntryState.DELIVERED
    assert stored.last_error is None
    assert await box.dead_letters() == []


async def test_only_a_lease_expiry_dead_letter_can_be_overwritten(make_outbox, clock):
    """A dead letter for another reason, or one requeued and dead again, stays dead."""
    box = make_outbox()
    entry_id = await box.enqueue(_message())
    [first] = await box.claim(limit=1, lease_seconds=LEASE)
    assert await box.dead_letter(first, reason="invalid request")
    assert not await box.mark_delivered(first)
    assert await box.requeue(entry_id)
    [again] = await box.claim(limit=1, lease_seconds=LEASE)
    assert not again.lease_expired  # a requeue clears the kept token
    clock.advance(LEASE + 1)
    [third] = await box.claim(limit=1, lease_seconds=LEASE)
    assert await box.dead_letter(third, reason="maybe sent")
    assert not await box.mark_delivered(first)  # not the holder whose lease expired
    assert (await box.get(entry_id)).state is EntryState.DEAD
    assert await box.mark_delivered(again)


async def test_a_chain_of_expired_leases_keeps_only_the_last_holder(make_outbox, clock):
    """After two expiries, only the most recent expired holder may prove delivery."""
    box = make_outbox()
    await box.enqueue(_message())
    [a] = await box.claim(limit=1, lease_seconds=LEASE)
    clock.advance(LEASE + 1)
    [b] = await box.claim(limit=1, lease_seconds=LEASE)
    clock.advance(LEASE + 1)
    [c] = await box.claim(limit=1, lease_seconds=LEASE)
    assert await box.dead_letter(c, reason="maybe sent")
    assert not await box.mark_delivered(a)
    assert await box.mark_delivered(b)


class _SlowVendor(FakeMessaging):
    """Sends only when the test releases it, as a vendor that answers after the lease."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.sends = 0

    async def send(self, message):  # type: ignore[no-untyped-def]
        self.sends += 1
        self.started.set()
        await self.release.wait()
        return await super().send(message)


async def test_a_slow_relay_delivers_after_another_dead_letters_it(make_outbox, clock):
    """Relay B dead-letters A's expired lease as maybe sent; A's late success is still recorded."""
    box = make_outbox()
    entry_id = await box.enqueue(_message())
    slow = _SlowVendor()
    settings = RelaySettings(lease_seconds=LEASE)
    a = OutboxRelay(box, CommandPorts(messaging=slow), settings, clock=clock)
    b = OutboxRelay(box, CommandPorts(messaging=FakeMessaging()), settings, clock=clock)
    sending = asyncio.create_task(a.run_once())
    await slow.started.wait()
    clock.advance(LEASE + 1)
    assert await b.run_once() == 1
    assert (await box.get(entry_id)).state is EntryState.DEAD
    slow.release.set()
    await sending
    assert (await box.get(entry_id)).state is EntryState.DELIVERED
    assert a.stats.delivered == 1
    assert slow.sends == 1


async def test_postgres_leases_use_database_time_not_the_relay_clock(postgres_url):
    """A relay host whose clock runs an hour fast cannot take over a running lease."""
    table = f"skew_{int(time.time() * 1000) % 10**9}"
    honest, skewed = (
        PostgresOutbox(postgres_url, table=table),
        PostgresOutbox(postgres_url, table=table),
    )
    skewed._clock = lambda: time.time() + 3600  # the host clock, skewed
    try:
        await honest.enqueue(_message())
        [held] = await honest.claim(limit=1, lease_seconds=LEASE)
        assert await skewed.claim(limit=1, lease_seconds=LEASE) == []
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            cur = await conn.execute("SELECT extract(epoch FROM now())::double precision")
            [(db_now,)] = await cur.fetchall()
        assert held.lease_until is not None
        assert db_now + LEASE - 5 < held.lease_until <= db_now + LEASE
        assert (await skewed.status()).in_flight == 1
    finally:
        await honest.close()
        await skewed.close()


def test_lease_seconds_is_configurable_and_validated():
    """outbox.lease_seconds defaults to 120, accepts strings and refuses zero or junk by name."""
    assert load_settings(env={}).outbox.lease_seconds == 120.0
    configured = load_settings({"outbox": {"lease_seconds": "300"}}, env={})
    assert configured.outbox.lease_seconds == 300.0
    from_env = load_settings(env={"PORTICO_OUTBOX__LEASE_SECONDS": "45"})
    assert from_env.outbox.lease_seconds == 45.0
    for bad in ("0", "-5", "soon", 10**6):
        with pytest.raises(ConfigurationError, match=r"outbox\.lease_seconds: .*PORTICO_OUTBOX"):
            load_settings({"outbox": {"lease_seconds": bad}}, env={})


def test_a_lease_shorter_than_a_pipeline_worst_case_is_refused():
    """A relay whose lease a port's retries could outlast refuses to start, naming the vendor."""
    policy = load_settings(env={}).policy("vapi")  # Vapi's spec default, not overridden
    pipeline = build_pipeline("vapi", policy, registry=BreakerRegistry())
    worst = pipeline.worst_case_seconds()
    assert worst == 72.0  # retry_deadline 60 + one attempt of 10 + 1 + 1 with the default policy
    ports = CommandPorts(voice=ResilientVoice(FakeVoice(), pipeline))
    with pytest.raises(ValueError, match=r"outbox.lease_seconds \(60s\).*vapi.*72s"):
        build_relay(_Unused(), ports, settings=RelaySettings(lease_seconds=60))  # type: ignore[arg-type]
    assert build_relay(_Unused(), ports).settings.lease_seconds == 120.0  # type: ignore[arg-type]


def test_the_worst_case_without_a_deadline_counts_every_attempt_and_backoff():
    """Without retry_deadline the worst case is attempts x (timeout + bulkhead wait) + caps."""
    policy = ResiliencePolicy(
        retry_deadline=None, retry_attempts=4, timeout=5.0, retry_max_delay=10.0
    )
    pipeline = build_pipeline("whatsapp", policy, registry=BreakerRegistry())
    assert pipeline.worst_case_seconds() == 4 * (5.0 + 1.0) + 3 * 10.0  # no rate: no limiter
    pipelines = pipelines_of([ResilientMessaging(FakeMessaging(), pipeline), FakeMessaging()])
    assert pipelines == [pipeline]
    check_relay_lease(55, pipelines)
    with pytest.raises(ValueError, match="whatsapp"):
        check_relay_lease(54, pipelines)


def test_the_intake_lease_and_the_relay_check_agree_on_the_worst_case():
    """Without a deadline both leases count the same worst case: one number per pipeline."""
    policy = ResiliencePolicy(
        retry_deadline=None, retry_attempts=4, timeout=5.0, retry_max_delay=10.0
    )
    pipeline = build_pipeline("hubspot", policy, registry=BreakerRegistry())
    worst = pipeline.worst_case_seconds()
    assert worst is not None
    assert intake_lease(pipeline, calls=1) == worst + MARGIN


def test_a_pipeline_without_a_timeout_has_no_worst_case_but_a_stand_in(caplog):
    """No per-attempt timeout: no bound (the relay warns); a computed lease uses the stand-in."""
    pipeline = build_pipeline("vapi", ResiliencePolicy(timeout=None), registry=BreakerRegistry())
    assert pipeline.worst_case_seconds() is None
    stand_in = pipeline.worst_case_seconds(untimed_attempt=UNBOUNDED_ATTEMPT)
    assert stand_in == 60.0 + UNBOUNDED_ATTEMPT + 1.0  # deadline + (stand-in + bulkhead wait)
    check_relay_lease(30, [pipeline])
    assert "vapi has no per-attempt timeout" in caplog.text


class _Unused:
    """An outbox the constructor never touches."""


class _TakenOverWhileSending(FakeMessaging):
    """
    WhatsApp whose first send of a batch outlives the leases: another relay's claim takes over
    the batch's oldest entry (``limit=1``) before the batch is recorded; ``settle`` also has that
    relay dead-letter it as maybe sent at once.
    """

    def __init__(self, other: Outbox, clock: ManualClock, *, settle: bool) -> None:
        super().__init__()
        self.other, self.clock, self.settle = other, clock, settle
        self.taken: list[OutboxEntry] = []
        self.late = False

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        if not self.late:  # the batch's sends run concurrently: only the first is late
            self.late = True
            self.clock.advance(LEASE + 1)
            self.taken = await self.other.claim(limit=1, lease_seconds=LEASE)
            if self.settle:
                assert await self.other.dead_letter(self.taken[0], reason="maybe sent")
        return await super().send(message)


async def test_a_batch_with_one_lease_taken_over_records_the_others(make_outbox, clock):
    """The taken-over entry is a lost lease of its own; the rest of the batch is delivered."""
    box, other = make_outbox(), make_outbox()
    ids = [await box.enqueue(_message(n)) for n in range(4)]
    vendor = _TakenOverWhileSending(other, clock, settle=False)
    relay = OutboxRelay(box, CommandPorts(messaging=vendor), RelaySettings(lease_seconds=LEASE))
    assert await relay.run_once() == 4
    [taken] = vendor.taken
    assert taken.id == ids[0]
    assert (relay.stats.delivered, relay.stats.lost_leases) == (3, 1)
    stored = await box.get(taken.id)
    assert (stored.state, stored.lease_token) == (EntryState.PENDING, taken.lease_token)
    status = await box.status()
    assert (status.pending, status.integrations[0].delivered) == (1, 3)
    assert await other.mark_delivered(taken)  # the new holder still owns it
    assert (await box.status()).integrations[0].delivered == 4


async def test_a_batch_proves_delivery_of_an_entry_dead_lettered_by_its_taker(make_outbox, clock):
    """The taker parked the entry as maybe sent; the batch that sent it records it delivered."""
    box, other = make_outbox(), make_outbox()
    for n in range(3):
        await box.enqueue(_message(n))
    vendor = _TakenOverWhileSending(other, clock, settle=True)
    relay = OutboxRelay(box, CommandPorts(messaging=vendor), RelaySettings(lease_seconds=LEASE))
    assert await relay.run_once() == 3
    assert (relay.stats.delivered, relay.stats.lost_leases) == (3, 0)
    assert await box.dead_letters() == []
    status = await box.status()
    assert (status.pending, status.dead, status.integrations[0].delivered) == (0, 0, 3)
