"""
Run from the host's folder in a venv holding Portico's wheel: the host's `app`, `domain`,
`ports` and `adapters` and Portico's layers import side by side, and a short Portico story runs
on the fakes (a lead, a payment link, the paid checkout's signed webhook, the receipt delivered).
Prints one JSON line; any failure is an exception (exit code 1).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx
import portico
from portico.domain import TemplateMessage
from portico.testing import DEV_SECRETS, sign_stripe

from adapters.memory_calendar import MemoryCalendar
from app.booking import book_follow_up
from domain.model import Appointment
from ports.calendar import Calendar


HOST = Path(__file__).resolve().parent
DEV_STRIPE_SECRET = DEV_SECRETS["stripe"]["secret"]  # the fake environment's published secret
PATIENT = portico.PhoneNumber("+40 712 345 678")
FEE = portico.Money.of("150.00", "RON")


def _where(module: object) -> Path:
    return Path(str(getattr(module, "__file__", ""))).resolve()


def check_layout() -> dict[str, str]:
    """Each top-level name is the host's; Portico's layers live inside the installed portico."""
    import adapters
    import app
    import domain
    import ports

    for module in (app, domain, ports, adapters):
        assert _where(module).is_relative_to(HOST), (module.__name__, _where(module))
    installed = _where(portico).parent
    assert "site-packages" in installed.parts, installed
    for layer in ("app", "domain", "ports", "adapters"):
        assert _where(sys.modules[f"portico.{layer}"]).is_relative_to(installed), layer
    try:
        __import__("src")
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError("a top-level `src` is importable next to the wheel")
    assert Calendar in MemoryCalendar.__mro__
    assert Appointment(patient="p", slot="s").slot == "s"
    return {"portico": str(installed), "app": str(_where(app).parent)}


def _payment_succeeded(intent_id: str) -> bytes:
    event = {
        "id": "evt_host_story_1",
        "object": "event",
        "api_version": "2023-10-16",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": FEE.amount_minor,
                "amount_received": FEE.amount_minor,
                "currency": "ron",
                "status": "succeeded",
            }
        },
    }
    return json.dumps(event).encode()


async def story() -> dict[str, object]:
    """A lead, a payment link, the paid checkout's webhook, the receipt: on Portico's fakes."""
    config = {"outbox": {"path": ":memory:"}, "webhooks": {"replay": {"kind": "memory"}}}
    container = portico.create_container(config, env={})
    async with portico.lifespan(container, relay=False):
        messaging = container.fake_messaging()
        inbound = messaging.receive(PATIENT, "Can I book a consultation?", name="Ana")
        lead = await container.lead_intake().intake(inbound.message)
        sent = await container.payment_collection().request_payment(
            contact_id=lead.contact.id, deal_id=lead.deal_id, amount=FEE, description="visit"
        )
        paid = container.fake_payments().complete_checkout(sent.link.id)
        assert paid.payment_intent_id is not None
        body = _payment_succeeded(paid.payment_intent_id)
        transport = httpx.ASGITransport(app=portico.create_webhook_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://host.test") as client:
            answer = await client.post(
                "/stripe", content=body, headers=sign_stripe(body, DEV_STRIPE_SECRET)
            )
            forged = await client.post(
                "/stripe", content=body, headers=sign_stripe(body, "whsec_x")
            )
        assert answer.status_code == 200, answer.text
        assert forged.status_code == 401, forged.text
        await container.relay().run(until_idle=True)
        receipts = [
            m
            for m in messaging.sent_to(PATIENT)
            if isinstance(m, TemplateMessage) and m.template == "payment_receipt"
        ]
        assert len(receipts) == 1, receipts
        appointment = book_follow_up(MemoryCalendar(), lead.contact.id)
    return {"webhook": answer.json(), "receipts": len(receipts), "appointment": appointment}


if __name__ == "__main__":
    print(json.dumps({"layout": check_layout(), "story": asyncio.run(story())}))
