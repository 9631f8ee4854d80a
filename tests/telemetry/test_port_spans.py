"""
Issue 16: a span per port call, a child span per HTTP attempt, retries and rejections as events,
and the call metrics, recorded by an in-memory SDK.
"""

from __future__ import annotations

import httpx
import pytest
import respx
from opentelemetry.trace import SpanKind, StatusCode

from portico.adapters.resilience import (
    CircuitBreaker,
    ResiliencePolicy,
    ResilientPayments,
    build_pipeline,
)
from portico.adapters.stripe import StripePayments
from portico.adapters.telemetry import TELEMETRY, url_template
from portico.domain.errors import CircuitOpenError, InvalidRequest
from portico.domain.payments import PaymentRequest
from portico.domain.values import IdempotencyKey, Money
from tests.telemetry.conftest import Recorded


API = "https://api.stripe.com"
INTENT = {
    "id": "pi_3Abc123",
    "object": "payment_intent",
    "amount": 2000,
    "amount_received": 0,
    "currency": "eur",
    "status": "requires_payment_method",
    "metadata": {"patient_ref": "P-1"},
}


def _request() -> PaymentRequest:
    return PaymentRequest(Money.of("20", "EUR"), "Visit", "P-1", IdempotencyKey("k-1"))


def _payments(http: httpx.AsyncClient, *, attempts: int = 3) -> ResilientPayments:
    policy = ResiliencePolicy(retry_attempts=attempts, retry_base_delay=0.0, retry_max_delay=0.0)
    pipeline = build_pipeline("stripe", policy)
    return ResilientPayments(StripePayments(http=http, api_key="sk_test_x"), pipeline)


@respx.mock
async def test_a_port_call_is_a_span_with_its_http_attempts_as_children(otel: Recorded) -> None:
    """payments.create_payment_intent, then its POST, with retries as events on the port span."""
    route = respx.post(f"{API}/v1/payment_intents")
    route.side_effect = [
        httpx.Response(503, json={"error": {"type": "api_error", "message": "down"}}),
        httpx.Response(503, json={"error": {"type": "api_error", "message": "down"}}),
        httpx.Response(200, json=INTENT),
    ]
    async with httpx.AsyncClient(base_url=API) as http:
        await _payments(http).create_payment_intent(_request())

    (call,) = otel.finished("payments.create_payment_intent")
    attempts = otel.finished("POST /v1/payment_intents")
    assert len(attempts) == 3
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert all(a.kind is SpanKind.CLIENT for a in attempts)
    first = otel.attributes(attempts[0])
    assert [otel.attributes(a)["http.response.status_code"] for a in attempts] == [503, 503, 200]
    assert first["server.address"] == "api.stripe.com"
    assert first["url.template"] == "/v1/payment_intents"
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert otel.attributes(call) == {
        "portico.integration": "stripe",
        "portico.operation": "create_payment_intent",
        "portico.outcome": "success",
        "portico.attempts": 3,
        "portico.breaker.state": "closed",
        "portico.outcome_unknown": False,
    }
    retries = [e for e in call.events if e.name == "retry"]
    assert [otel.attributes(e)["portico.attempt"] for e in retries] == [1, 2]
    assert {otel.attributes(e)["error.type"] for e in retries} == {"Unavailable"}

    calls = otel.points("portico.calls")
    assert ({"portico.integration": "stripe", "portico.operation": "create_payment_intent",
             "portico.outcome": "success"}, 1) in calls  # fmt: skip
    (retried,) = otel.points("portico.retries")
    assert retried[1] == 2
    (duration,) = otel.points("portico.call.duration")
    assert duration[0]["portico.outcome"] == "success"


@respx.mock
async def test_a_refusal_carries_the_vendor_code_but_no_message(otel: Recorded) -> None:
    """A 400's error type, status and code are attributes; its message (may quote data) is not."""
    respx.post(f"{API}/v1/payment_intents").respond(
        400,
        json={"error": {"type": "card_error", "code": "card_declined", "message": "for Ana P."}},
    )
    async with httpx.AsyncClient(base_url=API) as http:
        with pytest.raises(InvalidRequest):
            await _payments(http).create_payment_intent(_request())
    (call,) = otel.finished("payments.create_payment_intent")
    attributes = dict(call.attributes or {})
    assert attributes["portico.outcome"] == "permanent"
    assert attributes["error.type"] == "InvalidRequest"
    assert attributes["portico.vendor_code"] == "card_declined"
    assert attributes["http.response.status_code"] == 400
    assert call.status.status_code is StatusCode.ERROR
    assert "Ana" not in repr(attributes)
    assert not call.events  # a permanent error is not retried


