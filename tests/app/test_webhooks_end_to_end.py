"""
`portico serve`'s application over real uvicorn: signed deliveries reach the services.

The container runs in the ``fake`` environment (fake CRM and Stripe) except for messaging, which is
the real `WhatsAppMessaging` against a Meta Cloud API played by an `httpx.MockTransport`, so that
receipts are real HTTP sends and status webhooks feed its `DeliveryStatusLog`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
import uvicorn
from dependency_injector import providers

from portico.adapters.fakes import FakeCRM, FakePayments
from portico.adapters.webhooks.signers import sign_meta, sign_stripe
from portico.adapters.whatsapp import DeliveryStatusLog, WhatsAppMessaging, meta_cloud
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.entrypoints.commands import health
from portico.app.entrypoints.webhook_counters import fetch_webhook_counters
from portico.app.services.lead_intake import OPEN_DEAL_PROPERTY
from portico.app.wiring.container import Container, create_container
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.messaging import DeliveryStatus
from portico.domain.values import Money, PhoneNumber


PHONE_ID = "106540352242922"
PATIENT = PhoneNumber("+40712345678")
META_SECRET = DEV_SECRETS["whatsapp"]["app_secret"]
STRIPE_SECRET = DEV_SECRETS["stripe"]["secret"]


@attrs.define
class MetaCloud:
    """Meta's send endpoint: accepts each message and hands out a fresh ``wamid``."""

    sent: list[dict[str, Any]] = attrs.Factory(list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one ``POST /v23.0/{phone-number-id}/messages`` as Meta does."""
        assert request.url.path == f"/v23.0/{PHONE_ID}/messages"
        body = json.loads(request.content)
        self.sent.append(body)
        wamid = f"wamid.PORTICO{len(self.sent):06d}"
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}],
            },
        )


def _inbound(message_id: str, text: str) -> dict[str, Any]:
    """Meta's "messages" webhook for one text from the patient."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "contacts": [{"profile": {"name": "Ana Popescu"}, "wa_id": PATIENT.digits}],
        "messages": [
            {
                "from": PATIENT.digits,
                "id": message_id,
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }
    return _envelope(value)


def _status(message_id: str, status: str) -> dict[str, Any]:
    """Meta's status webhook for one outbound message."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_ID},
        "statuses": [
            {
                "id": message_id,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": PATIENT.digits,
            }
        ],
    }
    return _envelope(value)


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def _stripe_event(event_id: str, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Stripe's event envelope (API 2023-10-16) around ``obj``."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2023-10-16",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


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


def _container(**webhooks: Any) -> Container:
    """A fake-environment container with an in-memory replay store and outbox."""
    config = {
        "environment": "fake",
        "outbox": {"path": ":memory:"},
        "webhooks": {"replay": {"kind": "memory"}, **webhooks},
    }
    return create_container(config, env={})


@pytest.fixture(name="meta")
def _meta() -> MetaCloud:
    """The Meta Cloud API stand-in."""
    return MetaCloud()


@pytest.fixture(name="whatsapp")
async def _whatsapp(meta: MetaCloud) -> AsyncIterator[WhatsAppMessaging]:
    """The real WhatsApp adapter over the stand-in, with its own status log."""
    http = httpx.AsyncClient(base_url=meta_cloud().base_url, transport=httpx.MockTransport(meta))
    adapter = WhatsAppMessaging.meta(
        token="test-token", phone_number_id=PHONE_ID, http=http, status_log=DeliveryStatusLog()
    )
    yield adapter
    await adapter.aclose()


@pytest.fixture(name="wired")
def _wired(whatsapp: WhatsAppMessaging) -> Iterator[Container]:
    """The container with WhatsApp as its messaging adapter (before the ingress is built)."""
    container = _container()
    with container.messaging_adapter.override(providers.Object(whatsapp)):
        yield container


async def _post(client: httpx.AsyncClient, provider: str, payload: Any) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = sign_stripe(body, STRIPE_SECRET) if provider == "stripe" else {}
    if provider == "whatsapp":
        headers = sign_meta(body, META_SECRET)
    return await client.post(f"/{provider}", content=body, headers=headers)


async def test_patient_story_over_real_http(wired, whatsapp, meta):
    """Inbound message -> lead; paid checkout -> deal won and one receipt; status -> get_status."""
    crm: FakeCRM = wired.fake_crm()
    stripe: FakePayments = wired.fake_payments()
    async with (
        _serving(create_webhook_app(wired)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        hello = _inbound("wamid.INBOUND000001", "Hello, can I book a consultation?")
        response = await _post(client, "whatsapp", hello)
        assert response.status_code == 200
        assert response.json()["processed"] == 1
        contact = await wired.crm().find_contact(phone=PATIENT)
        assert contact is not None
        deal_id = contact.properties[OPEN_DEAL_PROPERTY]
        assert [deal.id for deal in crm.deals_of(contact.id)] == [deal_id]

        collection = wired.payment_collection()
        fee = Money.of("150.00", "RON")
        sent = await collection.request_payment(
            contact_id=contact.id, deal_id=deal_id, amount=fee, description="consultation"
        )
        completed = stripe.complete_checkout(sent.link.id)
        intent_id = str(completed.payment_intent_id)
        checkout = _stripe_event(
            "evt_e2e_checkout",
            "checkout.session.completed",
            {
                "id": completed.session_id,
                "object": "checkout.session",
                "amount_total": fee.amount_minor,
                "currency": "ron",
                "metadata": {"deal_id": deal_id, "contact_id": contact.id},
                "mode": "payment",
                "payment_intent": intent_id,
                "payment_status": "paid",
                "status": "complete",
            },
        )
        succeeded = _stripe_event(
            "evt_e2e_succeeded",
            "payment_intent.succeeded",
            {
                "id": intent_id,
                "object": "payment_intent",
                "amount": fee.amount_minor,
                "amount_received": fee.amount_minor,
                "currency": "ron",
                "status": "succeeded",
                "metadata": {"deal_id": deal_id, "contact_id": contact.id},
            },
        )
        assert (await _post(client, "stripe", checkout)).json()["processed"] == 1
        assert (await _post(client, "stripe", succeeded)).json()["processed"] == 1
        assert len(meta.sent) == 1  # the handler only enqueued: the relay sends
        await wired.relay().run(until_idle=True)
        assert crm.deals[deal_id].stage == collection.won_stage
        assert len(meta.sent) == 2  # the payment link, then exactly one receipt
        assert meta.sent[1]["template"]["name"] == "payment_receipt"

        again = await _post(client, "stripe", succeeded)
        assert again.json() == {"received": True, "duplicate": True}
        await wired.relay().run(until_idle=True)
        assert len(meta.sent) == 2

        receipt_id = f"wamid.PORTICO{2:06d}"
        assert (await whatsapp.get_status(receipt_id)).status is DeliveryStatus.QUEUED
        delivered = await _post(client, "whatsapp", _status(receipt_id, "delivered"))
        assert delivered.json()["processed"] == 1
        assert (await whatsapp.get_status(receipt_id)).status is DeliveryStatus.DELIVERED
        assert (await wired.messaging().get_status(receipt_id)).status is DeliveryStatus.DELIVERED

        counters = (await client.get("/healthz/webhooks")).json()
    assert counters["providers"]["stripe"]["processed"] == 2
    assert counters["providers"]["stripe"]["duplicates"] == 1
    assert counters["providers"]["whatsapp"]["processed"] == 2
    assert counters["providers"]["whatsapp"]["handler_failures"] == 0


async def test_opting_out_leaves_the_services_unsubscribed(whatsapp):
    """With webhooks.subscribe_services false a processed delivery reaches no service."""
    container = _container(subscribe_services="false")
    with container.messaging_adapter.override(providers.Object(whatsapp)):
        ingress = container.webhook_ingress()
    async with (
        _serving(create_webhook_app(ingress)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        response = await _post(client, "whatsapp", _inbound("wamid.INBOUND000002", "Hi"))
        status = await _post(client, "whatsapp", _status("wamid.UNKNOWN", "read"))
    assert response.json()["processed"] == 1
    assert status.json()["processed"] == 1
    assert await container.crm().find_contact(phone=PATIENT) is None
    assert whatsapp.status_log.get("wamid.UNKNOWN") is None


async def test_fake_messaging_has_no_status_log_and_still_serves():
    """On the fake messaging adapter a status delivery is acknowledged; intake still runs."""
    container = _container()
    async with (
        _serving(create_webhook_app(container)) as base,
        httpx.AsyncClient(base_url=base) as client,
    ):
        status = await _post(client, "whatsapp", _status("wamid.NOT.OURS", "delivered"))
        hello = await _post(client, "whatsapp", _inbound("wamid.INBOUND000003", "Hello"))
    assert status.status_code == 200
    assert hello.json()["processed"] == 1
    assert await container.crm().find_contact(phone=PATIENT) is not None


async def test_portico_health_shows_a_running_servers_counters(tmp_path, monkeypatch, capsys):
    """`portico health --server URL` prints the per-provider counters of a running server."""
    monkeypatch.chdir(tmp_path)  # no outbox file of another run in the report
    container = _container()
    async with _serving(create_webhook_app(container)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            await _post(client, "whatsapp", _inbound("wamid.INBOUND000004", "Hello"))
            await client.post("/stripe", content=b"{}")  # unsigned: rejected
        rows = await fetch_webhook_counters(base)
        args = argparse.Namespace(format="text", config=None, probe=False, server=base)
        code = await asyncio.to_thread(health.run, args)
    out = capsys.readouterr().out
    assert code == 0
    by_name = {row.provider: row for row in rows}
    assert (by_name["whatsapp"].received, by_name["whatsapp"].processed) == (1, 1)
    assert (by_name["stripe"].received, by_name["stripe"].rejected) == (1, 1)
    lines = out.splitlines()
    start = lines.index("Webhook ingress")
    assert lines[start + 2].split()[:8] == [
        "Provider", "Received", "Processed", "Duplicates", "Rejected", "Unknown", "types", "Handler"
    ]  # fmt: skip
    rows_end = lines.index("", start + 4) if "" in lines[start + 4 :] else len(lines)
    table = {line.split()[0]: line.split()[1:] for line in lines[start + 4 : rows_end]}
    assert "graph" in table
    assert table["whatsapp"][:7] == ["1", "1", "0", "0", "0", "0", "0"]
    seen, ago = table["whatsapp"][7:]  # a second or two on a loaded machine
    assert (ago, seen[-1], int(seen[:-1]) <= 5) == ("ago", "s", True)
    assert table["stripe"][:4] == ["1", "0", "0", "1"]
    assert table["hubspot"][7:] == ["never"]


def test_portico_health_without_a_server_says_how_to_see_counters(tmp_path, monkeypatch, capsys):
    """Without --server the report says where the counters are; a dead server exits 1."""
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(format="markdown", config=None, probe=False, server=None)
    assert health.run(args) == 0
    assert "--server http://127.0.0.1:8000" in capsys.readouterr().out
    with socket.create_server(("127.0.0.1", 0)) as sock:
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    args = argparse.Namespace(format="markdown", config=None, probe=False, server=dead)
    assert health.run(args) == 1
    assert "| server_unhealthy | server | cannot reach" in capsys.readouterr().out
