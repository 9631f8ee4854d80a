"""`WhatsAppMessaging` over HTTP against `WhatsAppSimulator`, as Meta and as 360dialog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx

from portico.adapters.whatsapp import DIALOG360, WhatsAppMessaging, meta_cloud
from portico.domain.messaging import DeliveryStatus
from tests.contract.harness import TEMPLATE, Harness, Registry
from tests.simulators.whatsapp import WhatsAppSimulator


@attrs.frozen
class WhatsAppControls:
    """Meta's status webhooks and patients' windows, played by the simulator."""

    sim: WhatsAppSimulator
    port: WhatsAppMessaging

    async def advance(self, message_id: str, status: DeliveryStatus) -> None:
        """Report ``status`` as Meta would, and record it as the webhook handler does."""
        body = self.sim.advance(message_id, status)
        for entry in body["entry"]:
            for change in entry["changes"]:
                for event in change["value"]["statuses"]:
                    self.port.status_log.record(event["id"], DeliveryStatus(event["status"]))

    async def close_window(self, phone: str) -> bool:
        """The patient's window expires: Meta answers 131047 to free-form text."""
        self.sim.close_window(phone)
        return True


@asynccontextmanager
async def _harness(dialog360: bool) -> AsyncIterator[Harness[Any]]:
    sim = WhatsAppSimulator(approved_templates={TEMPLATE})
    base = DIALOG360.base_url if dialog360 else "https://graph.facebook.com"
    async with httpx.AsyncClient(base_url=base, transport=httpx.ASGITransport(app=sim)) as http:
        if dialog360:
            port = WhatsAppMessaging(http=http, credential=sim.api_key, flavour=DIALOG360)
        else:
            port = WhatsAppMessaging(
                http=http,
                credential=sim.token,
                flavour=meta_cloud(),
                phone_number_id=sim.phone_number_id,
            )
        yield Harness(port, WhatsAppControls(sim, port))


@asynccontextmanager
async def whatsapp_http() -> AsyncIterator[Harness[Any]]:
    """Meta's Cloud API (Bearer token, /v23.0/{id}/messages)."""
    async with _harness(dialog360=False) as harness:
        yield harness


@asynccontextmanager
async def d360_http() -> AsyncIterator[Harness[Any]]:
    """360dialog's hosting (D360-API-KEY, /messages)."""
    async with _harness(dialog360=True) as harness:
        yield harness


FACTORIES: Registry = {"messaging": {"whatsapp-http": whatsapp_http, "d360-http": d360_http}}