async def test_an_open_circuit_rejects_with_an_event_and_sends_nothing(otel: Recorded) -> None:
    """The rejection is a span (outcome rejected) with a rejected event, and no HTTP child."""
    pipeline = build_pipeline("stripe", ResiliencePolicy())
    breaker: CircuitBreaker = pipeline.breaker
    breaker.force_open()
    async with httpx.AsyncClient(base_url=API) as http:
        payments = ResilientPayments(StripePayments(http=http, api_key="sk_test_x"), pipeline)
        with pytest.raises(CircuitOpenError):
            await payments.create_payment_intent(_request())
    (call,) = otel.finished("payments.create_payment_intent")
    assert call.attributes is not None
    assert call.attributes["portico.outcome"] == "rejected"
    assert call.attributes["portico.breaker.state"] == "forced_open"
    assert [e.name for e in call.events] == ["rejected"]
    assert otel.finished("POST /v1/payment_intents") == []


async def test_breaker_transitions_are_counted(otel: Recorded) -> None:
    """Forcing a breaker open and clearing it are two transitions in the counter."""
    pipeline = build_pipeline("hubspot", ResiliencePolicy())
    pipeline.breaker.force_open()
    pipeline.breaker.reset()
    moves = {(a["from"], a["to"]): v for a, v in otel.points("portico.breaker.transitions")}
    assert moves == {("closed", "forced_open"): 1, ("forced_open", "closed"): 1}


def test_without_an_sdk_nothing_is_observed() -> None:
    """The API alone is a no-op and Portico's instrumented paths stay off."""
    assert not TELEMETRY.observing


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/v1/payment_intents/pi_3Abc123/cancel", "/v1/payment_intents/{id}/cancel"),
        (
            "/2010-04-01/Accounts/AC0123456789/Messages.json",
            "/2010-04-01/Accounts/{id}/Messages.json",
        ),
        ("/v21.0/106540352242922/messages", "/v21.0/{id}/messages"),
        ("/crm/v3/objects/contacts/42?idProperty=phone", "/crm/v3/objects/contacts/{id}"),
        ("/call/5f1e2d3c-4b5a-6978-8899-aabbccddeeff", "/call/{id}"),
        ("/crm/v3/objects/contacts/batch/upsert", "/crm/v3/objects/contacts/batch/upsert"),
    ],
)
def test_url_templates_keep_no_ids_or_queries(path: str, template: str) -> None:
    """Ids (digits in a segment) become {id}; versions and names stay; the query goes."""
    assert url_template(path) == template


def test_outbox_gauges_report_the_latest_status(otel: Recorded) -> None:
    """Pending, in flight, dead and the oldest pending age per integration; none when unread."""
    from portico.adapters.telemetry import observe_outbox
    from portico.domain.outbox import IntegrationBacklog, OutboxStatus

    latest: list[OutboxStatus | None] = [
        OutboxStatus(
            now=100.0,
            integrations=(
                IntegrationBacklog(
                    "whatsapp", pending=3, in_flight=1, dead=2, oldest_pending_at=40.0
                ),
                IntegrationBacklog("hubspot", dead=1),
            ),
        )
    ]
    observe_outbox(TELEMETRY, lambda: latest[0])
    pending = {a["portico.integration"]: v for a, v in otel.points("portico.outbox.pending")}
    assert pending == {"whatsapp": 3, "hubspot": 0}
    dead = {a["portico.integration"]: v for a, v in otel.points("portico.outbox.dead")}
    assert dead == {"whatsapp": 2, "hubspot": 1}
    assert otel.points("portico.outbox.in_flight")[0][1] == 1
    (age,) = otel.points("portico.outbox.oldest_pending.age")
    assert age == ({"portico.integration": "whatsapp"}, 60.0)
    latest[0] = None
    assert otel.points("portico.outbox.pending") == []
