"""`TwilioMessaging` over HTTP against `TwilioSimulator`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.twilio import TwilioMessaging
from portico.domain.messaging import DeliveryStatus
from portico.domain.values import PhoneNumber
from tests.contract.harness import TEMPLATE, Harness, Registry
from tests.simulators.twilio import TwilioSimulator


# The Twilio status the carrier reports for each domain status.
TWILIO_STATUS = {
    DeliveryStatus.QUEUED: "queued",
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.READ: "read",
    DeliveryStatus.FAILED: "undelivered",
}
HELLO_WORLD = "HX" + "a1" * 16


@attrs.frozen
class TwilioControls:
    """The carrier's status reports, applied to the simulated Message resource."""

    sim: TwilioSimulator

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """Move the message at Twilio (forward only, as Twilio does)."""
        self.sim.advance(message_id, TWILIO_STATUS[status])

    async def close_window(self, phone: str) -> bool:
        """SMS has no customer-care window: nothing to close."""
        del phone
        return False


@asynccontextmanager
async def twilio_http() -> AsyncIterator[Harness[Any]]:
    """SMS from a Twilio number; `TEMPLATE` is the account's one Content API template."""
    sim = TwilioSimulator()
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://api.twilio.com", transport=transport) as http:
        port = TwilioMessaging(
            http=http,
            account_sid=sim.account_sid,
            auth_token=sim.auth_token,
            sender=PhoneNumber("+15017122661"),
            status_callback="https://hooks.example.org/webhooks/twilio",
            content_sids={TEMPLATE: HELLO_WORLD},
        )
        yield Harness(port, TwilioControls(sim))


FACTORIES: Registry = {"messaging": {"twilio-http": twilio_http}}
