"""The Vapi adapter recognises a call its idempotency key already started, since Vapi cannot."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from tests.simulators.vapi import VapiSimulator

from portico.adapters.fakes import FakeClock
from portico.adapters.vapi import VapiVoice
from portico.adapters.vapi.reconcile import KEY_FIELD, MAX_PAGES, PAGE_SIZE
from portico.domain.errors import Conflict, InvalidValue, Unavailable, UnexpectedResponse
from portico.domain.values import IdempotencyKey
from portico.domain.voice import CallRequest, CallStatus


KEY = "vapi-private-secret"
PHONE_ID = "42b4b25d-031e-4786-857f-63b346c9580f"
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"
CALL_ID = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
PATIENT = "+40712345678"
NOW = datetime(2025, 5, 2, 12, 0, tzinfo=UTC)
CALLS = "https://api.vapi.ai/call"
KEYED = IdempotencyKey("call-key-1")


def _call(call_id: str = CALL_ID, *, key: str | None = None, **extra: Any) -> dict[str, Any]:
    metadata = {"deal": "D-1"} | ({KEY_FIELD: key} if key else {})
    return {
        "id": call_id,
        "status": "ringing",
        "assistantId": ASSISTANT,
        "phoneNumberId": PHONE_ID,
        "customer": {"number": PATIENT},
        "createdAt": "2025-05-02T11:59:00.000Z",
        "assistantOverrides": {"metadata": metadata},
        **extra,
    }


def _request(key: IdempotencyKey | None = KEYED, to: str = PATIENT) -> CallRequest:
    return CallRequest(to, ASSISTANT, metadata={"deal": "D-1"}, idempotency_key=key)


def _query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}


@pytest.fixture
async def vapi() -> AsyncIterator[VapiVoice]:
    """An adapter on a fixed clock."""
    adapter = VapiVoice.build(api_key=KEY, phone_number_id=PHONE_ID)
    adapter.clock = FakeClock(NOW)
    yield adapter
    await adapter.aclose()


@respx.mock
async def test_a_new_key_looks_back_24_hours_then_creates_with_the_key(vapi: VapiVoice) -> None:
    """A keyed start lists this assistant's and number's calls of the last 24 h, then POSTs."""
    listed = respx.get(CALLS).mock(return_value=httpx.Response(200, json=[_call("other")]))
    created = respx.post(CALLS).mock(return_value=httpx.Response(201, json=_call(key="k")))
    call = await vapi.start_call(_request())
    assert _query(listed.calls.last.request) == {
        "assistantId": ASSISTANT,
        "phoneNumberId": PHONE_ID,
        "createdAtGt": "2025-05-01T12:00:00.000Z",
        "limit": str(PAGE_SIZE),
    }
    assert listed.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(created.calls.last.request.content)
    assert body["assistantOverrides"] == {"metadata": {"deal": "D-1", KEY_FIELD: "call-key-1"}}
    assert dict(call.metadata) == {"deal": "D-1"}


@respx.mock
async def test_a_call_carrying_the_key_is_returned_and_nobody_is_rung(vapi: VapiVoice) -> None:
    """When the key already started a call, that call comes back as it is and nothing is POSTed."""
    respx.get(CALLS).mock(
        return_value=httpx.Response(200, json=[_call("other"), _call(key="call-key-1")])
    )
    created = respx.post(CALLS)
    call = await vapi.start_call(_request())
    assert call.id == CALL_ID
    assert call.status is CallStatus.RINGING
    assert dict(call.metadata) == {"deal": "D-1"}
    assert created.call_count == 0


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"customer": {"number": "+40745987654"}}, id="number"),
        pytest.param({"assistantOverrides": {"metadata": {KEY_FIELD: "call-key-1"}}}, id="meta"),
    ],
)
@respx.mock
async def test_the_key_on_a_different_request_is_a_conflict(
    vapi: VapiVoice, changed: dict[str, Any]
) -> None:
    """A call with the key but another number or metadata is Conflict, and nothing is POSTed."""
    respx.get(CALLS).mock(
        return_value=httpx.Response(200, json=[_call(key="call-key-1") | changed])
    )
    created = respx.post(CALLS)
    with pytest.raises(Conflict) as caught:
        await vapi.start_call(_request())
    assert caught.value.request_sent is False
    assert "798765432" not in str(caught.value)
    assert created.call_count == 0


@respx.mock
async def test_without_a_key_nothing_is_listed(vapi: VapiVoice) -> None:
    """An unkeyed start POSTs straight away, with no key in the metadata."""
    listed = respx.get(CALLS)
    created = respx.post(CALLS).mock(return_value=httpx.Response(201, json=_call()))
    await vapi.start_call(_request(key=None))
    assert listed.call_count == 0
    body = json.loads(created.calls.last.request.content)
    assert body["assistantOverrides"] == {"metadata": {"deal": "D-1"}}


async def test_the_reserved_metadata_name_is_refused_before_sending(vapi: VapiVoice) -> None:
    """Caller metadata may not use the key's field: InvalidValue naming metadata, no request."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route(url__startswith="https://api.vapi.ai")
        with pytest.raises(InvalidValue) as caught:
            await vapi.start_call(CallRequest(PATIENT, ASSISTANT, metadata={KEY_FIELD: "x"}))
        assert caught.value.field == "metadata"
        assert route.call_count == 0


