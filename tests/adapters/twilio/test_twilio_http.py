"""The Twilio SMS adapter: exact form-encoded requests, statuses and error mapping."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from portico.adapters.twilio import TwilioMessaging
from portico.domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    InvalidRequest,
    InvalidValue,
    NotFound,
    RateLimited,
    Unavailable,
    UnexpectedResponse,
)
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage
from portico.domain.values import PhoneNumber


SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-secret-token"
BASE = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages"
MSG = "SM" + "f" * 32
PATIENT = "+40712345678"
CONTENT = "HX" + "b2" * 16


def _message(status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {
        "sid": MSG,
        "account_sid": SID,
        "to": PATIENT,
        "from": "+15017122661",
        "body": "Hello",
        "status": status,
        "error_code": None,
        "error_message": None,
        "api_version": "2010-04-01",
        **extra,
    }


@pytest.fixture
async def twilio() -> Any:
    """An adapter sending from a number, with one content template and a status callback."""
    adapter = TwilioMessaging.build(
        account_sid=SID,
        auth_token=TOKEN,
        sender=PhoneNumber("+15017122661"),
        status_callback="https://hooks.example.org/webhooks/twilio",
        content_sids={"payment_link": CONTENT},
    )
    yield adapter
    await adapter.aclose()


def _form(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode())


@respx.mock
async def test_text_is_form_encoded_with_basic_auth(twilio: Any) -> None:
    """POST Messages.json, form-encoded To/From/Body/StatusCallback, basic auth SID:token."""
    route = respx.post(f"{BASE}.json").mock(return_value=httpx.Response(201, json=_message()))
    receipt = await twilio.send(TextMessage(PATIENT, "See you at 10:00 & bring ID"))
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{SID}:{TOKEN}"
    assert _form(request) == [
        ("To", PATIENT),
        ("From", "+15017122661"),
        ("Body", "See you at 10:00 & bring ID"),
        ("StatusCallback", "https://hooks.example.org/webhooks/twilio"),
    ]
    assert receipt.message_id == MSG
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider == "twilio"


@respx.mock
async def test_template_goes_through_the_content_api() -> None:
    """A template becomes ContentSid + ContentVariables; a service SID replaces From."""
    route = respx.post(f"{BASE}.json").mock(
        return_value=httpx.Response(201, json=_message("accepted"))
    )
    async with httpx.AsyncClient(base_url="https://api.twilio.com") as http:
        adapter = TwilioMessaging(
            http=http,
            account_sid=SID,
            auth_token=TOKEN,
            messaging_service_sid="MG" + "1" * 32,
            content_sids={"payment_link": CONTENT},
        )
        receipt = await adapter.send(TemplateMessage(PATIENT, "payment_link", "ro", ("150", "x")))
    form = dict(_form(route.calls.last.request))
    assert form["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in form
    assert "Body" not in form
    assert form["ContentSid"] == CONTENT
    assert json.loads(form["ContentVariables"]) == {"1": "150", "2": "x"}
    assert receipt.status is DeliveryStatus.QUEUED


@respx.mock
async def test_a_content_sid_can_be_the_template_name(twilio: Any) -> None:
    """A template named by its HX SID needs no mapping."""
    route = respx.post(f"{BASE}.json").mock(return_value=httpx.Response(201, json=_message()))
    other = "HX" + "c3" * 16
    await twilio.send(TemplateMessage(PATIENT, other))
    assert dict(_form(route.calls.last.request))["ContentSid"] == other


@pytest.mark.parametrize("name", ["PaymentLink", "paymentlink", "PAYMENTLINK"])
@respx.mock
async def test_content_sid_names_match_case_insensitively(name: str) -> None:
    """A template name finds its SID whatever the case (env variable names are lower-cased)."""
    route = respx.post(f"{BASE}.json").mock(return_value=httpx.Response(201, json=_message()))
    async with httpx.AsyncClient(base_url="https://api.twilio.com") as http:
        adapter = TwilioMessaging(
            http=http,
            account_sid=SID,
            auth_token=TOKEN,
            sender=PhoneNumber("+15017122661"),
            content_sids={"paymentlink": CONTENT},
        )
        await adapter.send(TemplateMessage(PATIENT, name))
    assert dict(_form(route.calls.last.request))["ContentSid"] == CONTENT


async def test_refusals_before_sending(twilio: Any) -> None:
    """Too long a body or an unmapped template is InvalidRequest and nothing is sent."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(f"{BASE}.json")
        with pytest.raises(InvalidRequest, match="1600") as long:
            await twilio.send(TextMessage(PATIENT, "x" * 1601))
        with pytest.raises(InvalidRequest, match="content_sids") as unknown:
            await twilio.send(TemplateMessage(PATIENT, "unknown_template"))
        assert route.call_count == 0
    assert long.value.request_sent is False
    assert unknown.value.request_sent is False


