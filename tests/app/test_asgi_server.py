"""The webhook app on a real uvicorn server on loopback, driven by real HTTP requests."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from portico.adapters.webhooks.signers import sign_hubspot_v3, sign_meta, sign_stripe
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookIngress
from portico.app.wiring.webhooks import build_webhook_ingress
from portico.domain.events import ContactChanged, DomainEvent, MessageReceived, PaymentSucceeded


STRIPE_SECRET = "whsec_test_0123456789abcdef"
META_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "verify-me-please"
HUBSPOT_SECRET = "hubspot-client-secret-for-tests"

PAYMENT = {
    "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    "object": "event",
    "api_version": "2023-10-16",
    "created": 1686089970,
    "type": "payment_intent.succeeded",
    "data": {
        "object": {
            "id": "pi_3NG8Dt2eZvKYlo2C0RzGvKqT",
            "object": "payment_intent",
            "amount": 15000,
            "amount_received": 15000,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"patient_ref": "pt_42"},
        }
    },
}
WHATSAPP = {
    "object": "whatsapp_business_account",
    "entry": [
        {
            "id": "102290129340398",
            "changes": [
                {
                    "field": "messages",
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": "15550783881",
                            "phone_number_id": "106540352242922",
                        },
                        "contacts": [{"profile": {"name": "Test Patient"}, "wa_id": "16505551234"}],
                        "messages": [
                            {
                                "from": "16505551234",
                                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTA=",
                                "timestamp": "1749416383",
                                "type": "text",
                                "text": {"body": "Can I move my appointment?"},
                            }
                        ],
                    },
                }
            ],
        }
    ],
}
HUBSPOT = [
    {
        "eventId": 1,
        "subscriptionId": 12345,
        "portalId": 62515,
        "occurredAt": 1564113600000,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "appId": 54321,
    },
    {
        "eventId": 2,
        "subscriptionId": 12346,
        "portalId": 62515,
        "occurredAt": 1564113600500,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "propertyName": "lifecyclestage",
        "propertyValue": "marketingqualifiedlead",
        "changeSource": "CRM_UI",
        "appId": 54321,
    },
]


def _ingress(**webhooks: Any) -> tuple[WebhookIngress, list[DomainEvent]]:
    """An ingress wired from production-style config, and the events its handlers saw."""
    config = {
        "webhooks": {
            "replay": {"kind": "memory"},
            "max_body": 64 * 1024,
            "stripe": {"secret": STRIPE_SECRET},
            "whatsapp": {"app_secret": META_SECRET, "verify_token": VERIFY_TOKEN},
            "hubspot": {"client_secret": HUBSPOT_SECRET},
            **webhooks,
        }
    }
    ingress = build_webhook_ingress(config, environment="production")
    seen: list[DomainEvent] = []

    async def record(event: DomainEvent) -> None:
        seen.append(event)

    for event_type in (PaymentSucceeded, MessageReceived, ContactChanged):
        ingress.on(event_type, record)
    return ingress, seen


@asynccontextmanager
async def _serving(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a loopback socket bound before start (no polling)."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as `portico serve` does
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[tuple[str, WebhookIngress, list[DomainEvent]]]:
    """A running server with Stripe, WhatsApp and HubSpot configured."""
    ingress, seen = _ingress()
    async with _serving(create_webhook_app(ingress)) as base:
        yield base, ingress, seen


async def test_signed_stripe_delivery_processed_once(server):
    """A signed Stripe event is processed once; its redelivery is answered as a duplicate."""
    base, ingress, seen = server
    body = json.dumps(PAYMENT).encode()
    async with httpx.AsyncClient(base_url=base) as client:
        first = await client.post("/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET))
        again = await client.post("/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET))
    assert first.status_code == 200
    assert first.json()["processed"] == 1
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert [type(e) for e in seen] == [PaymentSucceeded]
    assert seen[0].event_id == PAYMENT["id"]
    assert ingress.counters("stripe").duplicates == 1


async def test_signed_whatsapp_delivery_processed_once(server):
    """A signed WhatsApp message becomes one MessageReceived, once."""
    base, _, seen = server
    body = json.dumps(WHATSAPP).encode()
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(3):
            response = await client.post(
                "/whatsapp", content=body, headers=sign_meta(body, META_SECRET)
            )
            assert response.status_code == 200
    assert [type(e) for e in seen] == [MessageReceived]


async def test_signed_hubspot_batch_processed_once(server):
    """A HubSpot v3-signed batch over the URL the client called yields two events, once."""
    base, _, seen = server
    body = json.dumps(HUBSPOT).encode()
    url = f"{base}/hubspot"
    async with httpx.AsyncClient() as client:
        first = await client.post(
            url, content=body, headers=sign_hubspot_v3(body, HUBSPOT_SECRET, url=url)
        )
        again = await client.post(
            url, content=body, headers=sign_hubspot_v3(body, HUBSPOT_SECRET, url=url)
        )
    assert first.json()["processed"] == 2
    assert again.json() == {"received": True, "duplicate": True}
    assert [type(e) for e in seen] == [ContactChanged, ContactChanged]


async def test_forged_stripe_delivery_is_401(server):
    """A delivery signed with another secret is 401 with a reason and is not dispatched."""
    base, ingress, seen = server
    body = json.dumps(PAYMENT).encode()
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/stripe", content=body, headers=sign_stripe(body, "whsec_attacker")
        )
        unsigned = await client.post("/stripe", content=body)
    assert response.status_code == 401
    assert response.json()["received"] is False
    assert STRIPE_SECRET not in response.text
    assert unsigned.status_code == 401
    assert seen == []
    assert ingress.counters("stripe").rejected["invalid_signature"] == 2


async def test_malformed_signed_body_is_400(server):
    """A correctly signed body that is not JSON is 400."""
    base, _, _ = server
    body = b"\xff\xfenot json"
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/whatsapp", content=body, headers=sign_meta(body, META_SECRET)
        )
    assert response.status_code == 400
    assert response.json()["received"] is False


async def test_huge_body_is_413(server):
    """A body over the configured 64 KiB limit is refused with 413."""
    base, ingress, _ = server
    body = b"{" + b" " * (200 * 1024) + b"}"
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET)
        )
    assert response.status_code == 413
    assert ingress.counters("stripe").rejected["payload_too_large"] == 1


async def test_huge_chunked_body_is_413(server):
    """A chunked body (no Content-Length) over the limit is refused while streaming."""
    base, _, _ = server

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 4096

    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/stripe", content=chunks())
    assert response.status_code == 413


async def test_meta_handshake_echoes_the_challenge(server):
    """GET /whatsapp with the right verify token echoes hub.challenge as text."""
    base, _, _ = server
    params = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    async with httpx.AsyncClient(base_url=base) as client:
        ok = await client.get("/whatsapp", params=params)
        wrong = await client.get("/whatsapp", params={**params, "hub.verify_token": "guess"})
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    assert wrong.status_code == 401
    assert "1158201444" not in wrong.text


async def test_unknown_provider_and_healthz(server):
    """An unknown provider is 404 and /healthz is 200."""
    base, _, _ = server
    async with httpx.AsyncClient(base_url=base) as client:
        missing = await client.post("/paypal", content=b"{}")
        health = await client.get("/healthz")
    assert missing.status_code == 404
    assert health.json() == {"status": "ok"}


async def test_concurrent_http_redeliveries_process_once(server):
    """50 concurrent HTTP deliveries of one Stripe event: processed exactly once."""
    base, _, seen = server
    body = json.dumps(PAYMENT).encode()
    headers = sign_stripe(body, STRIPE_SECRET)
    async with httpx.AsyncClient(base_url=base) as client:
        responses = await asyncio.gather(
            *(client.post("/stripe", content=body, headers=headers) for _ in range(50))
        )
    assert {r.status_code for r in responses} <= {200, 503}
    assert len(seen) == 1


async def test_public_base_url_is_what_url_signatures_are_checked_against():
    """Behind a proxy, a HubSpot signature over the public URL verifies, the internal one not."""
    ingress, seen = _ingress(public_base_url="https://hooks.example.org")
    body = json.dumps(HUBSPOT[:1]).encode()
    public = "https://hooks.example.org/hubspot"
    async with _serving(create_webhook_app(ingress)) as base, httpx.AsyncClient() as client:
        internal = f"{base}/hubspot"
        wrong = await client.post(
            internal, content=body, headers=sign_hubspot_v3(body, HUBSPOT_SECRET, url=internal)
        )
        right = await client.post(
            internal, content=body, headers=sign_hubspot_v3(body, HUBSPOT_SECRET, url=public)
        )
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert len(seen) == 1
