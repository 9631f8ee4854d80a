"""Outage proof: the vendor goes down, the breaker opens, the relay waits, the backlog drains."""

from __future__ import annotations

from portico.adapters.fakes import FakeClock, FakeMessaging
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.resilience import (
    BreakerRegistry,
    ResilientMessaging,
    build_pipeline,
)
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.services.relay_settings import RelaySettings
from portico.domain.commands import SendMessage
from portico.domain.errors import Unavailable
from portico.domain.messaging import MessageReceipt, OutboundMessage, TemplateMessage
from portico.ports.execute import CommandPorts
from portico.ports.messaging import MessagingPort


class Outage(MessagingPort):
    """WhatsApp, down (503 before processing) until ``until`` on the clock: via fault injection."""

    def __init__(self, fake: FakeMessaging, clock: FakeClock, until: float) -> None:
        self.fake, self.clock, self.until = fake, clock, until
        self.calls_while_down = 0

    async def send(self, message: OutboundMessage) -> MessageReceipt:
        if self.clock.monotonic() < self.until:
            self.calls_while_down += 1
            error = Unavailable("down", integration="whatsapp", request_sent=False, status_code=503)
            self.fake.faults.fail_next(1, error)
        return await self.fake.send(message)

    async def get_status(self, message_id: str) -> MessageReceipt:
        return await self.fake.get_status(message_id)


async def test_backlog_survives_an_outage_and_drains_in_order(tmp_path):
    """Ten minutes down: the breaker opens, the relay waits, then all 100 go out in order."""
    clock = FakeClock()
    outage_ends = clock.monotonic() + 600
    fake = FakeMessaging()
    vendor = Outage(fake, clock, outage_ends)
    registry = BreakerRegistry()
    pipeline = build_pipeline("whatsapp", registry=registry, clock=clock)
    box = SqliteOutbox(tmp_path / "o.sqlite3", clock=clock)
    phones = [f"+4071234{i:04d}" for i in range(20)]
    for n in range(5):
        for phone in phones:
            await box.enqueue(SendMessage(TemplateMessage(phone, "reminder", parameters=(str(n),))))
    assert (await box.status()).pending == 100

    relay = OutboxRelay(
        box,
        CommandPorts(messaging=ResilientMessaging(vendor, pipeline)),
        RelaySettings(max_attempts=50),
        clock=clock,
        uniform=lambda a, b: (a + b) / 2,
    )
    await relay.run(until_idle=True)
    await box.close()

    assert clock.monotonic() >= outage_ends
    assert relay.stats.paused > 0  # the relay saw the open breaker and stood back
    # 5 failures open the breaker; then one probe per 60 s reset: never a hammering loop.
    assert vendor.calls_while_down <= 5 + 600 / 60 + 3
    assert relay.stats.delivered == 100
    assert relay.stats.dead == 0
    for phone in phones:
        sent = []
        for message in fake.sent_to(phone):
            assert isinstance(message, TemplateMessage)
            sent.append(message.parameters)
        assert sent == [("0",), ("1",), ("2",), ("3",), ("4",)]
