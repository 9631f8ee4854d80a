"""The shipped in-memory fakes, under contract as ``fake``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from adapters.fakes import FakeCRM, FakeMessaging, FakePayments, FakeVoice
from domain.messaging import DeliveryStatus
from domain.voice import CallStatus
from tests.contract.harness import Harness, Registry


@attrs.frozen
class FakeMessagingControls:
    """Meta's status webhooks, played by the fake."""

    fake: FakeMessaging

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """Report ``status`` for the message."""
        self.fake.advance(message_id, status)


@attrs.frozen
class FakePaymentControls:
    """The patient paying at Stripe, played by the fake."""

    fake: FakePayments

    async def pay(self, intent_id: str) -> None:
        """Pay the intent in full."""
        self.fake.pay(intent_id)


@attrs.frozen
class FakeVoiceControls:
    """Vapi's call progress, played by the fake."""

    fake: FakeVoice

    async def progress(self, call_id: str, status: CallStatus) -> None:
        """Report ``status`` for the call."""
        self.fake.progress(call_id, status)


@asynccontextmanager
async def fake_messaging() -> AsyncIterator[Harness[Any]]:
    """A FakeMessaging that lets any text through (the window is covered by its unit tests)."""
    fake = FakeMessaging(enforce_window=False)
    yield Harness(fake, FakeMessagingControls(fake))


@asynccontextmanager
async def fake_crm() -> AsyncIterator[Harness[Any]]:
    """A FakeCRM with HubSpot's default pipeline."""
    yield Harness(FakeCRM())


@asynccontextmanager
async def fake_payments() -> AsyncIterator[Harness[Any]]:
    """A FakePayments."""
    fake = FakePayments()
    yield Harness(fake, FakePaymentControls(fake))


@asynccontextmanager
async def fake_voice() -> AsyncIterator[Harness[Any]]:
    """A FakeVoice that accepts any assistant."""
    fake = FakeVoice()
    yield Harness(fake, FakeVoiceControls(fake))


FACTORIES: Registry = {
    "messaging": {"fake": fake_messaging},
    "crm": {"fake": fake_crm},
    "payments": {"fake": fake_payments},
    "voice": {"fake": fake_voice},
}
