"""Subscribing services to the ingress, the opt-out flag, and reading the counters document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from portico.adapters.fakes import FakeMessaging
from portico.adapters.resilience import BreakerRegistry, ResilientMessaging, build_pipeline
from portico.adapters.whatsapp import DeliveryStatusLog, WhatsAppMessaging
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.entrypoints.webhook_counters import fetch_webhook_counters, rows_from_snapshot
from portico.app.wiring.settings import Settings, load_settings
from portico.app.wiring.subscriptions import (
    RecordMessageStatus,
    build_subscribed_ingress,
    status_log_of,
    subscribe,
)
from portico.domain.errors import ConfigurationError
from portico.domain.events import DomainEvent, MessageStatusChanged, PaymentSucceeded
from portico.domain.messaging import DeliveryStatus


NOW = datetime(2025, 6, 1, tzinfo=UTC)
MEMORY = {"webhooks": {"replay": "memory"}}


def _settings(config: dict[str, Any] | None) -> Settings:
    return load_settings(config, env={})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, True), ("", True), (True, True), (False, False), ("false", False), (" NO ", False),
     ("1", True), ("on", True), ("0", False)],
)  # fmt: skip
def test_flag_accepts_booleans_and_environment_strings(value, expected):
    """webhooks.subscribe_services defaults to true and reads yes/no/true/false/1/0/on/off."""
    config = {"webhooks": {"subscribe_services": value}}
    assert _settings(config).webhooks.subscribe_services is expected


def test_the_flag_comes_from_its_environment_variable():
    """PORTICO_WEBHOOKS__SUBSCRIBE_SERVICES=false turns the subscriptions off."""
    settings = load_settings(env={"PORTICO_WEBHOOKS__SUBSCRIBE_SERVICES": "false"})
    assert settings.webhooks.subscribe_services is False


def test_flag_refuses_anything_else_naming_the_setting():
    """A value that is not a boolean is a ConfigurationError naming the key, not a guess."""
    with pytest.raises(
        ConfigurationError,
        match=r"webhooks\.subscribe_services: .*\(PORTICO_WEBHOOKS__SUBSCRIBE_SERVICES\)",
    ):
        _settings({"webhooks": {"subscribe_services": "maybe"}})


def test_no_webhooks_section_means_subscribed():
    """Without a webhooks section (or config at all) services are subscribed."""
    assert _settings(None).webhooks.subscribe_services is True
    assert _settings({"webhooks": None}).webhooks.subscribe_services is True


async def test_status_log_found_through_the_resilience_decorator():
    """The log of an adapter wrapped in ResilientMessaging is found via ``inner``."""
    adapter = WhatsAppMessaging.meta(token="t", phone_number_id="1", http=httpx.AsyncClient())
    pipeline = build_pipeline(
        "whatsapp", _settings(None).policy("whatsapp"), registry=BreakerRegistry()
    )
    wrapped = ResilientMessaging.around(adapter, pipeline)
    assert status_log_of(wrapped) is adapter.status_log
    await adapter.aclose()
    assert status_log_of(FakeMessaging()) is None
    assert status_log_of(None) is None


class _Service:
    """A service subscribed to PaymentSucceeded that records what it saw."""

    def __init__(self) -> None:
        self.seen: list[DomainEvent] = []

    async def on_paid(self, event: PaymentSucceeded) -> None:
        self.seen.append(event)

    def subscriptions(self) -> tuple[Any, ...]:
        return ((PaymentSucceeded, self.on_paid),)


def test_subscribe_registers_every_pair_and_the_recorder():
    """subscribe() counts each service pair plus the status recorder."""
    ingress = build_subscribed_ingress(
        _settings({"webhooks": {"replay": "memory", "subscribe_services": False}}),
        services=[],
        messaging=lambda: None,
    )
    assert subscribe(ingress, [_Service(), _Service()], status_log=DeliveryStatusLog()) == 3
    assert subscribe(ingress, []) == 0


def test_opted_out_services_are_never_built():
    """With the flag off, the service factories and the messaging adapter are not called."""

    def boom() -> Any:
        raise AssertionError("built although opted out")

    config = {"webhooks": {"replay": "memory", "subscribe_services": "off"}}
    ingress = build_subscribed_ingress(_settings(config), services=[boom], messaging=boom)
    assert ingress.providers


async def test_recorder_moves_the_log_forward_only():
    """A status webhook advances the log; a late, lower status does not undo it."""
    log = DeliveryStatusLog()
    record = RecordMessageStatus(log)

    def event(status: DeliveryStatus) -> MessageStatusChanged:
        return MessageStatusChanged(
            event_id=f"wamid.X:{status.value}",
            provider="whatsapp",
            occurred_at=NOW,
            message_id="wamid.X",
            status=status,
        )

    await record(event(DeliveryStatus.READ))
    await record(event(DeliveryStatus.DELIVERED))
    assert log.get("wamid.X") is DeliveryStatus.READ
    assert "wamid" not in repr(record)


async def test_counters_document_served_and_parsed():
    """GET /healthz/webhooks answers the snapshot; POST there is 405."""
    ingress = build_subscribed_ingress(_settings(MEMORY), services=[], messaging=object)
    transport = httpx.ASGITransport(app=create_webhook_app(ingress))
    rows = await fetch_webhook_counters("http://portico.test/", transport=transport)
    assert [row.provider for row in rows] == list(ingress.providers)
    assert all(row.received == 0 for row in rows)
    async with httpx.AsyncClient(transport=transport, base_url="http://portico.test") as client:
        assert (await client.post("/healthz/webhooks")).status_code == 405
        assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("snapshot", "field"),
    [
        ({"stripe": []}, "providers.stripe must be an object"),
        ({"stripe": {"received": -1}}, "providers.stripe.received"),
        ({"stripe": {"processed": "3"}}, "providers.stripe.processed"),
        ({"stripe": {"duplicates": True}}, "providers.stripe.duplicates"),
        ({"stripe": {"rejected": [1]}}, "providers.stripe.rejected must be an object"),
        ({"stripe": {"rejected": {"invalid_signature": 1.5}}}, "providers.stripe.rejected"),
        ({"": {}}, "not a provider name"),
    ],
)
def test_malformed_counters_name_the_field(snapshot, field):
    """A counters document of the wrong shape is a ValueError naming the field, never KeyError."""
    with pytest.raises(ValueError, match=field):
        rows_from_snapshot(snapshot)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(404, json={"error": "not found"}), "answered HTTP 404"),
        (httpx.Response(200, content=b"<html>"), "did not answer JSON"),
        (httpx.Response(200, json=[1, 2]), "providers is missing"),
        (httpx.Response(200, json={"status": "ok"}), "providers is missing"),
    ],
)
async def test_fetch_refuses_a_server_that_is_not_an_ingress(answer, message):
    """Another service on the port gives a clear ValueError, not a crash."""
    transport = httpx.MockTransport(lambda _request: answer)
    with pytest.raises(ValueError, match=message):
        await fetch_webhook_counters("http://elsewhere.test", transport=transport)
