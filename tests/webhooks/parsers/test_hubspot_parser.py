"""HubSpot batches become one ContactChanged per contact event."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.webhooks.parsers import payloads as p

from portico.adapters.hubspot import HubSpotStages
from portico.adapters.hubspot.parser import HubSpotParser
from portico.domain.crm import LifecycleStage
from portico.domain.errors import MalformedWebhook
from portico.domain.events import ContactChanged


def test_batch_yields_one_event_per_contact_event() -> None:
    """Creation, property change and deletion become events; the deal event is counted."""
    parsed = HubSpotParser().parse(p.request(p.HUBSPOT_BATCH))
    created, changed, deleted = parsed.events
    assert parsed.unknown_types == ("deal.creation",)
    assert all(isinstance(e, ContactChanged) for e in parsed.events)
    assert [e.event_id for e in parsed.events] == ["62515:1", "62515:2", "62515:4"]
    assert isinstance(created, ContactChanged)
    assert (created.contact_id, created.change) == ("123", "created")
    assert created.occurred_at == datetime(2019, 7, 26, 4, 0, tzinfo=UTC)
    assert isinstance(changed, ContactChanged)
    assert changed.change == "property_changed"
    assert changed.property_name == "lifecyclestage"
    assert changed.lifecycle_stage is LifecycleStage.MARKETING_QUALIFIED
    assert isinstance(deleted, ContactChanged)
    assert deleted.change == "deleted"


@pytest.mark.parametrize(
    ("value", "parser", "stage"),
    [
        ("customer", HubSpotParser(), LifecycleStage.CUSTOMER),
        ("evangelist", HubSpotParser(), LifecycleStage.ADVOCATE),
        ("1234567", HubSpotParser(), LifecycleStage.OTHER),
        (
            "1234567",
            HubSpotParser(stages=HubSpotStages({LifecycleStage.ADVOCATE: "1234567"})),
            LifecycleStage.ADVOCATE,
        ),
    ],
    ids=["default", "renamed", "custom-unmapped", "custom-mapped"],
)
def test_lifecycle_values_map_to_the_domains_stages(
    value: str, parser: HubSpotParser, stage: LifecycleStage
) -> None:
    """HubSpot's value becomes the domain's stage; one with no mapping is OTHER, not a 400."""
    change = {**p.HUBSPOT_BATCH[1], "propertyValue": value}
    (event,) = parser.parse(p.request([change])).events
    assert isinstance(event, ContactChanged)
    assert event.lifecycle_stage is stage
    assert event.property_value == value


def test_new_platform_object_events_for_contacts() -> None:
    """object.propertyChange with objectTypeId 0-1 is a contact change; 0-3 (deals) is not."""
    contact = {
        **p.HUBSPOT_BATCH[1],
        "subscriptionType": "object.propertyChange",
        "objectTypeId": "0-1",
        "propertyName": "phone",
        "propertyValue": "+40700000000",
    }
    deal = {**contact, "eventId": 9, "objectTypeId": "0-3"}
    parsed = HubSpotParser().parse(p.request([contact, deal]))
    (event,) = parsed.events
    assert isinstance(event, ContactChanged)
    assert event.property_name == "phone"
    assert "+40700000000" not in repr(event)
    assert parsed.unknown_types == ("object.propertyChange",)


def test_body_must_be_an_array() -> None:
    """A single object instead of the batch array is malformed."""
    with pytest.raises(MalformedWebhook, match="body: must be an array"):
        HubSpotParser().parse(p.request(p.HUBSPOT_BATCH[0]))


def test_bad_event_names_its_index_and_field() -> None:
    """A mistyped field in the third event names body[2]."""
    batch = copy.deepcopy(p.HUBSPOT_BATCH)
    batch[1]["occurredAt"] = "yesterday"
    with pytest.raises(MalformedWebhook, match=r"body\[1\]\.occurredAt"):
        HubSpotParser().parse(p.request(batch))


RECORDED = Path(__file__).parent / "recorded" / "hubspot"


def test_the_docs_example_with_event_type_parses() -> None:
    """HubSpot's documented example (eventType, not subscriptionType) yields both events."""
    body = (RECORDED / "webhooks_docs_example.json").read_bytes()
    parsed = HubSpotParser().parse(p.request(body))
    changed, created = parsed.events
    assert isinstance(changed, ContactChanged)
    assert isinstance(created, ContactChanged)
    assert (changed.event_id, changed.change, changed.contact_id) == (
        "33:3816279340",
        "property_changed",
        "1246965",
    )
    assert changed.lifecycle_stage is LifecycleStage.SUBSCRIBER
    assert (created.change, created.contact_id) == ("created", "1246978")
    assert parsed.unknown_types == ()
