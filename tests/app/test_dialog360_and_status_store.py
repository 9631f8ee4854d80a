"""
360dialog's inbound path over the ASGI app, and the status store shared by sender and webhooks.

The sender, the webhook server and a later reader each open their own store on one SQLite file,
as separate processes would; statuses recorded by one are read by the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from portico.adapters.whatsapp import DIALOG360, MemoryDeliveryStatusStore, WhatsAppMessaging
from portico.adapters.whatsapp.status_redis import RedisDeliveryStatusStore
from portico.adapters.whatsapp.status_sqlite import SQLiteDeliveryStatusStore
from portico.adapters.whatsapp.verifier import body_hmac_sha256_hex
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookIngress
from portico.app.wiring.container import create_container
from portico.app.wiring.lifecycle import aclose_container
from portico.app.wiring.settings import load_settings
from portico.app.wiring.stores import build_status_store
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress, close_webhook_ingress
from portico.domain.errors import ConfigurationError, NotFound
from portico.domain.events import MessageReceived, MessageStatusChanged
from portico.domain.messaging import DeliveryStatus, TextMessage
from portico.domain.values import PhoneNumber


SECRET = "d360-platform-secret-for-tests"
PATIENT = PhoneNumber.parse("+40721234567")


def _config(path: Path, **extra: Any) -> dict[str, Any]:
    """A production configuration: 360dialog sends, its webhooks, a shared status file."""
    return {
        "environment": "production",
        "messaging_provider": "360dialog",
        "d360_api_key": "d360-api-key",
        "messaging": {"status_store": {"kind": "sqlite", "path": str(path)}},
        "webhooks": {"replay": "memory", "360dialog": {"platform_secret": SECRET}},
        **extra,
    }


def _envelope(value: dict[str, Any]) -> bytes:
    """360dialog forwards the Cloud API JSON as Meta sends it."""
    value = {"messaging_product": "whatsapp", **value}
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1022901", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def _status(message_id: str, status: str) -> bytes:
    now = str(int(time.time()))
    item = {"id": message_id, "status": status, "timestamp": now, "recipient_id": PATIENT.digits}
    return _envelope({"statuses": [item]})


def _inbound(message_id: str, text: str) -> bytes:
    message = {
        "from": PATIENT.digits,
        "id": message_id,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    return _envelope({"messages": [message]})


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-360dialog-signature": body_hmac_sha256_hex(secret, body),
    }


@pytest.fixture(name="client")
async def _client(ingress: WebhookIngress) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client over the ASGI webhook app."""
    transport = httpx.ASGITransport(app=create_webhook_app(ingress))
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as client:
        yield client
    await close_webhook_ingress(ingress)


@pytest.fixture(name="ingress")
def _ingress(tmp_path: Path) -> WebhookIngress:
    """The production ingress with only a 360dialog section."""
    return build_webhook_ingress(_config(tmp_path / "s.sqlite3"), environment="production")


async def test_signed_360dialog_delivery_is_processed_as_360dialog_events(ingress, client):
    """A delivery signed with the platform secret becomes events whose provider is 360dialog."""
    seen: list[Any] = []

    async def handler(event: MessageReceived | MessageStatusChanged) -> None:
        seen.append(event)

    ingress.on(MessageReceived, handler)
    ingress.on(MessageStatusChanged, handler)
    body = _inbound("wamid.IN1", "Hello")
    response = await client.post("/360dialog", content=body, headers=_signed(body))
    assert response.status_code == 200
    assert response.json()["processed"] == 1
    again = await client.post("/360dialog", content=body, headers=_signed(body))
    assert again.json()["duplicate"] is True
    status = _status("wamid.OUT1", "delivered")
    await client.post("/360dialog", content=status, headers=_signed(status))
    assert [(type(e).__name__, e.provider) for e in seen] == [
        ("MessageReceived", "360dialog"),
        ("MessageStatusChanged", "360dialog"),
    ]
    assert seen[0].message.sender == PATIENT


@pytest.mark.parametrize(
    "headers",
    [
        _signed(b"another body"),
        _signed(_inbound("wamid.F", "Hi"), secret="not-the-secret"),
        {"x-360dialog-signature": "sha256=" + "0" * 64},
        {},
    ],
    ids=["other-body", "wrong-secret", "zero-mac", "unsigned"],
)
async def test_forged_360dialog_delivery_is_401(ingress, client, headers):
    """A wrong or missing signature is answered 401 and nothing is processed."""
    body = _inbound("wamid.F", "Hi")
    response = await client.post("/360dialog", content=body, headers=headers)
    assert response.status_code == 401
    assert SECRET not in response.text
    assert ingress.snapshot()["360dialog"]["processed"] == 0


def test_fake_environment_serves_360dialog_with_the_dev_secret():
    """Out of the box (environment fake) /webhooks/360dialog exists, signed with DEV_SECRETS."""
    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    assert "360dialog" in ingress.providers
    assert DEV_SECRETS["360dialog"]["platform_secret"]


def test_production_needs_the_secret_and_refuses_the_dev_one(tmp_path):
    """Outside fake, the 360dialog section needs platform_secret and refuses the published one."""
    with pytest.raises(ConfigurationError, match=r"webhooks\.360dialog\.platform_secret"):
        build_webhook_ingress({"webhooks": {"360dialog": {"x": "1"}}}, environment="production")
    dev = {"webhooks": {"360dialog": dict(DEV_SECRETS["360dialog"])}}
    with pytest.raises(ConfigurationError, match="development secret"):
        build_webhook_ingress(dev, environment="production")
    other = {"webhooks": {"replay": "memory", "stripe": {"secret": "whsec_x"}}}
    assert "360dialog" not in build_webhook_ingress(other, environment="production").providers


