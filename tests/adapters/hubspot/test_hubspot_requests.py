"""HubSpotCRM on the wire: exact requests, the 409 race, rate limits and error mapping."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from portico.adapters.fakes import FakeClock
from portico.adapters.hubspot import HubSpotCRM, HubSpotStages
from portico.domain.crm import ContactDraft, DealDraft, DealStage, LifecycleStage
from portico.domain.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrationError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)
from portico.domain.values import Email, Money, PhoneNumber


API = "https://api.hubapi.com"
OBJECTS = f"{API}/crm/v3/objects"
TOKEN = "pat-na1-11111111-2222"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PHONE = PhoneNumber("+40712345678")
EMAIL = Email("ana@example.com")
EMPTY_SEARCH = {"total": 0, "results": []}


@pytest.fixture(name="crm")
async def _crm() -> AsyncIterator[HubSpotCRM]:
    async with httpx.AsyncClient(base_url=API) as http:
        yield HubSpotCRM(http=http, token=TOKEN, clock=FakeClock(NOW))


def _body(call: Any) -> Any:
    return json.loads(call.request.content)


def _contact(contact_id: str = "101", **props: str) -> dict[str, Any]:
    return {"id": contact_id, "properties": {"hs_object_id": contact_id, **props}}


@respx.mock
async def test_upsert_creates_after_two_empty_searches(crm: HubSpotCRM) -> None:
    """Search by phone, then email (EQ filters), then POST the mapped properties."""
    search = respx.post(f"{OBJECTS}/contacts/search").respond(200, json=EMPTY_SEARCH)
    create = respx.post(f"{OBJECTS}/contacts").respond(
        201,
        json=_contact(
            phone=PHONE.e164,
            email=EMAIL.address,
            firstname="Ana",
            lifecyclestage="lead",
        ),
    )
    draft = ContactDraft(
        phone=PHONE,
        email=EMAIL,
        first_name="Ana",
        lifecycle_stage=LifecycleStage.LEAD,
        properties={"city": "Cluj"},
    )
    contact = await crm.upsert_contact(draft)
    by_phone, by_email = (_body(c) for c in search.calls)
    assert by_phone["filterGroups"] == [
        {"filters": [{"propertyName": "phone", "operator": "EQ", "value": "+40712345678"}]}
    ]
    assert by_email["filterGroups"][0]["filters"][0] == {
        "propertyName": "email",
        "operator": "EQ",
        "value": "ana@example.com",
    }
    assert "city" in by_phone["properties"]
    sent = create.calls.last.request
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert _body(create.calls.last) == {
        "properties": {
            "city": "Cluj",
            "phone": "+40712345678",
            "email": "ana@example.com",
            "firstname": "Ana",
            "lifecyclestage": "lead",
        }
    }
    assert (contact.id, contact.phone, contact.first_name) == ("101", PHONE, "Ana")
    assert TOKEN not in repr(crm)


@respx.mock
async def test_upsert_updates_the_match_with_only_the_set_fields(crm: HubSpotCRM) -> None:
    """A phone match is PATCHed with the draft's non-None fields; stored ones are kept."""
    respx.post(f"{OBJECTS}/contacts/search").respond(
        200,
        json={"total": 1, "results": [_contact(phone=PHONE.e164, firstname="Ana", lastname="Pop")]},
    )
    patch = respx.patch(f"{OBJECTS}/contacts/101").respond(200, json=_contact(email=EMAIL.address))
    contact = await crm.upsert_contact(ContactDraft(phone=PHONE, email=EMAIL))
    assert _body(patch.calls.last) == {"properties": {"phone": PHONE.e164, "email": EMAIL.address}}
    assert (contact.email, contact.first_name, contact.last_name) == (EMAIL, "Ana", "Pop")


@respx.mock
async def test_a_create_that_loses_the_race_updates_the_existing_contact(
    crm: HubSpotCRM,
) -> None:
    """409 'Contact already exists. Existing ID: N' turns into a PATCH of N."""
    respx.post(f"{OBJECTS}/contacts/search").respond(200, json=EMPTY_SEARCH)
    respx.post(f"{OBJECTS}/contacts").respond(
        409,
        json={
            "status": "error",
            "message": "Contact already exists. Existing ID: 37765128953",
            "correlationId": "2dea5219-07f2-40ce-82ec-9c2e302317a4",
            "category": "CONFLICT",
        },
    )
    patch = respx.patch(f"{OBJECTS}/contacts/37765128953").respond(
        200, json=_contact("37765128953", email=EMAIL.address)
    )
    contact = await crm.upsert_contact(ContactDraft(email=EMAIL))
    assert patch.called
    assert contact.id == "37765128953"


UNIQUE = "portico_phone_e164"


