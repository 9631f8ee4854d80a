"""The WhatsApp Cloud API adapter: exact requests, and every documented answer mapped."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from portico.adapters.whatsapp import DIALOG360, DeliveryStatusLog, WhatsAppMessaging, meta_cloud
from portico.domain.errors import (
    AuthenticationFailed,
    IntegrationError,
    InvalidRequest,
    InvalidValue,
    NetworkError,
    NotFound,
    PermissionDenied,
    RateLimited,
    TimedOut,
    Unavailable,
    UnexpectedResponse,
)
from portico.domain.messaging import DeliveryStatus, TemplateMessage, TextMessage


TOKEN = "EAAGm0PX4ZCpsBAsecret"
KEY = "d360-secret-key"
PHONE_ID = "106540352242922"
META_URL = f"https://graph.facebook.com/v23.0/{PHONE_ID}/messages"
D360_URL = "https://waba-v2.360dialog.io/messages"
PATIENT = "+40712345678"
OK: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "40712345678", "wa_id": "40712345678"}],
    "messages": [{"id": "wamid.HBgLNDA3MTIzNDU2NzgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}],
}


@pytest.fixture
async def meta() -> Any:
    """A Meta adapter with its own client."""
    adapter = WhatsAppMessaging.meta(token=TOKEN, phone_number_id=PHONE_ID)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def d360() -> Any:
    """A 360dialog adapter with its own client."""
    adapter = WhatsAppMessaging.dialog360(api_key=KEY)
    yield adapter
    await adapter.aclose()


def _meta_error(code: int, message: str = "(#x) error", **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEf",
            **extra,
        }
    }


@respx.mock
async def test_text_is_posted_as_cloud_api_json_with_a_bearer_token(meta: Any) -> None:
    """A text goes to /v23.0/{id}/messages as JSON, digits without '+', Bearer token."""
    route = respx.post(META_URL).mock(return_value=httpx.Response(200, json=OK))
    receipt = await meta.send(TextMessage(PATIENT, "See you at 10:00"))
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "40712345678",
        "type": "text",
        "text": {"preview_url": False, "body": "See you at 10:00"},
    }
    assert receipt.message_id == OK["messages"][0]["id"]
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.provider == "whatsapp"


@respx.mock
async def test_template_carries_language_and_body_parameters(meta: Any) -> None:
    """A template sends its name, language code and positional body parameters."""
    route = respx.post(META_URL).mock(return_value=httpx.Response(200, json=OK))
    await meta.send(TemplateMessage(PATIENT, "payment_link", "ro", ("150.00 RON", "https://x")))
    body = json.loads(route.calls.last.request.content)
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "payment_link",
        "language": {"code": "ro"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "150.00 RON"},
                    {"type": "text", "text": "https://x"},
                ],
            }
        ],
    }


@respx.mock
async def test_template_without_parameters_has_no_components(meta: Any) -> None:
    """A template with no parameters sends no components at all."""
    route = respx.post(META_URL).mock(return_value=httpx.Response(200, json=OK))
    await meta.send(TemplateMessage(PATIENT, "hello_world", "en_US"))
    assert "components" not in json.loads(route.calls.last.request.content)["template"]


@respx.mock
async def test_360dialog_uses_its_url_and_api_key_header_only(d360: Any) -> None:
    """360dialog gets POST /messages with D360-API-KEY and no Authorization header."""
    route = respx.post(D360_URL).mock(return_value=httpx.Response(200, json=OK))
    receipt = await d360.send(TextMessage(PATIENT, "Hello"))
    request = route.calls.last.request
    assert request.headers["d360-api-key"] == KEY
    assert "authorization" not in request.headers
    assert json.loads(request.content)["to"] == "40712345678"
    assert receipt.provider == "360dialog"


WINDOW = _meta_error(
    131047,
    "(#131047) Re-engagement message",
    error_data={
        "messaging_product": "whatsapp",
        "details": "Message failed to send because more than 24 hours have passed",
    },
)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        pytest.param(400, WINDOW, InvalidRequest, "131047", id="outside-window"),
        pytest.param(400, _meta_error(130429), RateLimited, "130429", id="throughput"),
        pytest.param(400, _meta_error(131056), RateLimited, "131056", id="pair-rate"),
        pytest.param(401, _meta_error(190), AuthenticationFailed, "190", id="bad-token"),
        pytest.param(400, _meta_error(190), AuthenticationFailed, "190", id="token-as-400"),
        pytest.param(400, _meta_error(100), InvalidRequest, "100", id="invalid-parameter"),
        pytest.param(403, _meta_error(200), PermissionDenied, "200", id="permission"),
        pytest.param(404, _meta_error(132001), InvalidRequest, "132001", id="unknown-template"),
        pytest.param(500, _meta_error(131000), Unavailable, "131000", id="something-wrong"),
        pytest.param(400, _meta_error(131016), Unavailable, "131016", id="service-unavailable"),
        pytest.param(400, {"error": "nope"}, InvalidRequest, None, id="odd-error-shape"),
        pytest.param(400, {"error": {"code": "abc"}}, InvalidRequest, None, id="odd-code"),
    ],
)
@respx.mock
async def test_meta_error_bodies_map_by_code(
    meta: Any, status: int, body: Any, kind: type[IntegrationError], code: str | None
) -> None:
    """Meta's error code decides the domain error, whatever the HTTP status."""
    respx.post(META_URL).mock(return_value=httpx.Response(status, json=body))
    with pytest.raises(kind) as caught:
        await meta.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.vendor_code == code
    assert caught.value.integration == "whatsapp"


