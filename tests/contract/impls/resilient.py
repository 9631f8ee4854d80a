"""The shipped fakes wrapped in their resilient decorators, under contract as ``resilient-fake``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from portico.adapters.fakes import FakeClock, FakeCRM, FakePayments
from portico.adapters.resilience import (
    BreakerRegistry,
    Pipeline,
    ResilientCRM,
    ResilientEmail,
    ResilientMessaging,
    ResilientPayments,
    ResilientVoice,
    build_pipeline,
)
from tests.contract.harness import Harness, Registry
from tests.contract.impls.fakes import (
    FakeCRMControls,
    FakeEmailControls,
    FakeMessagingControls,
    FakePaymentControls,
    FakeVoiceControls,
    email_fake,
    messaging_fake,
    voice_fake,
)


def _pipeline(integration: str) -> Pipeline:
    """The integration's default pipeline, on a fake clock so no test waits real time."""
    clock = FakeClock()
    return build_pipeline(
        integration,
        registry=BreakerRegistry(),
        clock=clock,
    )


@asynccontextmanager
async def resilient_messaging() -> AsyncIterator[Harness[Any]]:
    """The contract's FakeMessaging behind the WhatsApp pipeline."""
    fake = messaging_fake()
    yield Harness(ResilientMessaging(fake, _pipeline("whatsapp")), FakeMessagingControls(fake))


@asynccontextmanager
async def resilient_crm() -> AsyncIterator[Harness[Any]]:
    """FakeCRM behind the HubSpot pipeline."""
    fake = FakeCRM()
    yield Harness(ResilientCRM(fake, _pipeline("hubspot")), FakeCRMControls(fake))


@asynccontextmanager
async def resilient_payments() -> AsyncIterator[Harness[Any]]:
    """FakePayments behind the Stripe pipeline."""
    fake = FakePayments()
    yield Harness(ResilientPayments(fake, _pipeline("stripe")), FakePaymentControls(fake))


@asynccontextmanager
async def resilient_voice() -> AsyncIterator[Harness[Any]]:
    """The contract's FakeVoice behind the Vapi pipeline."""
    fake = voice_fake()
    yield Harness(ResilientVoice(fake, _pipeline("vapi")), FakeVoiceControls(fake))


@asynccontextmanager
async def resilient_email() -> AsyncIterator[Harness[Any]]:
    """The contract's FakeEmail behind the Graph pipeline."""
    fake = email_fake()
    yield Harness(ResilientEmail(fake, _pipeline("graph")), FakeEmailControls(fake))


FACTORIES: Registry = {
    "messaging": {"resilient-fake": resilient_messaging},
    "crm": {"resilient-fake": resilient_crm},
    "payments": {"resilient-fake": resilient_payments},
    "voice": {"resilient-fake": resilient_voice},
    "email": {"resilient-fake": resilient_email},
}
