"""The ASGI app driven directly: routing, prefix, URL rebuilding, streaming body limit, lifespan."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portico.adapters.stores.memory import MemoryReplayStore
from portico.app.entrypoints.asgi import create_webhook_app
from portico.app.services.webhook_ingress import WebhookEndpoint, WebhookIngress
from portico.domain.errors import InvalidSignature
from portico.domain.webhooks import ParsedDelivery, WebhookRequest


class _Recorder:
    """Verifier and parser in one: records what it was handed, accepts when signed 'ok'."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []

    def verify(self, request: WebhookRequest) -> None:
        """Accept only X-Sig: ok."""
        self.requests.append(request)
        if request.headers.get("x-sig") != "ok":
            raise InvalidSignature("X-Sig is not ok", integration="rec")

    def parse(self, request: WebhookRequest) -> ParsedDelivery:
        """No events."""
        return ParsedDelivery("rec")


def _ingress(recorder: _Recorder, **kwargs: Any) -> WebhookIngress:
    return WebhookIngress(
        {"rec": WebhookEndpoint(recorder, recorder)}, replay_store=MemoryReplayStore(), **kwargs
    )


async def _call(
    app: Any,
    method: str,
    path: str,
    *,
    chunks: list[bytes] = (),  # type: ignore[assignment]
    headers: list[tuple[bytes, bytes]] = (),  # type: ignore[assignment]
    scope_extra: dict[str, Any] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes, int]:
    """Run one request; returns status, headers, body and how many body chunks were read."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"internal:8000"), *headers],
        "server": ("127.0.0.1", 8000),
        **(scope_extra or {}),
    }
    pending = list(chunks) or [b""]
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = pending[read]
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < len(pending)}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body["body"], read


async def test_healthz_is_ok():
    """GET /healthz answers 200 {"status": "ok"}."""
    app = create_webhook_app(_ingress(_Recorder()))
    status, headers, body, _ = await _call(app, "GET", "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok"}
    assert headers[b"cache-control"] == b"no-store"


async def test_unknown_route_is_404_and_bad_method_405():
    """Other paths are 404; PUT on a webhook route is 405 with Allow."""
    app = create_webhook_app(_ingress(_Recorder()))
    assert (await _call(app, "GET", "/admin"))[0] == 404
    assert (await _call(app, "GET", "/../etc"))[0] == 404
    assert (await _call(app, "POST", "/webhooks/rec"))[0] == 404  # no prefix: routes are /{name}
    status, headers, _, _ = await _call(app, "PUT", "/rec")
    assert status == 405
    assert headers[b"allow"] == b"GET, POST"


async def test_url_is_rebuilt_from_host_header():
    """Without a public base URL the verifier sees scheme + Host + raw path + query."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder))
    await _call(
        app,
        "POST",
        "/rec",
        scope_extra={"query_string": b"a=1&b=%20"},
        headers=[(b"x-sig", b"ok")],
    )
    assert recorder.requests[0].url == "http://internal:8000/rec?a=1&b=%20"


async def test_url_uses_public_base_url_when_configured():
    """Behind a proxy the verifier sees the public URL the provider called."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder), public_base_url="https://hooks.example.org/")
    await _call(app, "POST", "/rec", headers=[(b"x-sig", b"ok")])
    assert recorder.requests[0].url == "https://hooks.example.org/rec"


async def test_public_base_url_defaults_to_the_ingress_setting():
    """create_webhook_app takes the ingress's public_base_url when none is given."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder, public_base_url="https://a.example"))
    await _call(app, "POST", "/rec", headers=[(b"x-sig", b"ok")])
    assert recorder.requests[0].url == "https://a.example/rec"


