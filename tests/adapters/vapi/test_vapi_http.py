"""The Vapi adapter: exact requests, live call control, and error mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from portico.adapters.vapi import VapiVoice
from portico.domain.errors import (
    AuthenticationFailed,
    Conflict,
    IntegrationError,
    InvalidRequest,
    NotFound,
    Unavailable,
    UnexpectedResponse,
)
from portico.domain.voice import CallRequest, CallStatus


KEY = "vapi-private-secret"
PHONE_ID = "42b4b25d-031e-4786-857f-63b346c9580f"
ASSISTANT = "5b0a4a08-133c-4146-9315-0984f8c6be80"
CALL_ID = "7420f27a-30fd-4f49-a995-5549ae7cc00d"
PATIENT = "+40712345678"
CONTROL = (
    f"https://phone-call-websocket.aws-us-west-2-backend-production2.vapi.ai/{CALL_ID}/control"
)


def _call(status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {
        "id": CALL_ID,
        "status": status,
        "type": "outboundPhoneCall",
        "assistantId": ASSISTANT,
        "phoneNumberId": PHONE_ID,
        "customer": {"number": PATIENT},
        "createdAt": "2025-05-01T09:30:00.123Z",
        "assistantOverrides": {"metadata": {"deal": "D-1"}},
        "monitor": {"listenUrl": "wss://x.vapi.ai/listen", "controlUrl": CONTROL},
        **extra,
    }


@pytest.fixture
async def vapi() -> Any:
    """An adapter with its own client for api.vapi.ai."""
    adapter = VapiVoice.build(api_key=KEY, phone_number_id=PHONE_ID)
    yield adapter
    await adapter.aclose()


@respx.mock
async def test_start_call_posts_assistant_number_and_customer(vapi: Any) -> None:
    """POST /call with assistantId, phoneNumberId, customer.number and Bearer key."""
    route = respx.post("https://api.vapi.ai/call").mock(
        return_value=httpx.Response(201, json=_call())
    )
    call = await vapi.start_call(CallRequest(PATIENT, ASSISTANT, metadata={"deal": "D-1"}))
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "assistantId": ASSISTANT,
        "phoneNumberId": PHONE_ID,
        "customer": {"number": PATIENT},
        "assistantOverrides": {"metadata": {"deal": "D-1"}},
    }
    assert call.id == CALL_ID
    assert call.status is CallStatus.QUEUED
    assert call.to is not None
    assert call.to.e164 == PATIENT
    assert call.created_at == datetime(2025, 5, 1, 9, 30, 0, 123000, tzinfo=UTC)
    assert dict(call.metadata) == {"deal": "D-1"}


@respx.mock
async def test_get_call_reads_the_call(vapi: Any) -> None:
    """GET /call/{id} maps status and endedReason."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("ended", endedReason="customer-ended-call"))
    )
    call = await vapi.get_call(CALL_ID)
    assert call.status is CallStatus.ENDED
    assert call.ended_reason == "customer-ended-call"


@respx.mock
async def test_end_call_posts_end_call_to_the_control_url_without_the_key(vapi: Any) -> None:
    """A live call is ended with {"type": "end-call"} at monitor.controlUrl, no API key."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        side_effect=[
            httpx.Response(200, json=_call("in-progress")),
            httpx.Response(200, json=_call("ended", endedReason="manually-canceled")),
        ]
    )
    control = respx.post(CONTROL).mock(return_value=httpx.Response(200, text="OK"))
    call = await vapi.end_call(CALL_ID)
    request = control.calls.last.request
    assert json.loads(request.content) == {"type": "end-call"}
    assert "authorization" not in request.headers
    assert call.status is CallStatus.ENDED
    assert call.ended_reason == "manually-canceled"


@respx.mock
async def test_end_call_reports_ended_when_vapi_is_still_hanging_up(vapi: Any) -> None:
    """If the read after end-call still shows the call live, it is returned ENDED."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("in-progress"))
    )
    respx.post(CONTROL).mock(return_value=httpx.Response(200, text="OK"))
    assert (await vapi.end_call(CALL_ID)).status is CallStatus.ENDED


