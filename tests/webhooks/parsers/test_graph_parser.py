"""
GraphNotificationParser: change and lifecycle notifications, and their dedup keys.

Payloads from Microsoft Learn: the change notification example of
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks and the lifecycle
notification structure of https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events
(fields: https://learn.microsoft.com/en-us/graph/api/resources/changenotification).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.graph.parser import LIFECYCLE_WINDOW, GraphNotificationParser
from portico.adapters.webhooks.signers import graph_change, graph_lifecycle, graph_notification
from portico.domain.errors import MalformedWebhook
from portico.domain.events import (
    ChangeNotificationsMissed,
    ResourceChanged,
    ResourceChangeType,
    SubscriptionLifecycleEvent,
    SubscriptionReauthorizationRequired,
    SubscriptionRemoved,
)
from portico.domain.webhooks import WebhookRequest


STATE = "secretClientValue"
RECEIVED = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
DOC_CHANGE = {
    "value": [
        {
            "id": "lsgTZMr9KwAAA",
            "subscriptionId": "{subscription_guid}",
            "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
            "clientState": "secretClientValue",
            "changeType": "created",
            "resource": "users/{user_guid}@{tenant_guid}/messages/{long_id_string}",
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": "Users/{user_guid}@{tenant_guid}/Messages/{long_id_string}",
                "@odata.etag": 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
                "id": "{long_id_string}",
            },
        }
    ]
}


def doc_lifecycle(event: str) -> dict[str, object]:
    """The documented lifecycle notification structure with ``event``."""
    return {
        "value": [
            {
                "subscriptionId": "<subscription_guid>",
                "subscriptionExpirationDateTime": "2019-03-20T11:00:00.0000000Z",
                "tenantId": "<tenant_guid>",
                "clientState": "<secretClientState>",
                "lifecycleEvent": event,
            }
        ]
    }


def parse(body: bytes | Mapping[str, Any], clock: FakeClock | None = None) -> list[Any]:
    """The events of one delivery of ``body``."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    parser = GraphNotificationParser(clock or FakeClock(RECEIVED))
    request = WebhookRequest("POST", "https://h.example/webhooks/graph", {}, raw)
    return list(parser.parse(request).events)


def test_the_documented_change_notification_is_a_resource_changed() -> None:
    """Every field of Microsoft's example lands in the event; the key is the notification id."""
    (event,) = parse(DOC_CHANGE)
    assert isinstance(event, ResourceChanged)
    assert event.event_id == "change:{subscription_guid}:lsgTZMr9KwAAA"
    assert event.provider == "graph"
    assert event.change_type is ResourceChangeType.CREATED
    assert event.resource == "users/{user_guid}@{tenant_guid}/messages/{long_id_string}"
    assert event.resource_id == "{long_id_string}"
    assert event.tenant_id == "84bd8158-6d4d-4958-8b9f-9d6445542f95"
    assert event.subscription_expires_at == datetime(2016, 3, 19, 22, 11, 9, 952000, UTC)
    assert event.occurred_at == RECEIVED  # Graph sends no time of the change


def test_the_resource_stays_out_of_the_repr() -> None:
    """The resource path may name a mailbox: not in reprs (logs, failure records)."""
    (event,) = parse(DOC_CHANGE)
    assert "{user_guid}" not in repr(event)


@pytest.mark.parametrize(
    ("lifecycle", "kind"),
    [
        ("reauthorizationRequired", SubscriptionReauthorizationRequired),
        ("subscriptionRemoved", SubscriptionRemoved),
        ("missed", ChangeNotificationsMissed),
    ],
)
def test_each_documented_lifecycle_notification_is_its_own_event(
    lifecycle: str, kind: type[SubscriptionLifecycleEvent]
) -> None:
    """reauthorizationRequired, subscriptionRemoved and missed, with the subscription's expiry."""
    (event,) = parse(doc_lifecycle(lifecycle))
    assert isinstance(event, kind)
    assert type(event) is kind
    assert event.subscription_id == "<subscription_guid>"
    assert event.subscription_expires_at == datetime(2019, 3, 20, 11, 0, tzinfo=UTC)
    assert event.event_id.startswith("lifecycle:<subscription_guid>:")


def test_unknown_change_types_and_lifecycle_events_are_acknowledged() -> None:
    """A kind Portico does not know is listed in unknown_types, never a 400."""
    body = graph_notification(
        STATE,
        graph_change("users/u/messages/m", change_type="restored"),
        graph_lifecycle("somethingNew"),
    )
    parser = GraphNotificationParser(FakeClock(RECEIVED))
    delivery = parser.parse(WebhookRequest("POST", "https://h/", {}, body))
    assert delivery.events == ()
    assert delivery.unknown_types == ("restored", "lifecycle:somethingNew")


def test_a_redelivered_notification_has_the_same_key() -> None:
    """Graph's retry of the same batch yields the same event ids (the replay store's key)."""
    body = graph_notification(STATE, graph_change("users/u/messages/m"), graph_lifecycle("missed"))
    assert [e.event_id for e in parse(body)] == [e.event_id for e in parse(body)]


def test_without_an_id_two_versions_of_one_item_are_two_events() -> None:
    """No notification id: the etag tells two updates of one message apart."""
    first = graph_change("users/u/messages/m", change_type="updated")
    second = {**first, "resourceData": {"id": "m", "@odata.etag": 'W/"2"'}}
    first["resourceData"] = {"id": "m", "@odata.etag": 'W/"1"'}
    (a,) = parse(graph_notification(STATE, first))
    (b,) = parse(graph_notification(STATE, second))
    assert a.event_id != b.event_id
    assert "users/u" not in a.event_id  # a digest: the key quotes no resource path


def test_the_same_resource_in_two_subscriptions_is_two_events() -> None:
    """Each subscription's notification is its own event (the key is scoped by subscription)."""
    one = graph_change("users/u/messages/m", subscription_id="s-1", notification_id="n")
    two = graph_change("users/u/messages/m", subscription_id="s-2", notification_id="n")
    a, b = parse(graph_notification(STATE, one, two))
    assert a.event_id != b.event_id


def test_a_later_reauthorization_challenge_is_a_new_event() -> None:
    """Repeated challenges under one expiry reach the host; a redelivery in the window does not."""
    clock = FakeClock(RECEIVED)
    body = graph_notification(STATE, graph_lifecycle("reauthorizationRequired"))
    (first,) = parse(body, clock)
    clock.advance(30)
    (redelivered,) = parse(body, clock)
    clock.advance(LIFECYCLE_WINDOW)
    (next_challenge,) = parse(body, clock)
    assert first.event_id == redelivered.event_id
    assert next_challenge.event_id != first.event_id


def test_a_missing_required_field_is_malformed() -> None:
    """subscriptionId and subscriptionExpirationDateTime are required: a 400 naming the path."""
    item = graph_change("users/u/messages/m")
    del item["subscriptionId"]
    with pytest.raises(MalformedWebhook, match=r"value\[0\]\.subscriptionId"):
        parse(graph_notification(STATE, item))
    late = {**graph_change("users/u/messages/m"), "subscriptionExpirationDateTime": "soon"}
    with pytest.raises(MalformedWebhook, match="ISO 8601"):
        parse(graph_notification(STATE, late))


def test_events_are_stamped_with_the_clock() -> None:
    """occurred_at is the clock's now at receipt."""
    clock = FakeClock(RECEIVED + timedelta(hours=1))
    (event,) = parse(graph_notification(STATE, graph_lifecycle("missed")), clock)
    assert event.occurred_at == RECEIVED + timedelta(hours=1)
