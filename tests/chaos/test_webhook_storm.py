"""
Webhook storm: 10,000 Stripe deliveries from concurrent clients into the webhook app on uvicorn.

A third are redeliveries, 5% forgeries, 1% malformed, and the host's handler fails the first
time for 1% of the events. Like Stripe, a client redelivers on any 5xx. Proof: no forgery
dispatched, every genuine event dispatched exactly once with its genuine amount, and no 5xx
except the handler failures. Size: ``PORTICO_STORM_DELIVERIES`` (default 10,000, the issue's).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stripe.parser import StripeParser
from portico.adapters.stripe.verifier import StripeWebhookVerifier
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookEndpoint, WebhookIngress
from portico.domain.events import PaymentSucceeded
from tests.chaos.storm import Delivery, amount_of, plan_storm
from tests.simulators.server import serve


pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

DELIVERIES = int(os.environ.get("PORTICO_STORM_DELIVERIES", "10000"))
SECRET = "whsec_storm_secret"
CLIENTS = 16
REDELIVERIES = 5


class Host:
    """The host application's handler: records each event; fails once for chosen events."""

    def __init__(self, fail_once: set[str]) -> None:
        self.fail_once = set(fail_once)
        self.failed: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()
        self.amounts: dict[str, int] = {}

    async def on_payment(self, event: PaymentSucceeded) -> None:
        """Record the payment, or fail the first time for an event chosen to fail."""
        if event.event_id in self.fail_once:
            self.fail_once.discard(event.event_id)
            self.failed[event.event_id] += 1
            msg = "the host's database is busy"
            raise RuntimeError(msg)
        self.seen[event.event_id] += 1
        self.amounts[event.event_id] = event.amount.amount_minor


@pytest.fixture(name="storm")
def _storm() -> list[Delivery]:
    """The seeded storm."""
    return plan_storm(DELIVERIES, secret=SECRET, seed=2024)


@pytest.fixture(name="host")
def _host(storm: list[Delivery]) -> Host:
    """A handler that fails once for 1% of the genuine events."""
    genuine = sorted({d.event_id for d in storm if d.kind == "valid"})
    return Host(set(random.Random(7).sample(genuine, k=max(1, len(genuine) // 100))))


@pytest.fixture(name="server")
def _server(host: Host) -> Iterator[tuple[str, WebhookIngress]]:
    """The webhook app (Stripe verifier and parser, in-memory replay store) on uvicorn."""
    ingress = WebhookIngress(
        {"stripe": WebhookEndpoint(StripeWebhookVerifier(SECRET), StripeParser())},
        replay_store=MemoryReplayStore(),
    )
    ingress.on(PaymentSucceeded, host.on_payment)
    with serve(create_webhook_app(ingress)) as url:
        yield url, ingress


async def send_all(url: str, storm: list[Delivery]) -> list[tuple[Delivery, list[int]]]:
    """Send from concurrent clients, redelivering on 5xx; each delivery's statuses in order."""
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in storm:
        queue.put_nowait(delivery)
    results: list[tuple[Delivery, list[int]]] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            while not queue.empty():
                delivery = queue.get_nowait()
                statuses: list[int] = []
                for _ in range(REDELIVERIES):
                    headers = {**delivery.headers, "content-type": "application/json"}
                    response = await http.post("/stripe", content=delivery.body, headers=headers)
                    statuses.append(response.status_code)
                    if response.status_code < 500:
                        break
                results.append((delivery, statuses))

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return results


async def test_storm_dispatches_each_genuine_event_once_and_no_forgery(
    storm: list[Delivery], host: Host, server: tuple[str, WebhookIngress]
) -> None:
    """Forged and malformed deliveries are refused; each genuine event is dispatched once."""
    url, ingress = server
    chosen_to_fail = set(host.fail_once)
    results = await send_all(url, storm)
    assert len(results) == len(storm)

    final = Counter((d.kind, statuses[-1]) for d, statuses in results)
    kinds = Counter(d.kind for d in storm)
    assert final[("forged", 401)] == kinds["forged"]
    assert final[("tampered", 401)] == kinds["tampered"]
    assert final[("malformed", 400)] == kinds["malformed"]
    assert final[("valid", 200)] + final[("duplicate", 200)] == kinds["valid"] + kinds["duplicate"]

    # The only 5xx answers are the handler failures, one per event chosen to fail.
    server_errors = Counter(s for _, statuses in results for s in statuses if s >= 500)
    assert server_errors == Counter({500: len(chosen_to_fail)})
    assert set(host.failed) == chosen_to_fail

    # Every genuine event dispatched exactly once, with its genuine amount; no forgery at all.
    genuine = {d.event_id for d in storm if d.kind == "valid"}
    assert set(host.seen) == genuine
    assert max(host.seen.values()) == 1
    for event_id, amount in host.amounts.items():
        assert amount == amount_of(int(event_id[-8:]))
    counters = ingress.counters("stripe")
    assert counters.processed == len(genuine)
    assert counters.rejected["invalid_signature"] == kinds["forged"] + kinds["tampered"]