@respx.mock
async def test_outside_window_tells_the_caller_to_send_a_template(meta: Any) -> None:
    """131047 is a permanent InvalidRequest whose message says to send a template."""
    respx.post(META_URL).mock(return_value=httpx.Response(400, json=WINDOW))
    with pytest.raises(InvalidRequest) as caught:
        await meta.send(TextMessage(PATIENT, "Hello"))
    assert "TemplateMessage" in str(caught.value)
    assert "24 hours" in str(caught.value)


@respx.mock
async def test_rate_limit_keeps_retry_after_and_is_not_sent(meta: Any) -> None:
    """A 429 with Retry-After is RateLimited, retry_after set, request_sent False."""
    respx.post(META_URL).mock(
        return_value=httpx.Response(429, json=_meta_error(130429), headers={"Retry-After": "7"})
    )
    with pytest.raises(RateLimited) as caught:
        await meta.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.retry_after == 7.0
    assert caught.value.request_sent is False


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        pytest.param(502, b"<html><body>Bad Gateway</body></html>", Unavailable, id="html-502"),
        pytest.param(400, b'{"error": {"code": 1310', InvalidRequest, id="truncated-400"),
        pytest.param(503, b"", Unavailable, id="empty-503"),
    ],
)
@respx.mock
async def test_unreadable_error_bodies_map_by_status(
    meta: Any, status: int, content: bytes, kind: type[IntegrationError]
) -> None:
    """An HTML page, truncated JSON or empty body is judged by its status alone."""
    respx.post(META_URL).mock(return_value=httpx.Response(status, content=content))
    with pytest.raises(kind):
        await meta.send(TextMessage(PATIENT, "Hello"))


@pytest.mark.parametrize("field", ["developer_message", "developerMessage"])
@respx.mock
async def test_360dialog_own_errors_are_read(d360: Any, field: str) -> None:
    """
    360dialog's {"meta": {"developer_message"}} body becomes the error's message, and so does
    the camelCase {"meta": {"developerMessage"}} (both spellings are reported, issue 12).
    """
    respx.post(D360_URL).mock(
        return_value=httpx.Response(
            401,
            json={"meta": {"success": False, "http_code": 401, field: "Invalid api_key"}},
        )
    )
    with pytest.raises(AuthenticationFailed, match="Invalid api_key") as caught:
        await d360.send(TextMessage(PATIENT, "Hello"))
    assert caught.value.integration == "360dialog"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{}", id="no-messages"),
        pytest.param(b'{"messages": []}', id="empty-messages"),
        pytest.param(b'{"messages": [{"id": 5}]}', id="id-not-str"),
        pytest.param(b'{"messages": [{"id": " "}]}', id="blank-id"),
        pytest.param(b'{"messages": "wamid"}', id="messages-not-list"),
        pytest.param(b'{"messages": ["wamid"]}', id="item-not-object"),
        pytest.param(b"<html>OK</html>", id="html-200"),
        pytest.param(b'{"messages": [{"id": "wam', id="truncated-200"),
        pytest.param(b"[]", id="array"),
    ],
)
@respx.mock
async def test_a_2xx_without_the_documented_fields_is_unexpected(meta: Any, content: bytes) -> None:
    """A 2xx body without messages[0].id is UnexpectedResponse, never a KeyError."""
    respx.post(META_URL).mock(return_value=httpx.Response(200, content=content))
    with pytest.raises(UnexpectedResponse):
        await meta.send(TextMessage(PATIENT, "Hello"))