@pytest.mark.parametrize(
    ("twilio_status", "expected"),
    [
        ("accepted", DeliveryStatus.QUEUED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("queued", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("partially_delivered", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("undelivered", DeliveryStatus.FAILED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
    ],
)
@respx.mock
async def test_get_status_fetches_the_message_and_maps_its_status(
    twilio: Any, twilio_status: str, expected: DeliveryStatus
) -> None:
    """GET Messages/{Sid}.json with basic auth; each Twilio status maps to one domain status."""
    route = respx.get(f"{BASE}/{MSG}.json").mock(
        return_value=httpx.Response(200, json=_message(twilio_status))
    )
    receipt = await twilio.get_status(MSG)
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")
    assert receipt.status is expected


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        pytest.param(
            400,
            {
                "code": 21211,
                "message": f"The 'To' number {PATIENT} is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            },
            InvalidRequest,
            "21211",
            id="invalid-to",
        ),
        pytest.param(
            400,
            {"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
            InvalidRequest,
            "21610",
            id="unsubscribed",
        ),
        pytest.param(
            401,
            {"code": 20003, "message": "Authenticate", "status": 401},
            AuthenticationFailed,
            "20003",
            id="auth",
        ),
        pytest.param(
            429,
            {"code": 20429, "message": "Too Many Requests", "status": 429},
            RateLimited,
            "20429",
            id="too-many",
        ),
        pytest.param(
            400,
            {"code": 14107, "message": "Message rate limit exceeded", "status": 400},
            InvalidRequest,
            "14107",
            id="send-rate",
        ),
        pytest.param(
            500,
            {"code": 20500, "message": "Internal Server Error", "status": 500},
            Unavailable,
            "20500",
            id="internal",
        ),
        pytest.param(
            404,
            {"code": 20404, "message": "not found", "status": 404},
            NotFound,
            "20404",
            id="not-found",
        ),
    ],
)
@respx.mock
async def test_twilio_error_codes_map(
    twilio: Any, status: int, body: Any, kind: type[IntegrationError], code: str
) -> None:
    """Twilio's code and status decide the domain error; numbers never reach the message."""
    respx.post(f"{BASE}.json").mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(kind) as caught:
        await twilio.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.vendor_code == code
    assert "712345678" not in str(caught.value)


@respx.mock
async def test_429_keeps_retry_after(twilio: Any) -> None:
    """A 429 with Retry-After is RateLimited with retry_after and request_sent False."""
    respx.post(f"{BASE}.json").mock(
        return_value=httpx.Response(
            429, json={"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "3"}
        )
    )
    with pytest.raises(RateLimited) as caught:
        await twilio.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.retry_after == 3.0
    assert caught.value.request_sent is False


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        pytest.param(502, b"<html>Bad Gateway</html>", Unavailable, id="html-502"),
        pytest.param(400, b'{"code": 212', InvalidRequest, id="truncated-400"),
        pytest.param(201, b'{"sid": "SM', UnexpectedResponse, id="truncated-201"),
        pytest.param(201, b'{"status": "queued"}', UnexpectedResponse, id="no-sid"),
        pytest.param(201, json.dumps({"sid": MSG}).encode(), UnexpectedResponse, id="no-status"),
        pytest.param(
            201,
            json.dumps({"sid": "XX1", "status": "queued"}).encode(),
            UnexpectedResponse,
            id="bad-sid",
        ),
        pytest.param(
            201,
            json.dumps({"sid": MSG, "status": "received"}).encode(),
            UnexpectedResponse,
            id="inbound-status",
        ),
        pytest.param(
            201,
            json.dumps({"sid": MSG, "status": 3}).encode(),
            UnexpectedResponse,
            id="status-not-str",
        ),
    ],
)
@respx.mock
async def test_unreadable_or_incomplete_bodies(
    twilio: Any, status: int, content: bytes, kind: type[IntegrationError]
) -> None:
    """HTML pages, truncated JSON and missing fields map cleanly, never to a KeyError."""
    respx.post(f"{BASE}.json").mock(return_value=httpx.Response(status, content=content))
    with pytest.raises(kind):
        await twilio.send(TextMessage(PATIENT, "Hello"))


async def test_get_status_of_a_non_sid_is_not_found_without_a_request(twilio: Any) -> None:
    """An id that is not a message SID raises NotFound and sends nothing (no path injection)."""
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(url__startswith="https://api.twilio.com")
        with pytest.raises(NotFound):
            await twilio.get_status("../../Calls/CA1")
        assert route.call_count == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"account_sid": "nope"}, "account_sid", id="bad-account"),
        pytest.param({"sender": None}, "sender", id="no-sender"),
        pytest.param({"messaging_service_sid": "MG" + "1" * 32}, "sender", id="both-senders"),
        pytest.param(
            {"sender": None, "messaging_service_sid": "MGx"},
            "messaging_service_sid",
            id="bad-service",
        ),
        pytest.param({"content_sids": {"t": "nope"}}, "content_sids", id="bad-content-sid"),
        pytest.param(
            {"content_sids": {"Link": CONTENT, "link": "HX" + "c3" * 16}},
            "content_sids",
            id="names-clash-by-case",
        ),
    ],
)
def test_bad_configuration_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    """A bad account SID, sender choice or content SID fails at construction."""
    settings: dict[str, Any] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "sender": PhoneNumber("+15017122661"),
        **kwargs,
    }
    with pytest.raises(InvalidValue, match=field):
        TwilioMessaging(http=httpx.AsyncClient(), **settings)


def test_repr_shows_no_token() -> None:
    """The adapter's repr never shows the auth token."""
    adapter = TwilioMessaging(
        http=httpx.AsyncClient(),
        account_sid=SID,
        auth_token=TOKEN,
        sender=PhoneNumber("+15017122661"),
    )
    assert TOKEN not in repr(adapter)
    assert "712345678" not in repr(adapter)
