"""
Issue 16 across the outbox: a Stripe webhook enqueues a receipt in one container; a relay built by
another container over the same SQLite file delivers it later in an ``outbox.deliver`` span that
links to the webhook's trace (not as a parent), with the port call and its HTTP attempt as
children and the webhook's correlation id on the delivery's log records.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from portico.adapters.fakes import FakeClock, FakeMessaging
from portico.adapters.outbox.sqlite import SqliteOutbox
from portico.adapters.telemetry import TELEMETRY, LogContext, OutboxDeliverySpans
from portico.adapters.webhooks.signers import sign_stripe
from portico.adapters.whatsapp import WhatsAppMessaging, meta_cloud
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.outbox_relay import OutboxRelay
from portico.app.wiring.container import Container, create_container
from portico.app.wiring.outbox import build_relay, command_ports
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.commands import SendMessage
from portico.domain.correlation import correlated, for_event
from portico.domain.crm import ContactDraft, DealDraft, DealStage
from portico.domain.errors import Unavailable
from portico.domain.messaging import TemplateMessage
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money, PhoneNumber
from portico.ports.execute import CommandPorts
from tests.telemetry.conftest import Recorded


PATIENT = PhoneNumber("+40712345678")
PHONE_ID = "106540352242922"
EVENT_ID = "evt_3TraceLink0001"


class _Kept(logging.Handler):
    """Every record of the ``portico`` loggers, with the ids `LogContext` adds."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(LogContext())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def about(self, text: str) -> list[logging.LogRecord]:
        return [r for r in self.records if text in r.getMessage()]


@pytest.fixture(name="kept")
def _kept() -> Iterator[_Kept]:
    handler = _Kept()
    logger = logging.getLogger("portico")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _meta_cloud(request: httpx.Request) -> httpx.Response:
    """Meta's send endpoint: accepts the message (a real HTTP attempt for the adapter)."""
    body = json.loads(request.content)
    return httpx.Response(
        200,
        json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": "wamid.PORTICOTRACE01"}],
        },
    )


def _container(path: Path) -> Container:
    config = {
        "environment": "fake",
        "outbox": {"path": str(path)},
        "webhooks": {"replay": {"kind": "memory"}},
    }
    return create_container(config, env={})


async def _paid_intent(container: Container) -> dict[str, Any]:
    """A contact, an open deal and a paid intent on the fakes; the intent as Stripe sends it."""
    crm = container.crm()
    contact = await crm.upsert_contact(ContactDraft(phone=PATIENT, first_name="Ana"))
    deal = await crm.create_deal(DealDraft(contact.id, "Consultation", DealStage.OPEN))
    request = PaymentRequest(
        Money.of("150.00", "RON"),
        "consultation",
        contact.id,
        IdempotencyKey("trace-link-1"),
        metadata={"deal_id": deal.id, "contact_id": contact.id},
    )
    intent = await container.payments().create_payment_intent(request)
    container.fake_payments().pay(intent.id)
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": 15000,
        "amount_received": 15000,
        "currency": "ron",
        "status": "succeeded",
        "metadata": {"deal_id": deal.id, "contact_id": contact.id},
    }


async def _deliver_webhook(container: Container, intent: dict[str, Any]) -> None:
    event = {
        "id": EVENT_ID,
        "object": "event",
        "api_version": "2023-10-16",
        "created": int(time.time()),
        "data": {"object": intent},
        "livemode": False,
        "type": "payment_intent.succeeded",
    }
    body = json.dumps(event).encode()
    headers = sign_stripe(body, DEV_SECRETS["stripe"]["secret"])
    app = create_webhook_app(container, prefix="/webhooks")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hooks.example") as http:
        answer = await http.post("/webhooks/stripe", content=body, headers=headers)
    assert answer.json()["processed"] == 1


async def test_the_receipt_delivered_later_links_to_the_stripe_webhook(
    otel: Recorded, kept: _Kept, tmp_path: Path
) -> None:
    """Webhook span -> stored context -> another container's relay -> linked deliver span."""
    path = tmp_path / "outbox.sqlite3"
    webhook_side = _container(path)
    await _deliver_webhook(webhook_side, await _paid_intent(webhook_side))
    await webhook_side.outbox().close()
    (webhook,) = otel.finished("POST /webhooks/{provider}")
    assert otel.finished("outbox.deliver") == []  # the webhook only enqueued

    relay_side = _container(path)  # "hours later, another process": a fresh container and store
    http = httpx.AsyncClient(
        base_url=meta_cloud().base_url, transport=httpx.MockTransport(_meta_cloud)
    )
    whatsapp = WhatsAppMessaging.meta(token="test-token", phone_number_id=PHONE_ID, http=http)
    with relay_side.messaging_adapter.override(providers.Object(whatsapp)):
        relay = build_relay(relay_side.outbox(), command_ports(messaging=relay_side.messaging()))
        await relay.run(until_idle=True)  # serves messaging only: the receipt
    await relay_side.outbox().close()
    await whatsapp.aclose()

    (deliver,) = otel.finished("outbox.deliver")
    assert deliver.kind is SpanKind.CONSUMER
    assert deliver.parent is None  # a link, not a parent: the delivery is a trace of its own
    assert deliver.context.trace_id != webhook.context.trace_id
    (link,) = deliver.links
    assert link.context.trace_id == webhook.context.trace_id
    assert link.context.span_id == webhook.context.span_id  # the handler enqueued inside it
    assert otel.attributes(deliver) == {
        "portico.integration": "messaging",
        "portico.operation": "send_message",
        "portico.outbox.attempt": 1,
        "portico.outbox.lease_expired": False,
        "portico.outcome": "delivered",
    }
    (call,) = _children(otel, deliver)
    assert call.name.startswith("messaging.")
    (attempt,) = _children(otel, call)
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.name == "POST /v23.0/{id}/messages"

    (delivered,) = kept.about("): delivered")
    (sent,) = kept.about("POST /v23.0/")
    assert (delivered.name, sent.name) == ("portico.outbox.relay", "portico.http")
    for record in (delivered, sent):  # the delivery's records carry the webhook's id
        assert record.correlation_id == for_event("stripe", EVENT_ID)  # type: ignore[attr-defined]
        assert record.trace_id == format(deliver.context.trace_id, "032x")  # type: ignore[attr-defined]


