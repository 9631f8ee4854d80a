"""The clinic's API in process: leads, payment links, and a paid link's webhook."""

from __future__ import annotations

import asyncio

import httpx
import portico
from portico.domain import DealStage, TemplateMessage

from .stripe_events import payment_succeeded, signed


PATIENT = "+40 712 345 678"
FEE = {"amount": "150.00", "currency": "RON", "description": "consultation"}


async def _lead(client: httpx.AsyncClient, phone: str = PATIENT) -> dict[str, object]:
    answer = await client.post(
        "/leads", json={"phone": phone, "name": "Ana Popescu", "message": "A consultation?"}
    )
    assert answer.status_code == 201, answer.text
    lead: dict[str, object] = answer.json()
    return lead


async def _receipts(container: portico.Container, phone: str) -> list[TemplateMessage]:
    sent = container.fake_messaging().sent_to(phone)
    return [m for m in sent if isinstance(m, TemplateMessage) and m.template == "payment_receipt"]


async def test_post_leads_makes_one_contact_with_one_open_deal(
    client: httpx.AsyncClient, container: portico.Container
) -> None:
    """A first enquiry opens a deal; the same patient writing again finds that deal."""
    first = await _lead(client)
    again = await _lead(client)
    assert first["new_deal"] is True
    assert again == {**first, "new_deal": False}
    crm = container.fake_crm()
    assert [deal.id for deal in crm.deals_of(str(first["contact_id"]))] == [first["deal_id"]]


async def test_a_phone_that_is_no_phone_is_422(client: httpx.AsyncClient) -> None:
    """Portico's InvalidValue names the field, never the value: it is shown as it is."""
    answer = await client.post("/leads", json={"phone": "call me", "message": "Hi"})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("phone:")


async def test_a_paid_link_is_settled_by_its_webhook_and_the_lifespan_relay(
    client: httpx.AsyncClient, container: portico.Container
) -> None:
    """Lead, link, payment, signed webhook: the relay delivers one receipt and wins the deal."""
    lead = await _lead(client)
    link = await client.post("/payments", json={**FEE, **lead})
    assert link.status_code == 201, link.text
    assert link.json()["checkout_url"].startswith("https://")

    # The patient pays on Stripe's page (the fake Stripe plays it); Stripe calls the webhook.
    paid = container.fake_payments().complete_checkout(link.json()["link_id"])
    assert paid.payment_intent_id is not None
    body = payment_succeeded(
        paid.payment_intent_id, amount_minor=15000, currency="RON", event_id="evt_clinic_1"
    )
    answer = await client.post("/webhooks/stripe", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert answer.json()["processed"] == 1

    # The webhook only queued the receipt and the deal move: the relay, run by
    # portico.lifespan, delivers them.
    async with asyncio.timeout(20):
        while not await _receipts(container, PATIENT):
            await asyncio.sleep(0.05)
    assert container.fake_crm().deals[str(lead["deal_id"])].stage is DealStage.WON
    assert len(await _receipts(container, PATIENT)) == 1


async def test_a_forged_webhook_is_refused_with_its_reason(client: httpx.AsyncClient) -> None:
    """A Stripe delivery signed with another secret is a 401 that says why."""
    body = payment_succeeded("pi_forged", amount_minor=100, currency="RON", event_id="evt_f")
    answer = await client.post("/webhooks/stripe", content=body, headers=signed(body, "whsec_x"))
    assert answer.status_code == 401
    assert answer.json()["received"] is False
    assert answer.json()["error"]