# ------------------------------------------------------------------ one store, many processes


def _accepting(request: httpx.Request) -> httpx.Response:
    """360dialog accepting a message."""
    assert request.headers["D360-API-KEY"] == "d360-api-key"
    return httpx.Response(200, json={"messages": [{"id": "wamid.SHARED1"}]})


async def test_a_status_webhook_reaches_the_sender_in_another_process(tmp_path):
    """Sent by one process, reported to the webhook server, read by a restarted sender."""
    path = tmp_path / "portico-status.sqlite3"
    config = _config(path)
    http = httpx.AsyncClient(base_url=DIALOG360.base_url, transport=httpx.MockTransport(_accepting))
    sender = WhatsAppMessaging.dialog360(
        api_key="d360-api-key", http=http, status_log=SQLiteDeliveryStatusStore(path)
    )
    receipt = await sender.send(TextMessage(PATIENT, "Your appointment is at 10:00"))
    assert receipt.status is DeliveryStatus.QUEUED
    await sender.aclose()

    # The webhook server: its own container (messaging adapter, status store, ingress), built
    # from the same configuration; the ingress records statuses into the adapter's store.
    server = create_container(config, env={})
    ingress = server.webhook_ingress()
    transport = httpx.ASGITransport(app=create_webhook_app(ingress))
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as client:
        for status in ("read", "delivered"):  # out of order: read wins
            body = _status("wamid.SHARED1", status)
            response = await client.post("/360dialog", content=body, headers=_signed(body))
            assert response.json()["processed"] == 1
    await close_webhook_ingress(ingress)
    await aclose_container(server)

    restarted = create_container(config, env={})  # the sender again, after a restart
    reader = restarted.messaging_adapter()
    try:
        assert (await reader.get_status("wamid.SHARED1")).status is DeliveryStatus.READ
        with pytest.raises(NotFound, match="status store"):
            await reader.get_status("wamid.NEVER")
    finally:
        await aclose_container(restarted)


async def test_a_failing_store_does_not_fail_an_accepted_send(tmp_path, caplog):
    """When the store cannot record, the send still answers QUEUED (a raise would resend)."""
    store = SQLiteDeliveryStatusStore(tmp_path / "s.sqlite3")
    await store.close()
    http = httpx.AsyncClient(base_url=DIALOG360.base_url, transport=httpx.MockTransport(_accepting))
    sender = WhatsAppMessaging.dialog360(api_key="d360-api-key", http=http, status_log=store)
    receipt = await sender.send(TextMessage(PATIENT, "Hello"))
    assert receipt.status is DeliveryStatus.QUEUED
    assert "could not be recorded (RuntimeError)" in caplog.text
    assert PATIENT.digits not in caplog.text
    await http.aclose()


# ------------------------------------------------------------------ configuration


def _status_store(config: dict[str, Any]) -> object:
    return build_status_store(load_settings(config, env={}))


async def test_status_store_kinds_from_configuration(tmp_path, redis_url):
    """memory, sqlite (by data_dir and environment) and redis are built from one setting."""
    assert isinstance(_status_store({}), MemoryDeliveryStatusStore)  # fake, no data_dir
    in_dir = _status_store({"data_dir": str(tmp_path), "messaging": {"language": "en"}})
    assert isinstance(in_dir, SQLiteDeliveryStatusStore)
    assert str(tmp_path / "portico-status.fake.sqlite3") in repr(in_dir)
    production = _status_store(_config(tmp_path / "unused.sqlite3", messaging={}))
    assert isinstance(production, SQLiteDeliveryStatusStore)
    assert "'portico-status.sqlite3'" in repr(production)  # production: the plain name, in "."
    memory = _status_store({"data_dir": str(tmp_path), "messaging": {"status_store": "memory"}})
    assert isinstance(memory, MemoryDeliveryStatusStore)
    redis = _status_store({"messaging": {"status_store": {"kind": "REDIS", "url": redis_url}}})
    assert isinstance(redis, RedisDeliveryStatusStore)
    await redis.close()
    container = create_container(_config(tmp_path / "x.sqlite3"), env={})
    try:
        adapter = container.messaging_adapter()
        assert isinstance(adapter, WhatsAppMessaging)
        assert isinstance(adapter.status_store, SQLiteDeliveryStatusStore)
        assert adapter.status_store is container.status_store()
    finally:
        await aclose_container(container)


@pytest.mark.parametrize(
    ("store", "named"),
    [
        ({"kind": "postgres"}, r"messaging\.status_store\.kind: 'postgres' is not one of"),
        ({"kind": "redis"}, r"messaging\.status_store\.url: is required"),
        ({"retention_seconds": "soon"}, r"messaging\.status_store\.retention_seconds"),
        ({"retention_seconds": -1}, r"messaging\.status_store\.retention_seconds"),
        (["sqlite"], r"messaging\.status_store: must be a section"),
    ],
)
def test_bad_status_store_settings_name_the_setting(store, named):
    """Each wrong setting is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=named):
        load_settings({"messaging": {"status_store": store}}, env={})
