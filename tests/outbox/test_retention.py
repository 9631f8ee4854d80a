"""Retention (issue 14): the relay purges delivered commands after their age; dead letters stay."""

from __future__ import annotations

from portico.adapters.fakes import FakeMessaging
from portico.app.services.outbox_relay import PURGE_EVERY, OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.container import create_container
from portico.domain.commands import SendMessage
from portico.domain.messaging import TemplateMessage
from portico.domain.outbox import EntryState
from portico.domain.values import IdempotencyKey
from portico.ports.execute import CommandPorts


DAY = 86400.0


def reminder(n: int) -> SendMessage:
    return SendMessage(TemplateMessage(f"+4071234560{n}", "reminder"), IdempotencyKey(f"r-{n}"))


async def test_the_relay_purges_delivered_commands_in_batches_and_keeps_dead_letters(
    make_outbox, clock
):
    """Delivered rows older than the retention go, a batch per pass; a dead letter stays."""
    box = make_outbox()
    ids = [await box.enqueue(reminder(i)) for i in range(7)]
    dead_id = await box.enqueue(reminder(8))
    [*others, last] = await box.claim(limit=32, lease_seconds=30)
    assert last.id == dead_id
    assert await box.dead_letter(last, reason="operator must look")
    for entry in others:
        assert await box.schedule_retry(entry, delay=0, error="later", attempted=False)
    settings = RelaySettings(delivered_retention=DAY, purge_batch=3, idle_delay=1)
    relay = OutboxRelay(box, CommandPorts(messaging=FakeMessaging()), settings, clock=clock)
    await relay.run(until_idle=True)
    assert relay.stats.delivered == 7
    assert relay.stats.purged == 0  # too young
    clock.advance(DAY + PURGE_EVERY)
    assert await relay.purge_delivered() == 3
    assert await relay.purge_delivered() == 3  # a full batch: the next pass is due at once
    assert await relay.purge_delivered() == 1
    assert await relay.purge_delivered() == 0  # a short batch: the next one in a minute
    assert [await box.get(i) for i in ids] == [None] * 7
    dead = await box.get(dead_id)
    assert dead is not None
    assert dead.state is EntryState.DEAD
    status = await box.status()
    assert (status.delivered, status.dead, status.pending) == (7, 1, 0)


async def test_retention_zero_keeps_delivered_commands(make_outbox, clock):
    """delivered_retention=0 turns the purge off."""
    box = make_outbox()
    entry_id = await box.enqueue(reminder(1))
    settings = RelaySettings(delivered_retention=0)
    relay = OutboxRelay(box, CommandPorts(messaging=FakeMessaging()), settings, clock=clock)
    await relay.run(until_idle=True)
    clock.advance(1000 * DAY)
    assert await relay.purge_delivered() == 0
    assert await box.get(entry_id) is not None


def test_the_retention_is_read_from_the_outbox_settings():
    """outbox.delivered_retention reaches the relay the container builds."""
    container = create_container({"environment": "fake", "outbox": {"delivered_retention": 3600}})
    assert container.relay().settings.delivered_retention == 3600
