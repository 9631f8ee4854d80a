"""``create_container(clock=...)``: one time source reaches everything the container builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portico import Container, create_container
from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import Pipeline
from portico.adapters.webhooks.signers import sign_stripe
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.webhooks import DEV_SECRETS
from portico.domain.commands import SendMessage
from portico.domain.failed_events import FailedEvent
from portico.domain.messaging import DeliveryStatus, TemplateMessage
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
    assert entry is not None
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


def _failed_event() -> FailedEvent:
    return FailedEvent(
        provider="stripe",
        event_id="evt_1",
        event_type="payment_intent.succeeded",
        handler="PaymentCollection.on_payment_succeeded",
        error="InvalidValue",
        reason="InvalidValue: amount",
        first_failed_at=1.0,
        last_failed_at=1.0,
    )


SANDBOX = {
    "environment": "sandbox",
    "messaging": {"provider": "whatsapp"},
    "crm": {"provider": "hubspot"},
    "voice": {"provider": "vapi"},
    "whatsapp": {"token": "EAAG-sandbox-token", "phone_number_id": "106540352242922"},
    "hubspot": {"token": "pat-na1-sandbox-token"},
    "vapi": {
        "api_key": "vapi-sandbox-key",
        "phone_number_id": "5a0e1b52-0000-4000-8000-0000000001",
    },
    "webhooks": {
        "stripe": {"secret": "whsec_sandbox_secret"},
        "hubspot": {"client_secret": "hubspot-sandbox-secret"},
        "twilio": {"auth_token": "twilio-sandbox-token"},
        "vapi": {"secret": "vapi-sandbox-secret"},
    },
}


async def test_vendor_adapters_built_from_their_specs_read_the_clock(tmp_path: Path) -> None:
    """Outside fake, the spec-built HubSpot and Vapi adapters and the verifiers and parsers of
    every configured webhook provider get the container's clock (through `BuildContext`)."""
    clock = FakeClock()
    container = create_container({**SANDBOX, "data_dir": str(tmp_path)}, env={}, clock=clock)
    try:
        assert container.crm_adapter().clock is clock
        assert container.voice_adapter().clock is clock
        endpoints = container.webhook_ingress().endpoints
        for provider in ("stripe", "hubspot", "vapi"):
            assert endpoints[provider].verifier.clock is clock  # type: ignore[attr-defined]
        for provider in ("twilio", "vapi"):
            assert endpoints[provider].parser._clock is clock  # type: ignore[attr-defined]
    finally:
        await aclose_container(container)


async def test_the_status_store_and_failed_log_stamp_on_the_clock(tmp_path: Path) -> None:
    """The SQLite status store's retention and the failed-event log's ``resolved_at`` follow
    the container's clock, not the system's."""
    clock = FakeClock()
    container = create_container({**SANDBOX, "data_dir": str(tmp_path)}, env={}, clock=clock)
    try:
        store = container.status_store()
        await store.record("wamid.1", DeliveryStatus.SENT)
        assert await store.get("wamid.1") is DeliveryStatus.SENT
        clock.advance(31 * 24 * 3600)  # past the 30-day retention, on the fake clock only
        assert await store.get("wamid.1") is None
        log = container.webhook_ingress().failed_log
        assert log is not None
        record = await log.record(_failed_event())
        await log.resolve(record.id)
        resolved = await log.get(record.id)
        assert resolved is not None
        assert resolved.resolved_at == clock.now().timestamp()
    finally:
        await aclose_container(container)
