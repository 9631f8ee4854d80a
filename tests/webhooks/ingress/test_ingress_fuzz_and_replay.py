"""The ingress never raises on arbitrary input, and processes each event exactly once."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.adapters.webhooks.signers import (
    sign_hubspot_v3,
    sign_meta,
    sign_stripe,
    vapi_secret_headers,
)
from portico.app.services.webhook_ingress import WebhookIngress
from portico.app.wiring.webhooks import DEV_SECRETS, PROVIDERS, build_webhook_ingress
from portico.domain.events import DomainEvent
from portico.domain.webhooks import WebhookRequest


_header_names = st.sampled_from(
    ["X-Test-Signature", "x-test-signature", "Content-Type", "Host", "X-Other"]
) | st.text(min_size=1, max_size=20)
_headers = st.lists(st.tuples(_header_names, st.text(max_size=80)), max_size=6)
_methods = st.sampled_from(["POST", "GET", "PUT", "DELETE", "HEAD"]) | st.text(max_size=8)
_json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


# The fixtures are stateless factories: each example builds its own ingress.
_factory_fixtures = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@_factory_fixtures
@given(
    provider=st.sampled_from(["test", "stripe", ""]) | st.text(max_size=10),
    method=_methods,
    headers=_headers,
    body=st.binary(max_size=300),
)
async def test_arbitrary_requests_never_raise(make_ingress, provider, method, headers, body):
    """Any method, headers and body yield a 2xx/4xx/5xx decision, never an exception."""
    ingress: WebhookIngress = make_ingress(max_body=200)
    request = WebhookRequest(method, "https://hooks.example.org/webhooks/test", headers, body)
    response = await ingress.handle(provider, request)
    assert response.status // 100 in {2, 4, 5}
    assert isinstance(response.body, dict)
    assert "Traceback" not in str(response.body)


@_factory_fixtures
@given(payload=_json_bodies)
async def test_signed_arbitrary_json_never_raises(make_ingress, sign, payload):
    """Correctly signed but arbitrary JSON is 200 or 400, never an exception."""
    ingress: WebhookIngress = make_ingress()
    response = await ingress.handle("test", sign({"events": payload}))
    assert response.status in {200, 400}


def _counting(ingress: WebhookIngress, event_type: type[DomainEvent]) -> list[str]:
    seen: list[str] = []

    async def handler(event: DomainEvent) -> None:
        await asyncio.sleep(0)  # yield, so concurrent deliveries really interleave
        seen.append(event.event_id)

    ingress.on(event_type, handler)
    return seen


async def test_thousand_sequential_deliveries_process_once(make_ingress, deliver, paid_type):
    """The same valid delivery sent 1,000 times in a row is processed exactly once."""
    ingress = make_ingress()
    seen = _counting(ingress, paid_type)
    statuses = [(await ingress.handle("test", deliver("evt_1"))).status for _ in range(1000)]
    assert seen == ["evt_1"]
    assert statuses == [200] * 1000
    assert ingress.counters("test").duplicates == 999


async def test_thousand_concurrent_deliveries_process_once(make_ingress, deliver, paid_type):
    """1,000 concurrent deliveries of one event: one processed, the rest duplicate or retry."""
    ingress = make_ingress()
    seen = _counting(ingress, paid_type)
    responses = await asyncio.gather(
        *(ingress.handle("test", deliver("evt_1")) for _ in range(1000))
    )
    assert seen == ["evt_1"]
    assert {r.status for r in responses} <= {200, 503}
    assert sum(1 for r in responses if r.body.get("processed") == 1) == 1
    # Every 503 is told to retry; the retry is then answered as a duplicate.
    retry = await ingress.handle("test", deliver("evt_1"))
    assert retry.body == {"received": True, "duplicate": True}


async def test_concurrent_deliveries_on_sqlite_process_once(
    make_ingress, deliver, paid_type, tmp_path
):
    """With the embedded SQLite store, 200 concurrent deliveries are processed exactly once."""
    store = SQLiteReplayStore(tmp_path / "replay.sqlite3")
    try:
        ingress = make_ingress(replay_store=store)
        seen = _counting(ingress, paid_type)
        await asyncio.gather(*(ingress.handle("test", deliver("evt_1")) for _ in range(200)))
        assert seen == ["evt_1"]
    finally:
        await store.close()


async def test_fail_once_then_processed_on_retry_with_sqlite(
    make_ingress, deliver, paid_type, tmp_path
):
    """A handler that fails once: 500, then the provider's retry is processed (SQLite store)."""
    store = SQLiteReplayStore(tmp_path / "replay.sqlite3")
    try:
        ingress = make_ingress(replay_store=store)
        calls: list[str] = []

        async def flaky(event: DomainEvent) -> None:
            calls.append(event.event_id)
            if len(calls) == 1:
                raise ConnectionError("downstream")

        ingress.on(paid_type, flaky)
        first = await ingress.handle("test", deliver("evt_9"))
        retry = await ingress.handle("test", deliver("evt_9"))
        assert (first.status, retry.status) == (500, 200)
        assert retry.body["processed"] == 1
        assert calls == ["evt_9", "evt_9"]
    finally:
        await store.close()


_REAL_HEADER_NAMES = st.sampled_from(
    [
        "Stripe-Signature",
        "X-Hub-Signature-256",
        "X-HubSpot-Signature-v3",
        "X-HubSpot-Request-Timestamp",
        "X-HubSpot-Signature",
        "X-HubSpot-Signature-Version",
        "X-Twilio-Signature",
        "X-Vapi-Secret",
        "Content-Type",
    ]
)
_REAL_HEADER_VALUES = st.text(max_size=60) | st.sampled_from(
    ["t=1,v1=00", "sha256=00", "v1", "v2", "v3", "application/x-www-form-urlencoded"]
)


@_factory_fixtures
@given(
    provider=st.sampled_from(PROVIDERS),
    method=_methods,
    headers=st.lists(st.tuples(_REAL_HEADER_NAMES, _REAL_HEADER_VALUES), max_size=5),
    body=st.binary(max_size=300),
)
async def test_real_providers_never_answer_internal_error(provider, method, headers, body):
    """Arbitrary input to the real verifiers and parsers is a 4xx with a reason, never a 500."""
    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    url = f"https://hooks.example.org/webhooks/{provider}"
    response = await ingress.handle(provider, WebhookRequest(method, url, headers, body))
    assert response.status in {400, 401, 405}, response.body
    assert ingress.counters(provider).rejected.get("internal_error", 0) == 0


_SIGNERS = {
    "stripe": lambda body, url: sign_stripe(body, DEV_SECRETS["stripe"]["secret"]),
    "whatsapp": lambda body, url: sign_meta(body, DEV_SECRETS["whatsapp"]["app_secret"]),
    "hubspot": lambda body, url: sign_hubspot_v3(
        body, DEV_SECRETS["hubspot"]["client_secret"], url=url
    ),
    "vapi": lambda body, url: vapi_secret_headers(DEV_SECRETS["vapi"]["secret"]),
}


@_factory_fixtures
@given(provider=st.sampled_from(sorted(_SIGNERS)), payload=_json_bodies | st.binary(max_size=200))
async def test_real_parsers_answer_signed_garbage_with_200_or_400(provider, payload):
    """Correctly signed but arbitrary bodies are acknowledged or 400, never a 500."""
    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    url = f"https://hooks.example.org/webhooks/{provider}"
    request = WebhookRequest("POST", url, _SIGNERS[provider](body, url), body)
    response = await ingress.handle(provider, request)
    assert response.status in {200, 400}, response.body