async def test_mounted_app_routes_below_its_mount_point():
    """Mounted at /hooks (Starlette keeps the full path, sets root_path): POST /hooks/rec."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder))
    mounted = {"root_path": "/hooks"}
    status, _, _, _ = await _call(
        app, "POST", "/hooks/rec", headers=[(b"x-sig", b"ok")], scope_extra=mounted
    )
    assert status == 200
    assert recorder.requests[0].url == "http://internal:8000/hooks/rec"
    assert (await _call(app, "GET", "/hooks/healthz", scope_extra=mounted))[0] == 200
    assert (await _call(app, "POST", "/hooks/webhooks/rec", scope_extra=mounted))[0] == 404


async def test_mount_that_strips_the_path_still_verifies_the_full_url():
    """Servers that strip the mount point from ``path`` keep it in raw_path: it is signed."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder))
    stripped = {"root_path": "/hooks", "raw_path": b"/hooks/rec"}
    status, _, _, _ = await _call(
        app, "POST", "/rec", headers=[(b"x-sig", b"ok")], scope_extra=stripped
    )
    assert status == 200
    assert recorder.requests[0].url == "http://internal:8000/hooks/rec"


async def test_prefix_goes_before_the_provider_never_before_health():
    """prefix="/webhooks" (``portico serve``): POST /webhooks/rec, GET /healthz at the root."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder), prefix="/webhooks")
    assert app.prefix == "/webhooks"
    assert (await _call(app, "POST", "/webhooks/rec", headers=[(b"x-sig", b"ok")]))[0] == 200
    assert recorder.requests[0].url == "http://internal:8000/webhooks/rec"
    assert (await _call(app, "POST", "/rec", headers=[(b"x-sig", b"ok")]))[0] == 404
    assert (await _call(app, "GET", "/healthz"))[0] == 200
    assert (await _call(app, "GET", "/webhooks/healthz"))[0] == 404
    assert (await _call(app, "PUT", "/webhooks/rec"))[0] == 405


@pytest.mark.parametrize(
    ("given", "prefix"),
    [("", ""), ("/", ""), ("webhooks", "/webhooks"), ("/webhooks/", "/webhooks"), ("/a/b", "/a/b")],
)
def test_prefix_is_normalised(given: str, prefix: str):
    """Slashes around the prefix do not matter; "/" is no prefix."""
    assert create_webhook_app(_ingress(_Recorder()), prefix=given).prefix == prefix


def test_a_provider_named_healthz_needs_a_prefix():
    """Without a prefix /healthz would be both a route and a provider: refused at build time."""
    recorder = _Recorder()
    ingress = WebhookIngress(
        {"healthz": WebhookEndpoint(recorder, recorder)}, replay_store=MemoryReplayStore()
    )
    with pytest.raises(ValueError, match="healthz"):
        create_webhook_app(ingress)
    assert create_webhook_app(ingress, prefix="/webhooks").prefix == "/webhooks"


async def test_body_over_limit_stops_reading_and_answers_413():
    """A streamed body over max_body is refused without reading (or buffering) the rest."""
    recorder = _Recorder()
    ingress = _ingress(recorder)
    app = create_webhook_app(ingress, max_body=100)
    status, _, body, read = await _call(app, "POST", "/rec", chunks=[b"x" * 60] * 50)
    assert status == 413
    assert read == 2
    assert recorder.requests == []
    assert json.loads(body)["received"] is False
    assert ingress.counters("rec").rejected["payload_too_large"] == 1


async def test_declared_content_length_over_limit_is_refused_unread():
    """A Content-Length over the limit is 413 before any body is read."""
    app = create_webhook_app(_ingress(_Recorder()), max_body=100)
    status, _, _, read = await _call(
        app, "POST", "/rec", headers=[(b"content-length", b"5000")], chunks=[b"x"]
    )
    assert (status, read) == (413, 0)


async def test_body_at_the_limit_is_accepted():
    """A body of exactly max_body bytes, in chunks, reaches the ingress whole."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder), max_body=100)
    status, _, _, _ = await _call(
        app, "POST", "/rec", chunks=[b"a" * 50, b"b" * 50], headers=[(b"x-sig", b"ok")]
    )
    assert status == 200
    assert recorder.requests[0].body == b"a" * 50 + b"b" * 50


