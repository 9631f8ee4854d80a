"""
The phone-only idempotent upsert over HTTP: HubSpotCRM against the simulator's batch upsert.

The simulator's request and response shapes are checked against hubspot-api-python's own models
(``BatchInputSimplePublicObjectBatchInputUpsert`` serialised by its client,
``BatchResponseSimplePublicUpsertObject`` deserialised with its required fields enforced).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx
import pytest
from hubspot.crm.contacts import (
    ApiClient,
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from tests.simulators.hubspot import HubSpotSimulator

from portico.adapters.hubspot import HubSpotCRM
from portico.domain.crm import ContactDraft
from portico.domain.errors import InvalidRequest
from portico.domain.values import PhoneNumber


API = "https://api.hubapi.com"
TOKEN = "pat-na1-batch"
UNIQUE = "portico_phone_e164"
PHONE = PhoneNumber("+40712345678")
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


@attrs.frozen
class _Response:
    """What the SDK's ``ApiClient.deserialize`` reads: the raw body."""

    data: bytes


@pytest.fixture(name="hubspot")
def _hubspot() -> HubSpotSimulator:
    # Search never catches up during a test unless told to: the race a retried create loses.
    simulator = HubSpotSimulator(token=TOKEN, search_lag=1_000)
    simulator.add_unique_property(UNIQUE)
    return simulator


@pytest.fixture(name="http")
async def _http(hubspot: HubSpotSimulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hubspot)
    async with httpx.AsyncClient(transport=transport, base_url=API) as http:
        yield http


def _sdk_body(id_property: str, value: str, **properties: str) -> Any:
    """The upsert body exactly as hubspot-api-python's client serialises it."""
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(
                id_property=id_property, id=value, properties=properties
            )
        ]
    )
    return ApiClient().sanitize_for_serialization(batch)


def _sdk_read(response: httpx.Response) -> Any:
    """The 200 body read as the SDK's response model (missing required fields raise)."""
    return ApiClient().deserialize(
        _Response(response.content), "BatchResponseSimplePublicUpsertObject"
    )


async def test_the_simulator_speaks_the_sdks_upsert_shapes(http: httpx.AsyncClient) -> None:
    """An SDK-built body creates, then updates, the contact; the answers parse as the SDK's."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = _sdk_body(UNIQUE, PHONE.e164, firstname="Ana")
    first = await http.post(UPSERT, json=body, headers=headers)
    again = await http.post(
        UPSERT, json=_sdk_body(UNIQUE, PHONE.e164, lastname="Pop"), headers=headers
    )
    assert (first.status_code, again.status_code) == (200, 200)
    created, updated = _sdk_read(first), _sdk_read(again)
    assert created.status == "COMPLETE"
    (one,) = created.results
    (same,) = updated.results
    assert (one.new, same.new) == (True, False)
    assert one.id == same.id
    assert one.properties[UNIQUE] == PHONE.e164
    assert (same.properties["lastname"], one.properties["firstname"]) == ("Pop", "Ana")


async def test_a_phone_only_upsert_retried_while_search_lags_makes_one_contact(
    hubspot: HubSpotSimulator, http: httpx.AsyncClient
) -> None:
    """Search cannot see the first create, yet the retried upsert updates that same contact."""
    crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property=UNIQUE)
    draft = ContactDraft(phone=PHONE, first_name="Ana")
    assert crm.upsert_is_idempotent(draft)
    first = await crm.upsert_contact(draft)
    retried = await crm.upsert_contact(draft)
    assert first.id == retried.id
    assert (retried.phone, retried.first_name) == (PHONE, "Ana")
    assert len(hubspot.objects["contacts"]) == 1
    stored = hubspot.objects["contacts"][first.id]["properties"]
    assert (stored["phone"], stored[UNIQUE]) == (PHONE.e164, PHONE.e164)
    upserts = hubspot.requests_to("POST", "/batch/upsert")
    assert len(upserts) == 2
    assert hubspot.requests_to("POST", "/contacts/search")  # searched, and found nothing
    assert json.loads(upserts[0].body)["inputs"][0]["idProperty"] == UNIQUE


async def test_without_the_unique_property_in_the_portal_the_upsert_is_refused(
    http: httpx.AsyncClient,
) -> None:
    """An idProperty the portal has no unique property for is HubSpot's 400: InvalidRequest."""
    crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property="not_unique_phone")
    with pytest.raises(InvalidRequest):
        await crm.upsert_contact(ContactDraft(phone=PHONE))


async def test_a_create_reusing_a_unique_value_is_refused(
    hubspot: HubSpotSimulator, http: httpx.AsyncClient
) -> None:
    """The unique property stays unique on plain creates too: the second is a 400."""
    crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property=UNIQUE)
    await crm.upsert_contact(ContactDraft(phone=PHONE))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"properties": {"email": "ana@example.com", UNIQUE: PHONE.e164}}
    response = await http.post("/crm/v3/objects/contacts", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert len(hubspot.objects["contacts"]) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"inputs": []}, "inputs must hold"),
        ({"inputs": [{"id": "x", "properties": {}}]}, "idProperty"),
        ({"inputs": [{"idProperty": UNIQUE, "properties": {}}]}, "id is required"),
        (
            {
                "inputs": [
                    {"idProperty": UNIQUE, "id": "+40712345678", "properties": {}},
                    {"idProperty": UNIQUE, "id": "+40712345678", "properties": {}},
                ]
            },
            "Duplicate IDs",
        ),
    ],
    ids=["empty", "no-id-property", "no-id", "duplicate-ids"],
)
async def test_bad_batches_are_refused_whole(
    hubspot: HubSpotSimulator, http: httpx.AsyncClient, body: Any, reason: str
) -> None:
    """Malformed batches are a 400 naming the problem, and nothing is written."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = await http.post(UPSERT, json=body, headers=headers)
    assert response.status_code == 400
    assert reason in response.json()["message"]
    assert hubspot.objects["contacts"] == {}
