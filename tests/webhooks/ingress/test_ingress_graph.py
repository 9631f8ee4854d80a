"""
Microsoft Graph change notifications through the ASGI app: handshake, clientState, 202, replay.

What Graph expects, from Microsoft Learn: the validation answer (200, text/plain, the decoded
token, within 10 s) https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
and 202 Accepted for lifecycle notifications
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portico.adapters.stores.memory import MemoryReplayStore
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookEndpoint, WebhookIngress
from portico.app.wiring.webhooks import DEV_SECRETS, build_webhook_ingress
from portico.domain.errors import ConfigurationError
from portico.domain.events import (
    ResourceChanged,
    ResourceChangeType,
    SubscriptionLifecycleEvent,
    SubscriptionReauthorizationRequired,
)
from portico.domain.replay import Claim
from portico.domain.webhooks import WebhookRequest
from portico.testing import graph_change, graph_lifecycle, graph_notification


SECRET = "a-random-client-state-4f9c2e7b"
MAILBOX_RESOURCE = "users/clinic@contoso.example/messages/AAMkAGI2TG93AAA="


class UntouchableStore:
    """A replay store that fails the test if anything asks it anything."""

    def __init__(self) -> None:
        self.calls = 0

    async def claim(self, key: str, *, lease_seconds: float) -> Claim:
        """Counted, then refused."""
        self.calls += 1
        raise AssertionError("the validation handshake must not touch the replay store")

    async def complete(self, claim: Claim) -> None:
        """Counted, then refused."""
        self.calls += 1
        raise AssertionError("unexpected")

    async def release(self, claim: Claim) -> None:
        """Counted, then refused."""
        self.calls += 1
        raise AssertionError("unexpected")


def _ingress(store: Any = None, **graph: object) -> WebhookIngress:
    return build_webhook_ingress(
        {"webhooks": {"graph": {"client_state": SECRET, **graph}}},
        environment="production",
        store_factory=lambda _settings: store if store is not None else MemoryReplayStore(),
    )


def _client(ingress: WebhookIngress) -> httpx.AsyncClient:
    app = create_webhook_app(ingress, prefix="/webhooks")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://hooks.test")


@pytest.mark.parametrize("query", ["", "kind=lifecycle&"])
async def test_validation_is_echoed_as_plain_text_without_any_io(query: str) -> None:
    """notificationUrl and lifecycleNotificationUrl: 200 text/plain, the decoded token."""
    store = UntouchableStore()
    async with _client(_ingress(store)) as http:
        answer = await http.post(
            f"/webhooks/graph?{query}validationToken=Validation%3a+Testing+client+reachability",
            headers={"content-type": "text/plain; charset=utf-8"},
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "Validation: Testing client reachability"
    assert store.calls == 0


async def test_a_batch_is_accepted_with_202_and_each_notification_handled_once() -> None:
    """Changes and a lifecycle notification: 202 and handled; a redelivery: 202, not rerun."""
    ingress = _ingress()
    changes: list[ResourceChanged] = []
    lifecycle: list[SubscriptionLifecycleEvent] = []

    async def on_change(event: ResourceChanged) -> None:
        changes.append(event)

    async def on_lifecycle(event: SubscriptionLifecycleEvent) -> None:
        lifecycle.append(event)

    ingress.on(ResourceChanged, on_change)
    ingress.on(SubscriptionLifecycleEvent, on_lifecycle)
    body = graph_notification(
        SECRET,
        graph_change(MAILBOX_RESOURCE, notification_id="lsgTZMr9KwAAA"),
        graph_change(MAILBOX_RESOURCE, change_type="deleted", notification_id="lsgTZMr9KwAAB"),
        graph_lifecycle("reauthorizationRequired"),
    )
    async with _client(ingress) as http:
        first = await http.post("/webhooks/graph", content=body)
        again = await http.post("/webhooks/graph", content=body)

    assert first.status_code == 202
    assert first.json() == {"received": True, "processed": 3, "duplicates": 0}
    assert again.status_code == 202
    assert again.json() == {"received": True, "duplicate": True}
    assert [c.change_type for c in changes] == [
        ResourceChangeType.CREATED,
        ResourceChangeType.DELETED,
    ]
    assert [type(e) for e in lifecycle] == [SubscriptionReauthorizationRequired]
    assert ingress.counters("graph").duplicates == 3


async def test_a_wrong_client_state_is_refused_and_never_logged(caplog) -> None:
    """401 with the reason; no handler runs; neither secret nor mailbox reaches the log."""
    ingress = _ingress()
    seen: list[ResourceChanged] = []

    async def on_change(event: ResourceChanged) -> None:
        seen.append(event)

    ingress.on(ResourceChanged, on_change)
    good = {**graph_change(MAILBOX_RESOURCE, notification_id="n1"), "clientState": SECRET}
    forged = {**graph_change(MAILBOX_RESOURCE, notification_id="n2"), "clientState": "guess-1234"}
    body = json.dumps({"value": [good, forged]}).encode()
    with caplog.at_level(logging.DEBUG):
        async with _client(ingress) as http:
            answer = await http.post("/webhooks/graph", content=body)
    assert answer.status_code == 401
    assert "clientState wrong in value[1]" in answer.json()["error"]
    assert seen == []
    assert ingress.counters("graph").rejected["invalid_signature"] == 1
    for secret in (SECRET, "guess-1234", "clinic@contoso.example"):
        assert secret not in caplog.text
        assert secret not in answer.text


async def test_enabled_false_leaves_the_route_unserved() -> None:
    """``webhooks.graph.enabled: false``: configured but not served (404)."""
    ingress = build_webhook_ingress(
        {
            "webhooks": {
                "replay": "memory",
                "stripe": {"secret": "whsec_x"},
                "graph": {"client_state": SECRET, "enabled": False},
            }
        },
        environment="production",
    )
    assert ingress.providers == ("stripe",)


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ({}, r"webhooks\.graph\.client_state: is required"),
        ({"client_state": "short"}, r"webhooks\.graph\.client_state: must be 16 to 128"),
        (dict(DEV_SECRETS["graph"]), r"webhooks\.graph\.client_state: a published development"),
    ],
)
def test_bad_graph_settings_fail_at_start_up_naming_the_key(
    graph: dict[str, object], message: str
) -> None:
    """A missing, weak or development clientState is a ConfigurationError, value unquoted."""
    with pytest.raises(ConfigurationError, match=message) as caught:
        build_webhook_ingress({"webhooks": {"graph": graph}}, environment="production")
    assert DEV_SECRETS["graph"]["client_state"] not in str(caught.value)


def test_the_fake_environment_serves_graph_with_the_development_client_state() -> None:
    """``portico serve`` in 'fake' accepts bodies built with DEV_SECRETS."""
    ingress = build_webhook_ingress({}, environment="fake")
    assert "graph" in ingress.providers
    assert ingress.endpoints["graph"].accepted_status == 202


_FIELDS = st.sampled_from(
    [
        "subscriptionId",
        "subscriptionExpirationDateTime",
        "tenantId",
        "changeType",
        "resource",
        "resourceData",
        "lifecycleEvent",
        "id",
    ]
)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(st.dictionaries(_FIELDS, _VALUES, max_size=8), min_size=1, max_size=4))
async def test_notifications_with_the_right_client_state_are_202_or_400(
    items: list[dict[str, object]],
) -> None:
    """Any shape under a valid clientState is accepted or a 400, never a 500."""
    ingress = _ingress()
    body = graph_notification(SECRET, *items)
    request = WebhookRequest("POST", "https://hooks.test/webhooks/graph", {}, body)
    response = await ingress.handle("graph", request)
    assert response.status in {202, 400}, response.body


def test_an_endpoint_success_status_must_be_2xx() -> None:
    """A vendor spec cannot make a processed delivery answer anything but a 2xx."""
    ingress = _ingress()
    graph = ingress.endpoints["graph"]
    with pytest.raises(ValueError, match="2xx"):
        WebhookEndpoint(graph.verifier, graph.parser, accepted_status=500)
