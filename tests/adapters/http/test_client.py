"""VendorClient: decoded bodies, errors for bad bodies, form encoding, quiet logs."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import respx

from portico.adapters.fakes import FakeClock
from portico.adapters.http import VendorClient, VendorError, build_client, encode_form
from portico.adapters.resilience import ResiliencePolicy, build_pipeline
from portico.domain.errors import NetworkError, Unavailable, UnexpectedResponse


def _client(http: httpx.AsyncClient) -> VendorClient:
    return VendorClient("vendor", http, lambda r, b: VendorError())


@pytest.fixture(name="http")
async def _http() -> Any:
    async with build_client("https://v.test") as http:
        yield http


@respx.mock
async def test_a_2xx_json_object_is_returned_as_a_node(http: httpx.AsyncClient) -> None:
    """A 2xx JSON object comes back as a JsonNode."""
    respx.get("https://v.test/thing").respond(200, json={"id": "t1", "n": 2})
    fields = await _client(http).request("get thing", "GET", "/thing")
    assert (fields.text("id"), fields.integer("n")) == ("t1", 2)


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'{"id": "t1"', b"<html>ok</html>", b""],
    ids=["list", "truncated", "html", "empty"],
)
@respx.mock
async def test_a_2xx_that_is_not_a_json_object_is_unexpected(
    http: httpx.AsyncClient, content: bytes
) -> None:
    """A 2xx whose body is not a JSON object raises UnexpectedResponse, never a decode error."""
    respx.get("https://v.test/thing").respond(200, content=content)
    with pytest.raises(UnexpectedResponse, match="get thing"):
        await _client(http).request("get thing", "GET", "/thing")


@respx.mock
async def test_a_form_body_is_urlencoded_with_its_content_type(http: httpx.AsyncClient) -> None:
    """data= pairs are sent form-encoded with the form content type."""
    route = respx.post("https://v.test/pay").respond(200, json={})
    await _client(http).request(
        "pay", "POST", "/pay", data=encode_form({"metadata": {"ref": "a b&c"}, "n": 1})
    )
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.content == b"metadata%5Bref%5D=a+b%26c&n=1"


@respx.mock
async def test_a_connect_error_is_a_network_error_not_sent(http: httpx.AsyncClient) -> None:
    """A refused connection is a NetworkError with request_sent False."""
    respx.get("https://v.test/thing").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(NetworkError) as caught:
        await _client(http).request("get thing", "GET", "/thing")
    assert caught.value.request_sent is False


@respx.mock
async def test_logs_name_the_path_but_never_the_query_or_headers(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The debug line has the method, path and status, not the query string or the token."""
    respx.get("https://v.test/thing").respond(503, text="down")
    caplog.set_level(logging.DEBUG, logger="portico.http")
    with pytest.raises(Unavailable):
        await _client(http).request(
            "get thing",
            "GET",
            "/thing",
            params={"email": "ana@example.com"},
            headers={"Authorization": "Bearer sekret"},
        )
    assert "GET /thing -> 503" in caplog.text
    assert "ana@example.com" not in caplog.text
    assert "sekret" not in caplog.text


@respx.mock
async def test_a_json_array_of_objects_is_returned_as_nodes(http: httpx.AsyncClient) -> None:
    """request_list returns each object of a 2xx JSON array as a JsonNode, naming its index."""
    respx.get("https://v.test/things").respond(200, json=[{"id": "a"}, {"id": "b"}])
    items = await _client(http).request_list("list things", "GET", "/things")
    assert [item.text("id") for item in items] == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "a"}', "not a JSON array"),
        (b'[{"id": "a"}, 3]', r"\[1\]: must be an object"),
        (b"[{", "JSON"),
    ],
    ids=["object", "non-object-item", "truncated"],
)
@respx.mock
async def test_a_list_body_that_is_not_an_array_of_objects_is_unexpected(
    http: httpx.AsyncClient, content: bytes, message: str
) -> None:
    """A 2xx list endpoint answering anything but an array of objects is UnexpectedResponse."""
    respx.get("https://v.test/things").respond(200, content=content)
    with pytest.raises(UnexpectedResponse, match=message):
        await _client(http).request_list("list things", "GET", "/things")


@respx.mock
async def test_list_errors_use_the_same_mapping(http: httpx.AsyncClient) -> None:
    """A 5xx on a list endpoint is Unavailable, as for any other request."""
    respx.get("https://v.test/things").respond(503, text="down")
    with pytest.raises(Unavailable):
        await _client(http).request_list("list things", "GET", "/things")


@respx.mock
async def test_an_absolute_url_can_go_without_the_credential(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """send() reaches another host, drops default Authorization and client auth, logs no URL."""
    route = respx.post("https://other.test/cap-token-123/control").respond(200, json={})
    caplog.set_level(logging.DEBUG, logger="portico.http")
    async with build_client(
        "https://v.test", headers={"Authorization": "Bearer sekret"}, auth=("user", "pw")
    ) as http:
        response = await _client(http).send(
            "control",
            "POST",
            "https://other.test/cap-token-123/control",
            json={"type": "end-call"},
            without_headers=("Authorization",),
            secret_url=True,
        )
    assert response.status_code == 200
    assert "authorization" not in route.calls.last.request.headers
    assert "cap-token-123" not in caplog.text
    assert "POST <capability URL> -> 200" in caplog.text


@respx.mock
async def test_send_maps_errors_like_request(http: httpx.AsyncClient) -> None:
    """A refused connection from send() is a NetworkError, not sent."""
    respx.post("https://v.test/x").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(NetworkError) as caught:
        await _client(http).send("x", "POST", "/x")
    assert caught.value.request_sent is False


def test_encode_form_nests_lists_and_drops_none() -> None:
    """Nested keys as Stripe wants them; booleans as true/false; None left out."""
    assert encode_form(
        {"a": {"b": [{"c": 1}, {"d": True}]}, "skip": None, "e": False, "s": "x"}
    ) == [("a[b][0][c]", "1"), ("a[b][1][d]", "true"), ("e", "false"), ("s", "x")]


@respx.mock
async def test_every_request_of_an_attempt_takes_a_rate_limit_token(
    http: httpx.AsyncClient,
) -> None:
    """
    A vendor's quota counts requests: an operation that sends three takes three tokens (the
    pipeline's first, then one per further request, waited for on the limiter's clock).
    """
    clock = FakeClock()
    route = respx.get("https://v.test/thing").respond(200, json={"id": "t1"})
    pipeline = build_pipeline(
        "vendor", ResiliencePolicy(rate=10.0, burst=1, rate_max_wait=5.0), clock=clock
    )
    client = _client(http)

    async def three_requests() -> None:
        for _ in range(3):
            await client.request("get thing", "GET", "/thing")

    await pipeline.call("get thing", three_requests, idempotent=True)
    assert route.call_count == 3
    assert clock.sleeps == pytest.approx([0.1, 0.1])  # tokens two and three, 10/s apart
    await client.request("get thing", "GET", "/thing")  # outside a pipeline: nothing to take
    assert clock.sleeps == pytest.approx([0.1, 0.1])
