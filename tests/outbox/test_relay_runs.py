"""
The relay sends a claimed run of one recipient's commands one after another (issue 14).

Stop and give back on a retry or a pause, go on past a dead letter, send a later command only
while the lease has room for one more call at its worst, record a batch's successes in one call.
"""

from __future__ import annotations

import asyncio

import pytest

from portico.adapters.fakes import FakeMessaging, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import BreakerRegistry, ResilientVoice, build_pipeline
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.leases import MARGIN, relay_send_bound
from portico.app.wiring.outbox import build_relay, relay_settings
from portico.app.wiring.settings import load_settings
from portico.domain.commands import SendMessage
from portico.domain.errors import CircuitOpenError, ConfigurationError, Unavailable
from portico.domain.messaging import OutboundMessage, TemplateMessage, TextMessage
from portico.domain.outbox import EntryState
from portico.ports.execute import CommandPorts


A, B = "+40711111111", "+40722222222"


def template(to: str, name: str) -> SendMessage:
    return SendMessage(TemplateMessage(to, name))


class _Counting(SqliteOutbox):
    """A SQLite outbox that keeps each batch of deliveries it was asked to record."""

    recorded: list[list[str]]

    async def mark_delivered_many(self, entries):
        self.recorded.append([e.id for e in entries])
        return await super().mark_delivered_many(entries)


@pytest.fixture
async def box(tmp_path, clock):
    """A SQLite outbox on the test clock that counts its batch recordings."""
    outbox = _Counting(tmp_path / "o.sqlite3", clock=clock)
    outbox.recorded = []
    yield outbox
    await outbox.close()


class _Watching(FakeMessaging):
    """Meta's fake, also noting sends that overlap for one recipient and the most at once."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.busy: set[object] = set()
        self.overlaps = 0
        self.most = 0
        self.order: list[str] = []

    async def send(self, message: OutboundMessage):
        if message.to in self.busy:
            self.overlaps += 1
        self.busy.add(message.to)
        self.most = max(self.most, len(self.busy))
        try:
            for _ in range(3):
                await asyncio.sleep(0)  # every chance for the next of a run to jump in
            receipt = await super().send(message)
            self.order.append(getattr(message, "template", None) or "text")
            return receipt
        finally:
            self.busy.discard(message.to)


def _relay(box, clock, fake, *, per_key=8, send_bound=0.0, lease=120.0) -> OutboxRelay:
    settings = RelaySettings(base_delay=1, max_attempts=4, per_key=per_key, lease_seconds=lease)
    ports = CommandPorts(messaging=fake)
    return OutboxRelay(
        box, ports, settings, clock=clock, uniform=lambda a, b: b, send_bound=send_bound
    )


async def test_a_run_is_sent_one_by_one_in_order_and_recorded_in_one_call(box, clock):
    """Four to A and two to B in one claim: each recipient in order, never two at once."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(4)]
    ids += [await box.enqueue(template(B, f"b{i}")) for i in range(2)]
    fake = _Watching(clock=clock)
    r = _relay(box, clock, fake)
    assert await r.run_once() == 6
    assert fake.overlaps == 0
    assert fake.most == 2  # the two recipients' runs go on side by side
    assert [n for n in fake.order if n.startswith("a")] == ["a0", "a1", "a2", "a3"]
    assert [n for n in fake.order if n.startswith("b")] == ["b0", "b1"]
    [recorded] = box.recorded
    assert sorted(recorded) == sorted(ids)
    assert r.stats.delivered == 6


async def test_per_key_one_takes_one_command_per_recipient_per_claim(box, clock):
    """per_key=1 is the behaviour before runs: a claim holds each recipient's head only."""
    for i in range(3):
        await box.enqueue(template(A, f"a{i}"))
    r = _relay(box, clock, FakeMessaging(clock=clock), per_key=1)
    assert [await r.run_once() for _ in range(4)] == [1, 1, 1, 0]


async def test_a_retry_stops_the_run_and_gives_the_rest_back_unattempted(box, clock):
    """The head fails: it backs off, the two behind it are released unsent, attempts refunded."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(3)]
    fake = FakeMessaging(clock=clock)
    fake.faults.fail_next(1, Unavailable("503", integration="whatsapp", request_sent=False))
    r = _relay(box, clock, fake)
    assert await r.run_once() == 3
    assert len(fake.faults.calls_to("send")) == 1
    head, *rest = [await box.get(i) for i in ids]
    assert (head.attempts, head.available_at - clock()) == (1, 1.0)
    assert [(e.state, e.attempts, e.lease_token, e.last_error) for e in rest] == [
        (EntryState.PENDING, 0, None, None)
    ] * 2
    assert (r.stats.retried, r.stats.released, r.stats.lost_leases) == (1, 2, 0)
    assert await r.run_once() == 0  # the head is not due yet, and the rest wait behind it
    clock.advance(1)
    assert await r.run_once() == 3
    assert [c.args[0].template for c in fake.faults.calls_to("send")] == ["a0", "a0", "a1", "a2"]
    assert (await box.status()).integrations[0].delivered == 3


async def test_an_open_breaker_stops_the_run_without_spending_attempts(box, clock):
    """A paused integration releases the head and the rest of the run; none counts an attempt."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(2)]
    fake = FakeMessaging(clock=clock)
    fake.faults.fail_next(1, CircuitOpenError("whatsapp", retry_in=30))
    r = _relay(box, clock, fake)
    assert await r.run_once() == 2
    assert [(await box.get(i)).attempts for i in ids] == [0, 0]
    assert (r.stats.paused, r.stats.released) == (1, 1)