@respx.mock
async def test_end_call_of_an_ended_call_sends_no_command(vapi: Any) -> None:
    """Ending an ended call returns it unchanged and sends nothing to the control URL."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("ended", endedReason="assistant-ended-call"))
    )
    control = respx.post(CONTROL)
    call = await vapi.end_call(CALL_ID)
    assert call.ended_reason == "assistant-ended-call"
    assert control.call_count == 0


@respx.mock
async def test_end_call_without_a_control_url_is_a_conflict(vapi: Any) -> None:
    """A live call with no monitor.controlUrl cannot be hung up: Conflict."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("scheduled", monitor=None))
    )
    with pytest.raises(Conflict, match="controlUrl"):
        await vapi.end_call(CALL_ID)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/control",
        "http://x.vapi.ai/control",
        "https://vapi.ai.evil.com/control",
    ],
)
@respx.mock
async def test_control_url_off_vapi_is_refused_and_not_called(vapi: Any, url: str) -> None:
    """A control URL that is not https on vapi.ai is never called (no SSRF)."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("in-progress", monitor={"controlUrl": url}))
    )
    with pytest.raises(UnexpectedResponse, match="controlUrl"):
        await vapi.end_call(CALL_ID)
    assert len(respx.calls) == 1


@respx.mock
async def test_control_url_errors_are_mapped(vapi: Any) -> None:
    """A failing control endpoint maps like any Vapi error."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("ringing"))
    )
    respx.post(CONTROL).mock(return_value=httpx.Response(503, text="<html>down</html>"))
    with pytest.raises(Unavailable):
        await vapi.end_call(CALL_ID)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        pytest.param(
            400,
            {
                "message": [f"customer.number must be E.164. Got {PATIENT}"],
                "error": "Bad Request",
                "statusCode": 400,
            },
            InvalidRequest,
            id="400",
        ),
        pytest.param(
            401,
            {"message": "Invalid Key.", "error": "Unauthorized", "statusCode": 401},
            AuthenticationFailed,
            id="401",
        ),
        pytest.param(
            404,
            {"message": "Couldn't Get Assistant.", "error": "Not Found", "statusCode": 404},
            NotFound,
            id="404",
        ),
        pytest.param(502, "<html>Bad Gateway</html>", Unavailable, id="html-502"),
        pytest.param(400, '{"message": "cut', InvalidRequest, id="truncated-400"),
    ],
)
@respx.mock
async def test_vapi_errors_map_and_hide_numbers(
    vapi: Any, status: int, body: Any, kind: type[IntegrationError]
) -> None:
    """Vapi's NestJS errors map by status; a quoted number never reaches the message."""
    response = (
        httpx.Response(status, json=body)
        if isinstance(body, dict)
        else httpx.Response(status, text=body)
    )
    respx.post("https://api.vapi.ai/call").mock(return_value=response)
    with pytest.raises(kind) as caught:
        await vapi.start_call(CallRequest(PATIENT, ASSISTANT))
    assert "712345678" not in str(caught.value)
    assert caught.value.integration == "vapi"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"status": "queued"}, id="no-id"),
        pytest.param({"id": CALL_ID}, id="no-status"),
        pytest.param({"id": CALL_ID, "status": "exploded"}, id="unknown-status"),
        pytest.param({"id": CALL_ID, "status": "queued", "createdAt": "yesterday"}, id="bad-date"),
        pytest.param(
            {"id": CALL_ID, "status": "queued", "customer": {"number": "123"}}, id="bad-number"
        ),
        pytest.param({"id": CALL_ID, "status": "queued", "customer": "x"}, id="customer-not-obj"),
        pytest.param({"id": "", "status": "queued"}, id="blank-id"),
    ],
)
@respx.mock
async def test_a_2xx_call_without_documented_fields_is_unexpected(vapi: Any, body: Any) -> None:
    """Missing or malformed call fields are UnexpectedResponse naming the field."""
    respx.post("https://api.vapi.ai/call").mock(return_value=httpx.Response(201, json=body))
    with pytest.raises(UnexpectedResponse):
        await vapi.start_call(CallRequest(PATIENT, ASSISTANT))


@pytest.mark.parametrize("operation", ["get_call", "end_call"])
async def test_a_non_uuid_id_is_not_found_without_a_request(vapi: Any, operation: str) -> None:
    """An id that is not a UUID raises NotFound and sends nothing."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route(url__startswith="https://api.vapi.ai")
        with pytest.raises(NotFound):
            await getattr(vapi, operation)("../assistant")
        assert route.call_count == 0


def test_repr_shows_no_key() -> None:
    """The adapter's repr never shows the API key."""
    assert KEY not in repr(
        VapiVoice(http=httpx.AsyncClient(), api_key=KEY, phone_number_id=PHONE_ID)
    )


@pytest.mark.parametrize("status", ["not-found", "deletion-failed"])
@respx.mock
async def test_calls_in_vapis_final_statuses_are_read_and_not_hung_up(
    vapi: Any, status: str
) -> None:
    """not-found and deletion-failed read as final statuses; end_call sends nothing."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call(status))
    )
    control = respx.post(CONTROL)
    assert (await vapi.get_call(CALL_ID)).status is CallStatus(status)
    assert (await vapi.end_call(CALL_ID)).status is CallStatus(status)
    assert control.call_count == 0


@respx.mock
async def test_the_public_key_goes_to_the_control_url_never_the_private_one() -> None:
    """With public_key (controlAuthenticationEnabled), the control URL gets it as a Bearer."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("in-progress"))
    )
    control = respx.post(CONTROL).mock(return_value=httpx.Response(200, text="OK"))
    adapter = VapiVoice.build(api_key=KEY, phone_number_id=PHONE_ID, public_key="vapi-public")
    await adapter.end_call(CALL_ID)
    await adapter.aclose()
    assert control.calls.last.request.headers["authorization"] == "Bearer vapi-public"
    assert "vapi-public" not in repr(adapter)


@respx.mock
async def test_a_live_call_without_a_control_url_is_a_clear_conflict(vapi: Any) -> None:
    """Control disabled on the assistant: Conflict naming controlEnabled, nothing sent."""
    respx.get(f"https://api.vapi.ai/call/{CALL_ID}").mock(
        return_value=httpx.Response(200, json=_call("in-progress", monitor={"listenUrl": "x"}))
    )
    with pytest.raises(Conflict, match=r"monitorPlan\.controlEnabled") as err:
        await vapi.end_call(CALL_ID)
    assert err.value.request_sent is False