@respx.mock
async def test_connect_error_is_not_sent_and_read_timeout_maybe_sent(meta: Any) -> None:
    """A refused connection is NetworkError (not sent); a read timeout is TimedOut (maybe)."""
    route = respx.post(META_URL)
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(NetworkError) as refused:
        await meta.send(TextMessage(PATIENT, "Hello"))
    assert refused.value.request_sent is False
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(TimedOut) as slow:
        await meta.send(TextMessage(PATIENT, "Hello"))
    assert slow.value.request_sent is True


@respx.mock
async def test_get_status_reads_the_log_and_never_calls_meta(meta: Any) -> None:
    """get_status answers from sends and recorded webhooks, without any request."""
    route = respx.post(META_URL).mock(return_value=httpx.Response(200, json=OK))
    receipt = await meta.send(TextMessage(PATIENT, "Hello"))
    meta.status_log.record(receipt.message_id, DeliveryStatus.DELIVERED)
    meta.status_log.record(receipt.message_id, DeliveryStatus.SENT)  # late, ignored
    status = await meta.get_status(receipt.message_id)
    assert status.status is DeliveryStatus.DELIVERED
    assert route.call_count == 1
    assert len(respx.calls) == 1


async def test_get_status_of_an_unknown_id_is_not_found(meta: Any) -> None:
    """An id the log never saw raises NotFound explaining Meta has no lookup."""
    with pytest.raises(NotFound, match="no status lookup"):
        await meta.get_status("wamid.unknown")


def test_status_log_is_bounded_and_forgets_the_oldest() -> None:
    """Past max_messages the least recently updated message is forgotten."""
    log = DeliveryStatusLog(max_messages=2)
    log.record("a", DeliveryStatus.QUEUED)
    log.record("b", DeliveryStatus.QUEUED)
    log.record("a", DeliveryStatus.SENT)
    log.record("c", DeliveryStatus.QUEUED)
    assert log.get("b") is None
    assert log.get("a") is DeliveryStatus.SENT
    assert len(log) == 2


@pytest.mark.parametrize(
    ("first", "then", "expected"),
    [
        (DeliveryStatus.READ, DeliveryStatus.DELIVERED, DeliveryStatus.READ),
        (DeliveryStatus.FAILED, DeliveryStatus.READ, DeliveryStatus.FAILED),
        (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.FAILED),
        (DeliveryStatus.QUEUED, DeliveryStatus.READ, DeliveryStatus.READ),
    ],
)
def test_status_log_moves_forward_only(
    first: DeliveryStatus, then: DeliveryStatus, expected: DeliveryStatus
) -> None:
    """READ and FAILED are final; otherwise only a higher rank replaces the status."""
    log = DeliveryStatusLog()
    log.record("m", first)
    assert log.record("m", then) is expected


def test_meta_needs_a_numeric_phone_number_id() -> None:
    """Meta without a numeric phone number id is refused at construction, naming the field."""
    with pytest.raises(InvalidValue, match="phone_number_id"):
        WhatsAppMessaging(http=httpx.AsyncClient(), credential=TOKEN, flavour=meta_cloud())
    with pytest.raises(InvalidValue, match="phone_number_id"):
        WhatsAppMessaging(http=httpx.AsyncClient(), credential=TOKEN, phone_number_id="../x")


def test_graph_version_is_pinned_and_validated() -> None:
    """The Graph API version is configurable and must look like v23.0."""
    assert meta_cloud("v21.0").messages_path("1") == "/v21.0/1/messages"
    assert DIALOG360.messages_path(None) == "/messages"
    with pytest.raises(InvalidValue, match="graph_version"):
        meta_cloud("latest")


def test_repr_shows_no_credential() -> None:
    """The adapter's repr never shows the token."""
    adapter = WhatsAppMessaging(http=httpx.AsyncClient(), credential=TOKEN, phone_number_id="1")
    assert TOKEN not in repr(adapter)


async def test_a_failing_status_store_is_a_domain_error() -> None:
    """A status store that cannot be read surfaces as Unavailable (not sent), never sqlite3."""
    import sqlite3

    from portico.domain.errors import Unavailable

    class BrokenStore:
        async def record(self, message_id: str, status: DeliveryStatus) -> DeliveryStatus:
            raise sqlite3.OperationalError("disk I/O error")

        async def get(self, message_id: str) -> DeliveryStatus | None:
            raise sqlite3.OperationalError("disk I/O error")

    adapter = WhatsAppMessaging(
        http=httpx.AsyncClient(), credential=TOKEN, phone_number_id="1", status_log=BrokenStore()
    )
    with pytest.raises(Unavailable) as caught:
        await adapter.get_status("wamid.1")
    assert caught.value.request_sent is False
    assert "disk" not in str(caught.value)