async def test_a_dead_letter_does_not_stop_the_run(box, clock):
    """A text outside the window is parked, and the template behind it is still sent."""
    dead = await box.enqueue(SendMessage(TextMessage(A, "free text")))
    sent = await box.enqueue(template(A, "reminder"))
    fake = FakeMessaging(clock=clock)
    r = _relay(box, clock, fake)
    assert await r.run_once() == 2
    assert len(fake.faults.calls_to("send")) == 2
    assert (await box.get(dead)).state is EntryState.DEAD
    assert (await box.get(sent)).state is EntryState.DELIVERED
    assert (r.stats.dead, r.stats.delivered, r.stats.released) == (1, 1, 0)


async def test_a_later_command_is_sent_only_while_the_lease_has_room_for_it(box, clock):
    """Sends of 50 s, lease 120 s, worst case 60 s: the third waits for the next claim."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(3)]
    fake = FakeMessaging(clock=clock)
    fake.faults.add_latency(50, operation="send")
    r = _relay(box, clock, fake, send_bound=60)
    assert await r.run_once() == 3
    assert len(fake.faults.calls_to("send")) == 2  # at 0 s and at 50 s (50 + 60 < 120)
    last = await box.get(ids[2])
    assert (last.state, last.attempts, last.lease_token) == (EntryState.PENDING, 0, None)
    assert r.stats.released == 1
    assert await r.run_once() == 1
    assert (await box.get(ids[2])).state is EntryState.DELIVERED


def test_the_send_bound_is_the_slowest_pipeline_plus_the_margin():
    """build_relay hands the relay the worst case of one call plus the margin between calls."""
    policy = load_settings(env={}).policy("vapi")
    pipeline = build_pipeline("vapi", policy, registry=BreakerRegistry())
    assert relay_send_bound([pipeline]) == 72.0 + MARGIN
    assert relay_send_bound([]) == 0.0
    ports = CommandPorts(voice=ResilientVoice(FakeVoice(), pipeline))
    relay = build_relay(object(), ports)  # type: ignore[arg-type]
    assert relay.send_bound == 72.0 + MARGIN


def test_outbox_per_key_is_configured_and_validated_by_name():
    """outbox.per_key defaults to 8, reaches the relay's settings, and refuses 0 by name."""
    assert load_settings(env={}).outbox.per_key == 8
    configured = load_settings({"outbox": {"per_key": "3"}}, env={})
    assert relay_settings(configured.outbox).per_key == 3
    assert RelaySettings().per_key == 8
    for bad in ("0", "-1", "two", 5000):
        with pytest.raises(ConfigurationError, match=r"outbox\.per_key"):
            load_settings({"outbox": {"per_key": bad}}, env={})
    with pytest.raises(ValueError, match=r"^per_key must be >= 1"):
        RelaySettings(per_key=0)


class _Gate(FakeMessaging):
    """Meta's fake whose first send waits for ``opened`` after setting ``entered``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entered, self.opened = asyncio.Event(), asyncio.Event()

    async def send(self, message: OutboundMessage):
        if not self.entered.is_set():
            self.entered.set()
            await self.opened.wait()
        return await super().send(message)


async def test_a_stopping_relay_finishes_the_send_under_way_and_gives_the_rest_back(box, clock):
    """Stop is set during a run's first send: that one is delivered, the others released."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(3)]
    fake = _Gate(clock=clock)
    r = _relay(box, clock, fake)
    stop = asyncio.Event()
    running = asyncio.create_task(r.run(stop=stop))
    await fake.entered.wait()
    stop.set()
    fake.opened.set()
    await asyncio.wait_for(running, 5)
    states = [(await box.get(i)).state for i in ids]
    assert states == [EntryState.DELIVERED, EntryState.PENDING, EntryState.PENDING]
    assert [(await box.get(i)).attempts for i in ids[1:]] == [0, 0]
    assert (r.stats.delivered, r.stats.released) == (1, 2)


async def test_a_cancelled_relay_gives_back_the_commands_it_had_not_started(box, clock):
    """Cancelled mid-send: the one in flight keeps its lease, the unsent ones are released."""
    ids = [await box.enqueue(template(A, f"a{i}")) for i in range(3)]
    fake = _Gate(clock=clock)
    r = _relay(box, clock, fake)
    running = asyncio.create_task(r.run_once())
    await fake.entered.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    head, *rest = [await box.get(i) for i in ids]
    assert head.lease_token is not None  # maybe sent: its lease runs out, then it is reclaimed
    assert [(e.lease_token, e.attempts) for e in rest] == [(None, 0), (None, 0)]
    assert r.stats.released == 2
