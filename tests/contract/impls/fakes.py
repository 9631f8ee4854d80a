"""The shipped in-memory fakes, under contract as ``fake``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from portico.adapters.fakes import FakeCRM, FakeEmail, FakeMessaging, FakePayments, FakeVoice
from portico.domain.crm import DealStage
from portico.domain.messaging import DeliveryStatus
from portico.domain.voice import CallStatus
from tests.contract.harness import (
    ASSISTANT_ID,
    MAILBOX,
    TEMPLATE,
    Delivered,
    Harness,
    Registry,
)


@attrs.frozen
class FakeMessagingControls:
    """Meta's status webhooks and the patients' windows, played by the fake."""

    fake: FakeMessaging

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """Report ``status`` for the message."""
        self.fake.advance(message_id, status)

    async def close_window(self, phone: str) -> bool:
        """The patient's window expires: WhatsApp refuses free-form text to them."""
        self.fake.close_window(phone)
        return True


@attrs.frozen
class FakeCRMControls:
    """HubSpot's portal settings, played by the fake."""

    fake: FakeCRM

    async def refuse_property(self, name: str) -> None:
        """The portal has no contact property ``name``."""
        self.fake.refuse_property(name)

    async def index_search(self) -> None:
        """Nothing to wait for: the fake's search sees every write at once."""

    async def remove_stage(self, stage: DealStage) -> None:
        """The default pipeline no longer offers ``stage``."""
        kept = tuple(s for s in self.fake.pipelines["default"] if s is not stage)
        self.fake.pipelines = {**self.fake.pipelines, "default": kept}


@attrs.frozen
class FakePaymentControls:
    """The patient paying at Stripe, played by the fake."""

    fake: FakePayments

    async def pay(self, intent_id: str) -> None:
        """Pay the intent in full."""
        self.fake.pay(intent_id)


@attrs.frozen
class FakeVoiceControls:
    """Vapi's call progress and its carrier's refusals, played by the fake."""

    fake: FakeVoice

    async def progress(self, call_id: str, status: CallStatus) -> None:
        """Report ``status`` for the call."""
        self.fake.progress(call_id, status)

    async def refuse_number(self, phone: str) -> None:
        """The platform will not dial ``phone`` (a blocked prefix as long as the number)."""
        self.fake.blocked_prefixes = (*self.fake.blocked_prefixes, phone)


def messaging_fake() -> FakeMessaging:
    """Any text allowed until a window is closed; `TEMPLATE` is the one approved template."""
    return FakeMessaging(enforce_window=False, approved_templates={TEMPLATE})


def voice_fake() -> FakeVoice:
    """An org with one assistant, `ASSISTANT_ID`."""
    return FakeVoice(assistants={ASSISTANT_ID})


@asynccontextmanager
async def fake_messaging() -> AsyncIterator[Harness[Any]]:
    """A FakeMessaging (the window rule on time is covered by its unit tests)."""
    fake = messaging_fake()
    yield Harness(fake, FakeMessagingControls(fake))


@asynccontextmanager
async def fake_crm() -> AsyncIterator[Harness[Any]]:
    """A FakeCRM with HubSpot's default pipeline."""
    fake = FakeCRM()
    yield Harness(fake, FakeCRMControls(fake))


@asynccontextmanager
async def fake_payments() -> AsyncIterator[Harness[Any]]:
    """A FakePayments."""
    fake = FakePayments()
    yield Harness(fake, FakePaymentControls(fake))


@asynccontextmanager
async def fake_voice() -> AsyncIterator[Harness[Any]]:
    """A FakeVoice with one assistant."""
    fake = voice_fake()
    yield Harness(fake, FakeVoiceControls(fake))


@attrs.frozen
class FakeEmailControls:
    """The recipients' mailboxes, read from the fake's sent mail."""

    fake: FakeEmail

    async def delivered(self, address: str) -> list[Delivered]:
        """The messages accepted for ``address``."""
        return [
            Delivered(m.subject, tuple((a.filename, a.content) for a in m.attachments))
            for m in self.fake.sent_to(address)
        ]


def email_fake() -> FakeEmail:
    """A FakeEmail whose tenant has the contract's one mailbox."""
    return FakeEmail(mailboxes=(MAILBOX,))


@asynccontextmanager
async def fake_email() -> AsyncIterator[Harness[Any]]:
    """A FakeEmail with one mailbox."""
    fake = email_fake()
    yield Harness(fake, FakeEmailControls(fake))


FACTORIES: Registry = {
    "messaging": {"fake": fake_messaging},
    "crm": {"fake": fake_crm},
    "payments": {"fake": fake_payments},
    "voice": {"fake": fake_voice},
    "email": {"fake": fake_email},
}