def _children(otel: Recorded, span: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in otel.finished() if s.parent and s.parent.span_id == span.context.span_id]


def _receipt(n: int = 1) -> SendMessage:
    receipt = TemplateMessage(PATIENT, "payment_receipt", "en", ("150.00 RON", "consultation"))
    return SendMessage(receipt, IdempotencyKey(f"receipt-{n}"))


async def test_a_retried_delivery_is_two_linked_spans_with_their_outcomes(
    otel: Recorded, kept: _Kept, tmp_path: Path
) -> None:
    """A vendor outage: attempt 1 ``retry`` (error type, error status), attempt 2 ``delivered``."""
    clock = FakeClock()
    box = SqliteOutbox(tmp_path / "outbox.sqlite3", clock=clock)
    messaging = FakeMessaging(clock=clock)
    messaging.faults.fail_next(1, Unavailable)
    relay = OutboxRelay(
        box, CommandPorts(messaging=messaging), clock=clock, observer=OutboxDeliverySpans()
    )
    with (
        correlated("host-request-42"),
        TELEMETRY.tracer.start_as_current_span("checkout") as parent,
    ):
        await box.enqueue(_receipt())
    assert await relay.run_once() == 1
    clock.advance(60)  # past the backoff
    assert await relay.run_once() == 1
    await box.close()

    first, second = otel.finished("outbox.deliver")
    for span in (first, second):
        (link,) = span.links
        assert link.context.span_id == parent.get_span_context().span_id
    assert otel.attributes(first)["portico.outcome"] == "retry"
    assert otel.attributes(first)["portico.outbox.attempt"] == 1
    assert otel.attributes(first)["error.type"] == "Unavailable"
    assert first.status.status_code is StatusCode.ERROR
    assert otel.attributes(second)["portico.outcome"] == "delivered"
    assert otel.attributes(second)["portico.outbox.attempt"] == 2
    assert second.status.status_code is StatusCode.UNSET
    (retry,) = kept.about(": retry in ")
    assert retry.correlation_id == "host-request-42"  # type: ignore[attr-defined]
    assert retry.span_id == format(first.context.span_id, "016x")  # type: ignore[attr-defined]


class _StoreFails(SqliteOutbox):
    async def mark_delivered(self, entry: Any) -> bool:
        raise Unavailable("disk full", integration="outbox")

    async def mark_delivered_many(self, entries: Any) -> set[str]:
        raise Unavailable("disk full", integration="outbox")


async def test_a_store_failure_ends_the_span_with_outcome_error(
    otel: Recorded, tmp_path: Path
) -> None:
    """The outcome could not be recorded: ``error``, with the store error's type."""
    clock = FakeClock()
    box = _StoreFails(tmp_path / "outbox.sqlite3", clock=clock)
    relay = OutboxRelay(
        box, CommandPorts(messaging=FakeMessaging(clock=clock)), observer=OutboxDeliverySpans()
    )
    await box.enqueue(_receipt())
    assert await relay.run_once() == 1  # logged; the lease will expire
    await box.close()
    (span,) = otel.finished("outbox.deliver")
    assert span.links == ()  # enqueued outside any span: nothing to link to
    assert otel.attributes(span)["portico.outcome"] == "error"
    assert otel.attributes(span)["error.type"] == "Unavailable"
    assert span.status.status_code is StatusCode.ERROR


async def test_without_an_sdk_the_correlation_id_still_reaches_the_logs(
    kept: _Kept, tmp_path: Path
) -> None:
    """No SDK: no span, NULL trace context, and the delivery's log records keep the id."""
    clock = FakeClock()
    box = SqliteOutbox(tmp_path / "outbox.sqlite3", clock=clock)
    relay = build_relay(box, CommandPorts(messaging=FakeMessaging(clock=clock)), clock=clock)
    with correlated("no-sdk-corr"):
        entry_id = await box.enqueue(_receipt())
    stored = await box.get(entry_id)
    assert stored is not None
    assert (stored.trace_context, stored.correlation_id) == (None, "no-sdk-corr")
    await relay.run(until_idle=True)
    await box.close()
    (delivered,) = kept.about("): delivered")
    assert delivered.correlation_id == "no-sdk-corr"  # type: ignore[attr-defined]
    assert delivered.trace_id == "-"  # type: ignore[attr-defined]
