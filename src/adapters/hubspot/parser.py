"""
HubSpot webhook deliveries (a JSON array of events, batched) -> `ContactChanged` events.

Each element: ``{"eventId", "subscriptionId", "portalId", "appId", "occurredAt" (epoch ms),
"subscriptionType", "attemptNumber", "objectId", "propertyName", "propertyValue",
"changeSource"}``. The type is ``subscriptionType`` in real deliveries; HubSpot's documented
example payload (developers.hubspot.com/docs/api/webhooks, "Example payload") names it
``eventType``, so an event carrying only ``eventType`` is read the same way.

Legacy subscription types (``contact.creation``, ``contact.propertyChange``, ``contact.deletion``,
``contact.merge``, ``contact.restore``, ``contact.privacyDeletion``, ``contact.associationChange``)
and the new platform's generic ones (``object.creation`` ... with ``objectTypeId`` ``"0-1"`` for
contacts) are understood; other objects (deals, companies...) go
to ``unknown_types``, one entry per event.

Dedup key (``event_id``): ``"<portalId>:<eventId>"`` (just ``eventId`` when the portal is absent).
HubSpot retries a delivery with the same ``eventId``s; prefixing the portal keeps the ids of
different accounts installed on one app apart. Each event of a batch is claimed on its own, so a
retried batch reprocesses only the events that failed.

A ``lifecyclestage`` property change also sets ``lifecycle_stage``: the domain's stage, mapped
from HubSpot's internal value by the portal's `HubSpotStages`; a value with no mapping (a custom
stage, or one added after this release) is `LifecycleStage.OTHER`, never a rejected delivery,
and the raw value stays in ``property_value``. ``propertyValue`` may be patient data: it is never
in a repr.
"""

from __future__ import annotations

from ...domain.events import ContactChanged, DomainEvent
from ...domain.json_reader import JsonNode, malformed, parse_json
from ...domain.webhooks import ParsedDelivery, WebhookRequest
from .stages import HubSpotStages


__all__ = ["HubSpotParser"]

_CHANGES = {
    "creation": "created",
    "propertyChange": "property_changed",
    "deletion": "deleted",
    "merge": "merged",
    "restore": "restored",
    "privacyDeletion": "privacy_deleted",
    "associationChange": "association_changed",
}
_CONTACT_TYPE_ID = "0-1"


def _subscription_type(item: JsonNode) -> str:
    """``subscriptionType``, or ``eventType`` where the docs' example puts it."""
    if not item.has("subscriptionType") and item.has("eventType"):
        return item.text("eventType", max_length=200)
    return item.text("subscriptionType", max_length=200)


def _change(item: JsonNode, subscription: str) -> str | None:
    obj, _, action = subscription.partition(".")
    if obj == "object":
        if item.opt_text("objectTypeId", max_length=32) != _CONTACT_TYPE_ID:
            return None
    elif obj != "contact":
        return None
    return _CHANGES.get(action)


class HubSpotParser:
    """
    `WebhookParser` for HubSpot: every contact event of the batch.

    Args:
        stages: how the portal spells lifecycle stages (HubSpot's fixed names by default).
    """

    provider = "hubspot"

    def __init__(self, *, stages: HubSpotStages | None = None) -> None:
        self.stages = stages or HubSpotStages()

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """One `ContactChanged` per contact event; other subscription types are counted."""
        batch = parse_json(request.body, error=malformed(self.provider))
        events: list[DomainEvent] = []
        unknown: list[str] = []
        for item in batch.elements():
            subscription = _subscription_type(item)
            event_id = item.identifier("eventId", max_length=64)
            portal = item.opt_integer("portalId")
            change = _change(item, subscription)
            if change is None:
                unknown.append(subscription)
                continue
            events.append(self._event(item, event_id, portal, change))
        return ParsedDelivery(self.provider, events=tuple(events), unknown_types=tuple(unknown))

    def _event(
        self, item: JsonNode, event_id: str, portal: int | None, change: str
    ) -> ContactChanged:
        prop = item.opt_text("propertyName", max_length=256)
        value = item.opt_text("propertyValue")
        stage = None
        if prop == "lifecyclestage" and value is not None:
            stage = self.stages.lifecycle_stage(value)
        return ContactChanged(
            event_id=event_id if portal is None else f"{portal}:{event_id}",
            provider=self.provider,
            occurred_at=item.timestamp("occurredAt", unit=0.001),
            contact_id=item.identifier("objectId", max_length=64),
            change=change,
            property_name=prop,
            property_value=value,
            lifecycle_stage=stage,
        )