@respx.mock
async def test_a_full_page_is_followed_to_the_next_one(vapi: VapiVoice) -> None:
    """A full page leads to the next (createdAtLe = oldest seen) where the key's call is found."""
    oldest = "2025-05-02T08:00:00.000Z"
    page = [_call(f"c{i}", createdAt="2025-05-02T10:00:00.000Z") for i in range(PAGE_SIZE - 1)]
    page.append(_call("c-old", createdAt=oldest))
    listed = respx.get(CALLS).mock(
        side_effect=[
            httpx.Response(200, json=page),
            httpx.Response(200, json=[_call("c-old", createdAt=oldest), _call(key="call-key-1")]),
        ]
    )
    created = respx.post(CALLS)
    assert (await vapi.start_call(_request())).id == CALL_ID
    assert _query(listed.calls[1].request)["createdAtLe"] == oldest
    assert created.call_count == 0


@respx.mock
async def test_a_window_too_full_to_search_is_a_conflict_not_a_second_ring(
    vapi: VapiVoice,
) -> None:
    """When paging cannot finish, absence is unproven: Conflict, and nothing is POSTed."""
    pages = iter(range(MAX_PAGES))

    def full_page(_: httpx.Request) -> httpx.Response:
        n = next(pages)
        at = (NOW - timedelta(minutes=n + 1)).isoformat().replace("+00:00", "Z")
        return httpx.Response(
            200, json=[_call(f"p{n}-{i}", createdAt=at) for i in range(PAGE_SIZE)]
        )

    listed = respx.get(CALLS).mock(side_effect=full_page)
    created = respx.post(CALLS)
    with pytest.raises(Conflict, match="look-back window"):
        await vapi.start_call(_request())
    assert listed.call_count == MAX_PAGES
    assert created.call_count == 0


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        pytest.param(httpx.Response(503, text="down"), Unavailable, id="503"),
        pytest.param(httpx.Response(200, json={"results": []}), UnexpectedResponse, id="object"),
        pytest.param(httpx.Response(200, json=["x"]), UnexpectedResponse, id="not-objects"),
        pytest.param(
            httpx.Response(200, json=[_call(createdAt="soon")] * PAGE_SIZE),
            UnexpectedResponse,
            id="bad-date",
        ),
    ],
)
@respx.mock
async def test_a_failed_lookup_never_creates(
    vapi: VapiVoice, response: httpx.Response, kind: type[Exception]
) -> None:
    """If the look-back cannot be read, the error is raised and no call is placed."""
    respx.get(CALLS).mock(return_value=response)
    created = respx.post(CALLS)
    with pytest.raises(kind):
        await vapi.start_call(_request())
    assert created.call_count == 0


async def test_against_the_simulator_a_repeat_rings_once() -> None:
    """Over Vapi's real wire format (simulated), a repeated keyed start places one call."""
    sim = VapiSimulator(phone_numbers={PHONE_ID})
    transport = httpx.ASGITransport(app=sim)
    async with httpx.AsyncClient(base_url="https://api.vapi.ai", transport=transport) as http:
        vapi = VapiVoice(http=http, api_key=sim.api_key, phone_number_id=PHONE_ID)
        first = await vapi.start_call(_request())
        second = await vapi.start_call(_request())
        other = await vapi.start_call(_request(IdempotencyKey("call-key-2")))
    assert second.id == first.id != other.id
    assert len(sim.calls) == 2
    assert len(sim.requests_to("POST", "/call")) == 2
    stored = sim.calls[first.id]["assistantOverrides"]["metadata"]
    assert stored == {"deal": "D-1", KEY_FIELD: "call-key-1"}