@pytest.mark.parametrize(
    "chunks",
    [[b"whole body"], [b"a", b"", bytearray(b"bc"), b"d"], [b"", b"late"]],
)
async def test_a_body_reaches_the_ingress_as_the_exact_bytes_sent(chunks: list[bytes]):
    """One message or many (empty ones, a bytearray): the verifier gets the same bytes."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder))
    status, _, _, _ = await _call(app, "POST", "/rec", chunks=chunks, headers=[(b"x-sig", b"ok")])
    assert status == 200
    body = recorder.requests[0].body
    assert type(body) is bytes
    assert body == b"".join(chunks)


async def test_headers_reach_the_verifier_case_insensitive_in_order_and_as_latin1():
    """Repeated headers keep every value in the order sent, whatever the case of their name."""
    recorder = _Recorder()
    app = create_webhook_app(_ingress(recorder))
    sent = [(b"X-Sig", b"ok"), (b"x-trace", b"caf\xe9"), (b"X-SIG", b"second")]
    await _call(app, "POST", "/rec", headers=sent)
    headers = recorder.requests[0].headers
    assert headers.get_all("x-sig") == ["ok", "second"]
    assert headers["X-Trace"] == "caf\u00e9"
    assert headers["host"] == "internal:8000"


async def test_forged_delivery_is_401_json():
    """A refused signature is a 401 with a JSON reason."""
    app = create_webhook_app(_ingress(_Recorder()))
    status, headers, body, _ = await _call(app, "POST", "/rec")
    assert status == 401
    assert headers[b"content-type"] == b"application/json"
    assert json.loads(body) == {"received": False, "error": "X-Sig is not ok"}


async def test_container_like_source_is_accepted():
    """Anything with a webhook_ingress provider (the DI container) can be passed."""
    ingress = _ingress(_Recorder())

    class _Container:
        def webhook_ingress(self) -> WebhookIngress:
            return ingress

    app = create_webhook_app(_Container())
    assert app.ingress is ingress


async def test_lifespan_startup_and_shutdown_complete():
    """The lifespan protocol is answered, so servers with lifespan=on start and stop cleanly."""
    app = create_webhook_app(_ingress(_Recorder()))
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_ingress_crash_outside_handle_is_500_json():
    """Even an exception outside the ingress's own guard becomes a 500 JSON answer."""

    class _Broken(WebhookIngress):
        async def handshake(self, provider: str, request: WebhookRequest) -> Any:
            raise RuntimeError("boom")

    recorder = _Recorder()
    ingress = _Broken(
        {"rec": WebhookEndpoint(recorder, recorder)}, replay_store=MemoryReplayStore()
    )
    app = create_webhook_app(ingress)
    status, _, body, _ = await _call(app, "GET", "/rec")
    assert status == 500
    assert b"boom" not in body


_header_bytes = st.binary(max_size=40)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "OPTIONS"]) | st.text(max_size=6),
    path=st.sampled_from(["/stripe", "/webhooks/stripe", "/whatsapp", "/healthz", "/"])
    | st.text(max_size=30).map(lambda p: "/" + p),
    query=st.binary(max_size=40),
    headers=st.lists(
        st.tuples(
            st.sampled_from([b"host", b"content-length", b"stripe-signature"]) | _header_bytes,
            _header_bytes,
        ),
        max_size=5,
    ),
    chunks=st.lists(st.binary(max_size=80), max_size=4),
)
async def test_arbitrary_asgi_requests_always_get_one_answer(method, path, query, headers, chunks):
    """Any method, path, query, header bytes and body get one 2xx/4xx/5xx answer, no exception."""
    from portico.app.wiring.webhooks import build_webhook_ingress

    ingress = build_webhook_ingress({"webhooks": {"replay": "memory"}}, environment="fake")
    app = create_webhook_app(ingress, max_body=200)
    status, _, body, _ = await _call(
        app, method, path, chunks=chunks, headers=headers, scope_extra={"query_string": query}
    )
    assert status // 100 in {2, 4, 5}
    assert b"Traceback" not in body
