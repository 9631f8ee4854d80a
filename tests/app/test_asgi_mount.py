"""
The webhook app mounted in a real FastAPI host: its routes start at the mount point.

``api.mount("/webhooks", create_webhook_app(...))`` serves ``POST /webhooks/stripe`` and
``GET /webhooks/healthz``; the same app mounted at ``/hooks`` serves ``POST /hooks/stripe``. URL
signatures (Twilio, HubSpot v3) are checked against the URL actually requested, mount point
included.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from portico.adapters.webhooks.signers import sign_hubspot_v3, sign_stripe, sign_twilio
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookIngress
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress


BASE = "http://clinic.test"
STRIPE_SECRET = DEV_SECRETS["stripe"]["secret"]
REFUND = {
    "id": "evt_mount_1",
    "object": "event",
    "created": 1686089970,
    "type": "refund.created",
    "data": {
        "object": {
            "id": "re_mount_1",
            "object": "refund",
            "amount": 2500,
            "currency": "eur",
            "payment_intent": "pi_mount_1",
            "status": "succeeded",
        }
    },
}
TWILIO_STATUS = {
    "AccountSid": "AC" + "0" * 32,
    "MessageSid": "SM" + "1" * 32,
    "MessageStatus": "delivered",
    "To": "+15558675310",
    "ApiVersion": "2010-04-01",
}
HUBSPOT = [
    {
        "eventId": 7,
        "subscriptionId": 12345,
        "portalId": 62515,
        "occurredAt": 1564113600000,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "appId": 54321,
    }
]


def _ingress() -> WebhookIngress:
    """Every provider on the development secrets, with an in-memory replay store."""
    return build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")


def _fastapi_host(mount: str, ingress: WebhookIngress) -> FastAPI:
    api = FastAPI()

    @api.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "host"}

    api.mount(mount, create_webhook_app(ingress))
    return api


@pytest.fixture(name="client", params=["/webhooks", "/hooks"])
async def _client(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A FastAPI host with the webhook app mounted at the parametrised point; an HTTP client."""
    mount: str = request.param
    api = _fastapi_host(mount, _ingress())
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield mount, client


async def test_stripe_delivery_is_served_at_the_mount_point(client):
    """POST {mount}/stripe is processed once; the host's own routes still answer."""
    mount, http = client
    body = json.dumps(REFUND).encode()
    first = await http.post(
        f"{mount}/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET)
    )
    again = await http.post(
        f"{mount}/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET)
    )
    assert first.status_code == 200
    assert first.json()["processed"] == 1
    assert again.json() == {"received": True, "duplicate": True}
    assert (await http.get("/ping")).json() == {"pong": "host"}


async def test_nothing_is_served_below_a_doubled_prefix(client):
    """The old layout (``{mount}/webhooks/stripe``) is gone: 404, not a second route."""
    mount, http = client
    body = json.dumps(REFUND).encode()
    doubled = await http.post(
        f"{mount}/webhooks/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET)
    )
    assert doubled.status_code == 404


async def test_forged_delivery_is_refused_at_the_mount_point(client):
    """A Stripe signature made with another secret is a 401 with its reason."""
    mount, http = client
    body = json.dumps(REFUND).encode()
    forged = await http.post(f"{mount}/stripe", content=body, headers=sign_stripe(body, "whsec_x"))
    assert forged.status_code == 401
    assert forged.json()["received"] is False
    assert forged.json()["error"]


async def test_health_routes_answer_under_the_mount_point(client):
    """GET {mount}/healthz, /healthz/webhooks and (no outbox given) /healthz/outbox."""
    mount, http = client
    assert (await http.get(f"{mount}/healthz")).json() == {"status": "ok"}
    counters = (await http.get(f"{mount}/healthz/webhooks")).json()
    assert "stripe" in counters["providers"]
    assert (await http.get(f"{mount}/healthz/outbox")).status_code == 404
    assert (await http.get("/healthz")).status_code == 404  # the host did not route it


async def test_twilio_signature_covers_the_mount_point(client):
    """Twilio signs the URL it called: {mount}/twilio verifies, the URL without the mount not."""
    mount, http = client
    token = DEV_SECRETS["twilio"]["auth_token"]
    params = sorted(TWILIO_STATUS.items())
    form = {"content-type": "application/x-www-form-urlencoded"}
    body = urllib.parse.urlencode(params)
    without_mount = sign_twilio(f"{BASE}/twilio", params, token)
    wrong = await http.post(f"{mount}/twilio", content=body, headers={**form, **without_mount})
    signed = sign_twilio(f"{BASE}{mount}/twilio", params, token)
    right = await http.post(f"{mount}/twilio", content=body, headers={**form, **signed})
    assert wrong.status_code == 401
    assert right.status_code == 200, right.text


async def test_hubspot_v3_signature_covers_the_mount_point(client):
    """HubSpot v3 signs method, URL, body and time: the mounted URL is the one checked."""
    mount, http = client
    secret = DEV_SECRETS["hubspot"]["client_secret"]
    body = json.dumps(HUBSPOT).encode()
    url = f"{BASE}{mount}/hubspot"
    now_ms = int(time.time() * 1000)
    answer = await http.post(
        url, content=body, headers=sign_hubspot_v3(body, secret, url=url, timestamp_ms=now_ms)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["processed"] == 1


async def test_plain_starlette_mount_routes_the_same_way():
    """Starlette's Mount (what FastAPI's mount is) under /hooks: POST /hooks/stripe."""
    host = Starlette(routes=[Mount("/hooks", app=create_webhook_app(_ingress()))])
    body = json.dumps(REFUND).encode()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url=BASE) as http:
        answer = await http.post(
            "/hooks/stripe", content=body, headers=sign_stripe(body, STRIPE_SECRET)
        )
        health = await http.get("/hooks/healthz")
    assert answer.json()["processed"] == 1
    assert health.json() == {"status": "ok"}
