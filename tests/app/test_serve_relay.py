"""
`portico serve` runs the outbox relay: a paid checkout's receipt reaches the patient with nothing
else running (review finding 6). Fake environment, real uvicorn server, real SQLite outbox.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import uvicorn

from portico.adapters.fakes import FakeMessaging, FakePayments
from portico.adapters.webhooks.signers import sign_stripe
from portico.app.entrypoints.asgi import STANDALONE_PREFIX, create_webhook_app
from portico.app.entrypoints.cli import build_parser
from portico.app.entrypoints.commands.serve import serve_app
from portico.app.services.outbox_relay import RelayStats
from portico.app.services.relay_settings import RelaySettings
from portico.app.wiring.container import Container, create_container
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.events import PaymentSucceeded
from portico.domain.messaging import TemplateMessage
from portico.domain.values import Money, PhoneNumber


PATIENT = PhoneNumber("+40712345678")
FEE = Money.of("150.00", "RON")


def _container(tmp_path: Any) -> Container:
    """The fake environment with its outbox and replay store in files of this test."""
    config = {
        "environment": "fake",
        "outbox": {"path": str(tmp_path / "outbox.sqlite3")},
        "webhooks": {"replay": {"kind": "sqlite", "path": str(tmp_path / "replay.sqlite3")}},
    }
    return create_container(config, env={})


def _succeeded(intent_id: str, deal_id: str, contact_id: str) -> bytes:
    """Stripe's payment_intent.succeeded event (API 2023-10-16) for the paid checkout."""
    event = {
        "id": "evt_serve_relay_1",
        "object": "event",
        "api_version": "2023-10-16",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {
            "object": {
                "id": intent_id,
                "object": "payment_intent",
                "amount": FEE.amount_minor,
                "amount_received": FEE.amount_minor,
                "currency": "ron",
                "status": "succeeded",
                "metadata": {"deal_id": deal_id, "contact_id": contact_id},
            }
        },
    }
    return json.dumps(event).encode()


def _receipts(wa: FakeMessaging) -> list[TemplateMessage]:
    return [
        m
        for m in wa.sent_to(PATIENT)
        if isinstance(m, TemplateMessage) and m.template == "payment_receipt"
    ]


async def test_serve_delivers_a_webhooks_receipt_through_its_own_relay(tmp_path, capsys):
    """A signed payment_intent.succeeded ends with the receipt sent by the fake messaging."""
    container = _container(tmp_path)
    wa: FakeMessaging = container.fake_messaging()
    stripe: FakePayments = container.fake_payments()
    lead = await container.lead_intake().intake(wa.receive(PATIENT, "Hi").message)
    sent = await container.payment_collection().request_payment(
        contact_id=lead.contact.id, deal_id=lead.deal_id, amount=FEE, description="consultation"
    )
    stripe.complete_checkout(sent.link.id)
    (paid,) = [e for e in stripe.drain_events() if isinstance(e, PaymentSucceeded)]

    receipt_sent = asyncio.Event()

    def on_progress(_: RelayStats) -> None:
        if _receipts(wa):
            receipt_sent.set()

    # The production default polls once a second.
    relay = container.relay(settings=RelaySettings(idle_delay=0.01), on_progress=on_progress)
    sock = socket.create_server(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_webhook_app(container, prefix=STANDALONE_PREFIX)  # as `portico serve` does
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(
        serve_app(server, sock, container, relay=relay, closing=[container.replay_store()])
    )
    try:
        body = _succeeded(paid.payment_intent_id, lead.deal_id, lead.contact.id)
        secret = DEV_SECRETS["stripe"]["secret"]
        async with httpx.AsyncClient(base_url=base) as client:
            answer = await client.post(
                "/webhooks/stripe", content=body, headers=sign_stripe(body, secret)
            )
            assert answer.json()["processed"] == 1
            await asyncio.wait_for(receipt_sent.wait(), timeout=30)
            outbox = (await client.get("/healthz/outbox")).json()
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=60)
    (receipt,) = _receipts(wa)
    assert receipt.to == PATIENT
    assert relay.stats.dead == 0
    assert outbox["dead"] == 0
    assert "relay stopped: delivered" in capsys.readouterr().err
    assert sock.fileno() == -1  # closed by the shutdown


def test_serve_runs_the_relay_unless_told_not_to():
    """`portico serve` relays by default; --no-relay leaves it to `portico relay`."""
    assert build_parser().parse_args(["serve"]).no_relay is False
    assert build_parser().parse_args(["serve", "--no-relay"]).no_relay is True
