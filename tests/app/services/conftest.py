"""Fixtures for the services: the shipped fakes, a real SQLite outbox and relay, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from portico.adapters.fakes import FakeClock, FakeCRM, FakeMessaging, FakePayments, FakeVoice
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.app.services.outbox_dispatch import OutboxDispatch
from portico.app.services.outbox_relay import OutboxRelay
from portico.ports.execute import CommandPorts


class Ticker(FakeClock):
    """The outbox's and the relay's clock: it moves only when slept through (1 ms at least)."""

    async def sleep(self, seconds: float, /) -> None:
        """Advance instead of waiting."""
        await super().sleep(max(seconds, 0.001))


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="ticker")
def _ticker() -> Ticker:
    return Ticker()


@pytest.fixture(name="wa")
def _wa(clock: FakeClock) -> FakeMessaging:
    return FakeMessaging(clock=clock)


@pytest.fixture(name="crm")
def _crm(clock: FakeClock) -> FakeCRM:
    return FakeCRM(clock=clock)


@pytest.fixture(name="stripe")
def _stripe(clock: FakeClock) -> FakePayments:
    return FakePayments(clock=clock)


@pytest.fixture(name="vapi")
def _vapi(clock: FakeClock) -> FakeVoice:
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
        uniform=lambda a, b: (a + b) / 2,
    )
