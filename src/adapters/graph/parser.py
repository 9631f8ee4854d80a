"""
Microsoft Graph change and lifecycle notifications -> domain events.

The body is a ``changeNotificationCollection``: ``{"value": [changeNotification, ...]}``, several
notifications (of several subscriptions) per POST (Microsoft Learn, "changeNotification resource
type", learn.microsoft.com/graph/api/resources/changenotification). Each carries
``subscriptionId``, ``subscriptionExpirationDateTime``, ``tenantId`` and ``clientState``, then:

- a **change notification**: ``changeType`` (``created``/``updated``/``deleted``), ``resource``
  (relative to the service root), ``resourceData`` (``id``, ``@odata.etag``...) and, optionally,
  the notification's own ``id`` -> `ResourceChanged`;
- a **lifecycle notification** (learn.microsoft.com/graph/change-notifications-lifecycle-events):
  ``lifecycleEvent`` ``reauthorizationRequired`` / ``subscriptionRemoved`` / ``missed``, and no
  resource -> `SubscriptionReauthorizationRequired` / `SubscriptionRemoved` /
  `ChangeNotificationsMissed`.

Any other ``changeType`` or ``lifecycleEvent`` is acknowledged and listed in ``unknown_types``.
Graph sends no time of the change: ``occurred_at`` is the time of receipt (the clock's).

Dedup keys (``event_id``), scoped by the subscription:

- a change notification with an ``id`` (Outlook sends one; it is optional): ``change:<subscription
  id>:<id>``, which Graph's redeliveries repeat;
- without one: a digest of ``changeType``, ``resource``, ``resourceData.id``, its
  ``@odata.etag`` and ``subscriptionExpirationDateTime`` (the etag tells two updates of one item
  apart; where it is absent, two identical updates under one expiry are one event);
- a lifecycle notification (no ``id`` in Graph's examples): a digest of the ``lifecycleEvent``,
  the expiry and the 10-minute window of receipt. Graph repeats ``reauthorizationRequired``
  (every 15 minutes or more, under an unchanged expiry when the host reauthorizes without
  renewing), and each challenge must reach the host; a redelivery within the window is a
  duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from ...domain.events import (
    ChangeNotificationsMissed,
    DomainEvent,
    ResourceChanged,
    ResourceChangeType,
    SubscriptionLifecycleEvent,
    SubscriptionReauthorizationRequired,
    SubscriptionRemoved,
)
from ...domain.json_reader import JsonNode, malformed, parse_json
from ...domain.time import SYSTEM_CLOCK, Clock
from ...domain.webhooks import ParsedDelivery, WebhookRequest


__all__ = ["LIFECYCLE_WINDOW", "GraphNotificationParser"]

PROVIDER = "graph"
LIFECYCLE_WINDOW = 600  # seconds: redeliveries of one lifecycle notification inside it are one

_LIFECYCLE: dict[str, Callable[..., SubscriptionLifecycleEvent]] = {
    "reauthorizationRequired": SubscriptionReauthorizationRequired,
    "subscriptionRemoved": SubscriptionRemoved,
    "missed": ChangeNotificationsMissed,
}
_CHANGES = {kind.value: kind for kind in ResourceChangeType}


def _digest(*parts: str) -> str:
    """A bounded key part that quotes nothing (a resource path may name a mailbox)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


class GraphNotificationParser:
    """`WebhookParser` for Microsoft Graph: one event per notification of ``value[]``."""

    provider = PROVIDER

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """The batch's notifications as domain events; unknown kinds in ``unknown_types``."""
        body = parse_json(request.body, error=malformed(self.provider))
        received = self.clock.now()
        events: list[DomainEvent] = []
        unknown: list[str] = []
        for item in body.items("value"):
            event = self._one(item, received)
            if isinstance(event, str):
                unknown.append(event)
            else:
                events.append(event)
        return ParsedDelivery(self.provider, events=tuple(events), unknown_types=tuple(unknown))

    def _one(self, item: JsonNode, received: datetime) -> DomainEvent | str:
        subscription_id = item.text("subscriptionId", max_length=255)
        expires_raw = item.text("subscriptionExpirationDateTime", max_length=64)
        expires = item.iso_time("subscriptionExpirationDateTime")
        tenant_id = item.opt_text("tenantId", max_length=255) or ""
        lifecycle = item.opt_text("lifecycleEvent", max_length=100)
        if lifecycle is not None:
            kind = _LIFECYCLE.get(lifecycle)
            if kind is None:
                return f"lifecycle:{lifecycle}"
            window = str(int(received.timestamp() // LIFECYCLE_WINDOW))
            given_id = item.opt_text("id", max_length=255)
            key = _digest(lifecycle, expires_raw, given_id or window)
            return kind(
                event_id=f"lifecycle:{subscription_id}:{key}",
                provider=self.provider,
                occurred_at=received,
                subscription_id=subscription_id,
                tenant_id=tenant_id,
                subscription_expires_at=expires,
            )
        change = item.text("changeType", max_length=100)
        change_type = _CHANGES.get(change)
        if change_type is None:
            return change
        resource = item.text("resource", max_length=4096)
        data = item.opt_child("resourceData")
        resource_id = data.opt_text("id", max_length=1024) if data else None
        notification_id = item.opt_text("id", max_length=255)
        if notification_id:
            event_id = f"change:{subscription_id}:{notification_id}"
        else:
            etag = (data.opt_text("@odata.etag", max_length=1024) if data else None) or ""
            key = _digest(change, resource, resource_id or "", etag, expires_raw)
            event_id = f"change:{subscription_id}:{key}"
        return ResourceChanged(
            event_id=event_id,
            provider=self.provider,
            occurred_at=received,
            subscription_id=subscription_id,
            tenant_id=tenant_id,
            change_type=change_type,
            resource=resource,
            resource_id=resource_id,
            subscription_expires_at=expires,
        )