@respx.mock
async def test_a_phone_only_upsert_creates_through_batch_upsert_on_the_unique_property() -> None:
    """With phone_id_property, a phone-only miss is POST batch/upsert keyed on the E.164 phone."""
    respx.post(f"{OBJECTS}/contacts/search").respond(200, json=EMPTY_SEARCH)
    create = respx.post(f"{OBJECTS}/contacts")
    upsert = respx.post(f"{OBJECTS}/contacts/batch/upsert").respond(
        200,
        json={
            "status": "COMPLETE",
            "results": [{**_contact("202", phone=PHONE.e164, firstname="Ana"), "new": True}],
        },
    )
    async with httpx.AsyncClient(base_url=API) as http:
        crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property=UNIQUE)
        draft = ContactDraft(phone=PHONE, first_name="Ana")
        assert crm.upsert_is_idempotent(draft)
        contact = await crm.upsert_contact(draft)
    assert not create.called
    assert _body(upsert.calls.last) == {
        "inputs": [
            {
                "idProperty": UNIQUE,
                "id": PHONE.e164,
                "properties": {"phone": PHONE.e164, "firstname": "Ana"},
            }
        ]
    }
    assert upsert.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert (contact.id, contact.phone) == ("202", PHONE)
    assert UNIQUE not in contact.properties


@respx.mock
async def test_the_unique_phone_is_written_on_updates_too() -> None:
    """A contact found by search gets the unique phone property in its PATCH."""
    respx.post(f"{OBJECTS}/contacts/search").respond(
        200, json={"total": 1, "results": [_contact("101", phone=PHONE.e164)]}
    )
    patch = respx.patch(f"{OBJECTS}/contacts/101").respond(200, json=_contact("101"))
    async with httpx.AsyncClient(base_url=API) as http:
        crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property=UNIQUE)
        await crm.upsert_contact(ContactDraft(phone=PHONE))
    assert _body(patch.calls.last)["properties"] == {"phone": PHONE.e164, UNIQUE: PHONE.e164}


@pytest.mark.parametrize("results", [[], [_contact("1"), _contact("2")]], ids=["none", "two"])
@respx.mock
async def test_a_batch_upsert_without_exactly_one_result_is_unexpected(
    results: list[Any],
) -> None:
    """A batch upsert answer that is not exactly one contact is UnexpectedResponse."""
    respx.post(f"{OBJECTS}/contacts/search").respond(200, json=EMPTY_SEARCH)
    respx.post(f"{OBJECTS}/contacts/batch/upsert").respond(200, json={"results": results})
    async with httpx.AsyncClient(base_url=API) as http:
        crm = HubSpotCRM(http=http, token=TOKEN, phone_id_property=UNIQUE)
        with pytest.raises(UnexpectedResponse):
            await crm.upsert_contact(ContactDraft(phone=PHONE))


def test_only_a_phone_only_upsert_without_a_unique_property_is_not_idempotent() -> None:
    """Email drafts are deduplicated by HubSpot; phone-only ones only with phone_id_property."""
    plain = HubSpotCRM(http=httpx.AsyncClient(), token=TOKEN)
    keyed = HubSpotCRM(http=httpx.AsyncClient(), token=TOKEN, phone_id_property=UNIQUE)
    assert plain.upsert_is_idempotent(ContactDraft(phone=PHONE, email=EMAIL))
    assert plain.upsert_is_idempotent(ContactDraft(email=EMAIL))
    assert not plain.upsert_is_idempotent(ContactDraft(phone=PHONE))
    assert keyed.upsert_is_idempotent(ContactDraft(phone=PHONE))


@respx.mock
async def test_phone_and_email_of_two_contacts_is_a_conflict(crm: HubSpotCRM) -> None:
    """Different contacts for the phone and the email: Conflict, nothing written."""
    respx.post(f"{OBJECTS}/contacts/search").mock(
        side_effect=[
            httpx.Response(200, json={"total": 1, "results": [_contact("1")]}),
            httpx.Response(200, json={"total": 1, "results": [_contact("2")]}),
        ]
    )
    with pytest.raises(Conflict):
        await crm.upsert_contact(ContactDraft(phone=PHONE, email=EMAIL))


@respx.mock
async def test_get_contact_asks_for_the_core_properties(crm: HubSpotCRM) -> None:
    """GET /contacts/{id}?properties=phone,email,firstname,lastname,lifecyclestage."""
    route = respx.get(f"{OBJECTS}/contacts/101").respond(
        200,
        json=_contact(phone="0712 345 678", email="not-an-email", lifecyclestage="custom-stage"),
    )
    contact = await crm.get_contact("101")
    assert route.calls.last.request.url.params["properties"] == (
        "phone,email,firstname,lastname,lifecyclestage"
    )
    # What HubSpot stored but we cannot parse reads as None instead of crashing; a stage with no
    # mapping (a portal's custom one) is the domain's OTHER.
    assert (contact.phone, contact.email) == (None, None)
    assert contact.lifecycle_stage is LifecycleStage.OTHER


