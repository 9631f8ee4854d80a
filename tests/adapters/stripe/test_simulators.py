"""The Stripe and HubSpot simulators: replay records, their faults' wording, and a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import free_port
from tests.simulators.faults import FaultInjector, FaultPlan
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.stripe import StripeSimulator, nest

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.stripe import StripePayments
from portico.domain.crm import ContactDraft
from portico.domain.errors import InvalidRequest, RateLimited, Unavailable
from portico.domain.payments import PaymentRequest, PaymentStatus
from portico.domain.values import Email, IdempotencyKey, Money


KEY = "sk_test_sim"


def _request(key: str = "k-1") -> PaymentRequest:
    return PaymentRequest(Money.of("20", "EUR"), "Visit", "P-9", IdempotencyKey(key))


@asynccontextmanager
async def _stripe(sim: StripeSimulator | FaultInjector) -> AsyncIterator[StripePayments]:
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.stripe.com") as http:
        yield StripePayments(http=http, api_key=KEY)


def test_nest_rebuilds_stripe_form_keys() -> None:
    """Nested form keys decode back into dicts and lists."""
    assert nest([("a[b][0][c]", "1"), ("a[b][1][c]", "2"), ("m[x]", "y"), ("n", "3")]) == {
        "a": {"b": [{"c": "1"}, {"c": "2"}]},
        "m": {"x": "y"},
        "n": "3",
    }


async def test_stripe_replays_a_key_and_records_what_it_applied() -> None:
    """A reused key is answered from the record with Idempotent-Replayed; one intent exists."""
    sim = StripeSimulator(api_key=KEY)
    async with _stripe(sim) as stripe:
        first = await stripe.create_payment_intent(_request())
        second = await stripe.create_payment_intent(_request())
    assert first == second
    assert len(sim.intents) == 1
    assert set(sim.applied) == {"k-1"}
    assert [r.method for r in sim.received] == ["POST", "POST"]
    assert sim.received[1].headers["idempotency-key"] == "k-1"


async def test_stripe_injected_faults_apply_nothing() -> None:
    """A 503 or 429 fault answers before the vendor logic, so nothing is created."""
    sim = StripeSimulator(api_key=KEY)
    faults = FaultInjector(sim, FaultPlan(retry_after=3))
    faults.fail_next(503, 429)
    async with _stripe(faults) as stripe:
        with pytest.raises(Unavailable) as unavailable:
            await stripe.create_payment_intent(_request())
        with pytest.raises(RateLimited) as limited:
            await stripe.create_payment_intent(_request())
        intent = await stripe.create_payment_intent(_request())
    assert unavailable.value.request_sent is False
    assert limited.value.retry_after == 3.0
    assert list(sim.intents) == [intent.id]
    assert len(sim.received) == 1
    assert (faults.counters.unavailable, faults.counters.rate_limited) == (1, 1)


async def test_hubspot_rate_limit_fault_carries_the_interval() -> None:
    """HubSpot's 429 fault has rate-limit headers the adapter turns into retry_after."""
    sim = HubSpotSimulator(token="t")
    faults = FaultInjector(sim, FaultPlan(retry_after=10))
    faults.fail_next(429)
    transport = httpx.ASGITransport(app=faults)
    async with httpx.AsyncClient(transport=transport, base_url="https://api.hubapi.com") as http:
        crm = HubSpotCRM(http=http, token="t")
        with pytest.raises(RateLimited) as caught:
            await crm.find_contact(email=Email("a@example.com"))
        contact = await crm.upsert_contact(ContactDraft(email=Email("a@example.com")))
    assert caught.value.retry_after == 10.0
    assert list(sim.objects["contacts"]) == [contact.id]


async def test_the_stripe_simulator_serves_a_real_socket_with_uvicorn() -> None:
    """The same simulator object runs under uvicorn on loopback (for chaos tests, benchmarks)."""
    sim = StripeSimulator(api_key=KEY)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(sim, host="127.0.0.1", port=port, log_level="error"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        payments = StripePayments.connect(KEY, base_url=f"http://127.0.0.1:{port}")
        try:
            intent = await payments.create_payment_intent(_request())
            sim.pay(intent.id)
            paid: Any = await payments.get_payment_intent(intent.id)
        finally:
            await payments.aclose()
    finally:
        server.should_exit = True
        await task
    assert paid.status is PaymentStatus.SUCCEEDED


async def test_stripe_keeps_business_errors_but_not_validation_errors_per_key() -> None:
    """A refused amount (validation) is not kept under its key; a fixed retry can succeed."""
    sim = StripeSimulator(api_key=KEY)
    async with _stripe(sim) as stripe:
        too_small = PaymentRequest(Money(1, "EUR"), "Visit", "P-9", IdempotencyKey("k-2"))
        with pytest.raises(InvalidRequest):
            await stripe.create_payment_intent(too_small)
        assert "k-2" not in sim.applied
        intent = await stripe.create_payment_intent(_request("k-2"))
    assert sim.applied["k-2"].reply.json()["id"] == intent.id
