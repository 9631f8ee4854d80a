"""``create_container(clock=...)``: one time source reaches everything the container builds."""

from __future__ import annotations

import json

import pytest

from portico import Container, create_container
from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import Pipeline
from portico.adapters.webhooks.signers import sign_stripe
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.commands import SendMessage
from portico.domain.messaging import TemplateMessage
from portico.domain.time import SYSTEM_CLOCK, Clock
from portico.domain.webhooks import ClaimOutcome, WebhookRequest


CONFIG = {"outbox": {"path": ":memory:"}, "webhooks": {"replay": {"kind": "memory"}}}
PIPELINES = ("messaging_pipeline", "crm_pipeline", "payments_pipeline", "voice_pipeline")
FAKES = ("fake_messaging", "fake_crm", "fake_payments", "fake_voice")


def _clocks_of(pipeline: Pipeline) -> list[Clock]:
    """The clock of the pipeline and of every policy in it."""
    policies = (
        pipeline.breaker,
        pipeline.retry,
        pipeline.bulkhead,
        pipeline.limiter,
        pipeline.timeout,
    )
    assert None not in policies  # the defaults enable every policy
    return [pipeline.clock, *(policy.clock for policy in policies if policy is not None)]


def _everything(container: Container) -> list[Clock]:
    """Every clock the container's fakes, pipelines, services and verifiers read."""
    clocks: list[Clock] = [getattr(container, name)().clock for name in FAKES]
    for name in PIPELINES:
        clocks.extend(_clocks_of(getattr(container, name)()))
    clocks.append(container.payment_collection().clock)
    ingress = container.webhook_ingress()
    clocks.append(ingress.clock)
    clocks.append(ingress.recent_failures.clock)
    for provider in ("stripe", "hubspot", "vapi"):
        clocks.append(ingress.endpoints[provider].verifier.clock)  # type: ignore[attr-defined]
    return clocks


def test_the_clock_given_reaches_every_fake_policy_service_and_verifier() -> None:
    """Fakes, each pipeline's policies, payment collection and the verifiers share the clock."""
    clock = FakeClock()
    container = create_container(CONFIG, env={}, clock=clock)
    assert container.clock() is clock
    assert all(each is clock for each in _everything(container))


def test_without_a_clock_everything_reads_the_system_clock() -> None:
    """The default is SYSTEM_CLOCK, everywhere."""
    container = create_container(CONFIG, env={})
    assert all(each is SYSTEM_CLOCK for each in _everything(container))


async def test_the_outbox_and_relay_keep_the_container_time() -> None:
    """An enqueued command is stamped, and a delayed one falls due, on the given clock."""
    clock = FakeClock()
    container = create_container(CONFIG, env={}, clock=clock)
    outbox = container.outbox()
    entry_id = await outbox.enqueue(SendMessage(TemplateMessage("+40712345678", "t")), delay=90)
    entry = await outbox.get(entry_id)
    assert entry.enqueued_at == clock.now().timestamp()
    assert entry.available_at == entry.enqueued_at + 90
    relay = container.relay()
    assert await relay.run_once() == 0  # not due yet on the fake clock
    clock.advance(90)
    assert await relay.run_once() == 1
    assert container.fake_messaging().sent_to("+40712345678")
    await outbox.close()


@pytest.mark.parametrize(("wait", "status"), [(0, 200), (299, 200), (301, 401)])
async def test_a_delivery_signed_on_the_clock_ages_on_it(wait: float, status: int) -> None:
    """Signed with the fake clock, a delivery verifies until the clock passes the tolerance."""
    clock = FakeClock()
    container = create_container(CONFIG, env={}, clock=clock)
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "customer.created",
        "created": int(clock.now().timestamp()),
        "data": {"object": {}},
    }
    body = json.dumps(event).encode()
    headers = sign_stripe(body, DEV_SECRETS["stripe"]["secret"], clock=clock)
    clock.advance(wait)
    request = WebhookRequest("POST", "https://hooks.example.org/webhooks/stripe", headers, body)
    response = await container.webhook_ingress().handle("stripe", request)
    assert response.status == status


async def test_the_replay_store_times_its_leases_on_the_clock() -> None:
    """A claim's lease runs out when the container's clock passes it, not the real one."""
    clock = FakeClock()
    store = create_container(CONFIG, env={}, clock=clock).replay_store()
    assert (await store.claim("k", lease_seconds=10)).outcome is ClaimOutcome.CLAIMED
    assert (await store.claim("k", lease_seconds=10)).outcome is ClaimOutcome.IN_FLIGHT
    clock.advance(11)
    assert (await store.claim("k", lease_seconds=10)).outcome is ClaimOutcome.CLAIMED