async def test_a_non_numeric_id_is_not_found_without_a_request(crm: HubSpotCRM) -> None:
    """HubSpot ids are numeric: anything else is NotFound and never reaches a URL."""
    with pytest.raises(NotFound) as caught:
        await crm.get_contact("../deals/1")
    assert caught.value.request_sent is False


@respx.mock
async def test_create_deal_associates_the_contact(crm: HubSpotCRM) -> None:
    """POST /deals with properties and association type 3 after checking the contact."""
    respx.get(f"{OBJECTS}/contacts/101").respond(200, json=_contact())
    route = respx.post(f"{OBJECTS}/deals").respond(
        201,
        json={
            "id": "9001",
            "properties": {
                "dealname": "Consultation",
                "dealstage": "appointmentscheduled",
                "pipeline": "default",
                "amount": "150.00",
                "deal_currency_code": "RON",
            },
        },
    )
    deal = await crm.create_deal(
        DealDraft("101", "Consultation", DealStage.OPEN, Money.of("150", "RON"))
    )
    assert _body(route.calls.last) == {
        "properties": {
            "dealname": "Consultation",
            "dealstage": "appointmentscheduled",
            "pipeline": "default",
            "amount": "150.00",
            "deal_currency_code": "RON",
        },
        "associations": [
            {
                "to": {"id": "101"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}],
            }
        ],
    }
    assert (deal.id, deal.contact_id, deal.amount) == ("9001", "101", Money(15000, "RON"))
    assert deal.stage is DealStage.OPEN


@respx.mock
async def test_move_deal_patches_the_stage_and_reads_the_contact(crm: HubSpotCRM) -> None:
    """PATCH dealstage, then GET with associations=contacts."""
    patch = respx.patch(f"{OBJECTS}/deals/9001").respond(200, json={"id": "9001"})
    get = respx.get(f"{OBJECTS}/deals/9001").respond(
        200,
        json={
            "id": "9001",
            "properties": {"dealname": "C", "dealstage": "closedwon"},
            "associations": {"contacts": {"results": [{"id": "101", "type": "deal_to_contact"}]}},
        },
    )
    deal = await crm.move_deal("9001", DealStage.WON)
    assert _body(patch.calls.last) == {"properties": {"dealstage": "closedwon"}}
    assert get.calls.last.request.url.params["associations"] == "contacts"
    assert (deal.stage, deal.contact_id, deal.amount) == (DealStage.WON, "101", None)


@respx.mock
async def test_a_portals_own_stage_ids_are_written_and_read_back() -> None:
    """With a custom pipeline's ids mapped, the domain's stages go out and come back as ids."""
    stages = HubSpotStages(deal_stages={DealStage.WON: "1234567"})
    async with httpx.AsyncClient(base_url=API) as http:
        crm = HubSpotCRM(http=http, token=TOKEN, stages=stages)
        patch = respx.patch(f"{OBJECTS}/deals/9001").respond(200, json={"id": "9001"})
        get = respx.get(f"{OBJECTS}/deals/9001")
        get.respond(200, json={"id": "9001", "properties": {"dealstage": "1234567"}})
        assert (await crm.move_deal("9001", DealStage.WON)).stage is DealStage.WON
        assert _body(patch.calls.last) == {"properties": {"dealstage": "1234567"}}
        # A stage between open and won (moved there in HubSpot by hand) is still an open deal.
        get.respond(200, json={"id": "9001", "properties": {"dealstage": "qualifiedtobuy"}})
        assert (await crm.move_deal("9001", DealStage.OPEN)).stage is DealStage.OPEN
        assert _body(patch.calls.last) == {"properties": {"dealstage": "appointmentscheduled"}}


@respx.mock
async def test_lifecycle_stages_go_out_as_hubspots_internal_values(crm: HubSpotCRM) -> None:
    """The domain's MARKETING_QUALIFIED is HubSpot's marketingqualifiedlead, both ways."""
    patch = respx.patch(f"{OBJECTS}/contacts/101").respond(200, json=_contact())
    respx.get(f"{OBJECTS}/contacts/101").respond(
        200, json=_contact(lifecyclestage="marketingqualifiedlead")
    )
    contact = await crm.update_contact("101", lifecycle_stage=LifecycleStage.MARKETING_QUALIFIED)
    assert _body(patch.calls.last) == {"properties": {"lifecyclestage": "marketingqualifiedlead"}}
    assert contact.lifecycle_stage is LifecycleStage.MARKETING_QUALIFIED


