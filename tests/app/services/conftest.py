"""Fixtures for the services: the shipped fakes, a real SQLite outbox and relay, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import attrs
import pytest

from portico.adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice, ManualClock
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.ports.execute import CommandPorts


@attrs.define
class Ticker:
    """Seconds that move only when slept through: the outbox's and the relay's clock."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance instead of waiting."""
        self.now += max(seconds, 0.001)


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(name="ticker")
def _ticker() -> Ticker:
    return Ticker()


@pytest.fixture(name="wa")
def _wa(clock: ManualClock) -> FakeMessaging:
    return FakeMessaging(clock=clock)


@pytest.fixture(name="crm")
def _crm(clock: ManualClock) -> FakeCRM:
    return FakeCRM(clock=clock)


@pytest.fixture(name="stripe")
def _stripe(clock: ManualClock) -> FakePayments:
    return FakePayments(clock=clock)


@pytest.fixture(name="vapi")
def _vapi(clock: ManualClock) -> FakeVoice:
    return FakeVoice(clock=clock)


@pytest.fixture(name="outbox")
async def _outbox(ticker: Ticker) -> AsyncIterator[SqliteOutbox]:
    box = SqliteOutbox(":memory:", clock=ticker)
    yield box
    await box.close()


@pytest.fixture(name="dispatch")
def _dispatch(
    outbox: SqliteOutbox, wa: FakeMessaging, crm: FakeCRM, stripe: FakePayments, vapi: FakeVoice
) -> OutboxDispatch:
    return OutboxDispatch(outbox, CommandPorts(messaging=wa, crm=crm, payments=stripe, voice=vapi))


@pytest.fixture(name="relay")
def _relay(
    outbox: SqliteOutbox,
    wa: FakeMessaging,
    crm: FakeCRM,
    stripe: FakePayments,
    vapi: FakeVoice,
    ticker: Ticker,
) -> OutboxRelay:
    return OutboxRelay(
        outbox,
        CommandPorts(messaging=wa, crm=crm, payments=stripe, voice=vapi),
        clock=ticker,
        sleep=ticker.sleep,
        uniform=lambda a, b: (a + b) / 2,
    )