@respx.mock
async def test_add_note_sends_body_timestamp_and_association_202(crm: HubSpotCRM) -> None:
    """POST /notes with hs_note_body, hs_timestamp (ISO, ms) and association type 202."""
    respx.get(f"{OBJECTS}/contacts/101").respond(200, json=_contact())
    route = respx.post(f"{OBJECTS}/notes").respond(
        201,
        json={
            "id": "77",
            "properties": {"hs_note_body": "Booked.", "hs_timestamp": "2026-11-24T12:00:00.000Z"},
        },
    )
    note = await crm.add_note("101", "Booked.")
    assert _body(route.calls.last) == {
        "properties": {"hs_note_body": "Booked.", "hs_timestamp": "2026-11-24T12:00:00.000Z"},
        "associations": [
            {
                "to": {"id": "101"},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
            }
        ],
    }
    assert (note.id, note.contact_id, note.created_at) == ("77", "101", NOW)


def _error(category: str, message: str = "Something.") -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": "c0ffee", "category": category}


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            400,
            _error("VALIDATION_ERROR", "Property values were not valid"),
            InvalidRequest,
            "VALIDATION_ERROR",
        ),
        (401, _error("INVALID_AUTHENTICATION"), AuthenticationFailed, "INVALID_AUTHENTICATION"),
        (404, _error("OBJECT_NOT_FOUND"), NotFound, "OBJECT_NOT_FOUND"),
        (409, _error("CONFLICT", "Contact already exists. Existing ID: 5"), Conflict, "CONFLICT"),
        (500, _error("INTERNAL_ERROR"), Unavailable, "INTERNAL_ERROR"),
    ],
)
@respx.mock
async def test_documented_errors_map(
    crm: HubSpotCRM, status: int, body: Any, expected: type[IntegrationError], code: str
) -> None:
    """Each documented HubSpot error becomes its domain error with category and correlationId."""
    respx.patch(f"{OBJECTS}/deals/1").respond(status, json=body)
    with pytest.raises(expected) as caught:
        await crm.move_deal("1", DealStage.WON)
    assert caught.value.vendor_code == code
    assert "correlationId c0ffee" in caught.value.message


@pytest.mark.parametrize(
    ("headers", "policy", "retry_after"),
    [
        (
            {
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
            "TEN_SECONDLY_ROLLING",
            10.0,
        ),
        (
            {
                "X-HubSpot-RateLimit-Remaining": "3",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
            "SECONDLY",
            None,
        ),
        (
            {
                "Retry-After": "4",
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            },
            "SECONDLY",
            4.0,
        ),
        ({"X-HubSpot-RateLimit-Daily-Remaining": "0"}, "DAILY", None),
    ],
)
@respx.mock
async def test_rate_limits_carry_the_wait_from_hubspots_headers(
    crm: HubSpotCRM, headers: dict[str, str], policy: str, retry_after: float | None
) -> None:
    """A 429 is RateLimited; a spent interval budget waits one interval."""
    body = {
        "status": "error",
        "message": "You have reached your limit.",
        "errorType": "RATE_LIMIT",
        "policyName": policy,
        "correlationId": "c1",
    }
    respx.patch(f"{OBJECTS}/deals/1").respond(429, json=body, headers=headers)
    with pytest.raises(RateLimited) as caught:
        await crm.move_deal("1", DealStage.WON)
    assert caught.value.retry_after == retry_after
    assert caught.value.vendor_code == f"RATE_LIMIT/{policy}"


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        (502, b"<html><body>502 Bad Gateway</body></html>", Unavailable),
        (200, b'{"total": 1, "results": [{"id": "1", "prop', UnexpectedResponse),
        (200, b'{"total": 1, "results": [{"id": "1"}]}', UnexpectedResponse),
        (200, b'{"total": 1, "results": ["1"]}', UnexpectedResponse),
    ],
    ids=["html-502", "truncated-json", "missing-properties", "result-not-object"],
)
@respx.mock
async def test_bodies_hubspot_does_not_document(
    crm: HubSpotCRM, status: int, content: bytes, expected: type
) -> None:
    """HTML pages, truncated JSON and missing fields are clear errors, never KeyError."""
    respx.post(f"{OBJECTS}/contacts/search").respond(status, content=content)
    with pytest.raises(expected):
        await crm.find_contact(phone=PHONE)


async def test_a_configurable_path_prefix() -> None:
    """The objects path is configurable (a date-versioned API, a proxy)."""
    async with httpx.AsyncClient(base_url=API) as http:
        crm = HubSpotCRM(http=http, token=TOKEN, objects_path="/crm/objects/2026-03/")
        with respx.mock:
            route = respx.get(f"{API}/crm/objects/2026-03/contacts/5").respond(
                200, json=_contact("5")
            )
            assert (await crm.get_contact("5")).id == "5"
            assert route.called
