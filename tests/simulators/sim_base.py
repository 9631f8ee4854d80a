"""
The one base of the vendor simulators: ASGI plumbing, the request log, the vendor's fault words.

A simulator is a plain ASGI 3 callable, so tests mount it with ``httpx.ASGITransport(app=sim)``
and chaos tests or benchmarks serve the same object with uvicorn on a real socket. It plays the
vendor only: misbehaviour (503s, 429s, resets, slow answers, outages) is the job of
`tests.simulators.faults.FaultInjector`, wrapped around it, which asks the simulator how its
vendor words a 503 or a 429 (`Simulator.fault_response`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import attrs


__all__ = [
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "bearer",
    "json_response",
    "send_response",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@attrs.frozen
class SimRequest:
    """One request as the vendor received it (headers lower-cased; tests decode and assert)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)
    scheme: str = "http"

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` as the client addressed us (for URLs handed back)."""
        return f"{self.scheme}://{self.headers.get('host', 'localhost')}"

    def json(self) -> Any:
        """The body decoded as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def form_pairs(self) -> list[tuple[str, str]]:
        """The body as ``application/x-www-form-urlencoded`` pairs, repeats and order kept."""
        return parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def form(self) -> dict[str, str]:
        """The body decoded as a form (the last value of a repeated key wins)."""
        return dict(self.form_pairs())

    def params(self) -> dict[str, str]:
        """The query string decoded (the last value of a repeated key wins)."""
        return dict(parse_qsl(self.query, keep_blank_values=True))


@attrs.frozen
class SimResponse:
    """What the vendor answers: status, body bytes and headers (content type included)."""

    status: int
    body: bytes = attrs.field(default=b"", repr=False)
    headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)

    def with_header(self, name: str, value: str) -> SimResponse:
        """The same response with one more header."""
        return attrs.evolve(self, headers=(*self.headers, (name, value)))


def json_response(
    status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> SimResponse:
    """A JSON response, with ``headers`` after the content type."""
    extra = tuple((headers or {}).items())
    return SimResponse(
        status, json.dumps(payload).encode(), (("content-type", "application/json"), *extra)
    )


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class Simulator:
    """
    Base of the vendor simulators: subclasses implement `handle` and word `fault_response`.

    ``received`` keeps every request that reached the vendor, oldest first (a request a
    `FaultInjector` answered with a 503 or a 429 never did; count those on the injector).
    """

    def __init__(self) -> None:
        self.received: list[SimRequest] = []

    def handle(self, request: SimRequest) -> SimResponse:
        """The vendor's answer to a request."""
        raise NotImplementedError

    def fault_response(self, status: int, retry_after: float) -> SimResponse:
        """
        How the vendor words an injected 429 (``retry_after`` seconds) or 5xx.

        Subclasses give their vendor's body and headers; this default is a bare JSON error.
        """
        headers = {"retry-after": f"{retry_after:g}"} if status == 429 else None
        return json_response(status, {"status": status}, headers)

    def requests_to(self, method: str, path_part: str) -> list[SimRequest]:
        """The received requests with this method whose path contains ``path_part``."""
        return [r for r in self.received if r.method == method and path_part in r.path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI 3 entry point: HTTP requests reach `handle`; lifespan is acknowledged."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = await _read(scope, receive)
        self.received.append(request)
        try:
            response = self.handle(request)
        except Exception:  # a simulator bug must still answer, like a real 500
            response = self.fault_response(500, 0.0)
        await send_response(send, response)


async def send_response(send: Send, response: SimResponse) -> None:
    """Send ``response`` with its content length."""
    headers = [(b"content-length", str(len(response.body)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _read(scope: Scope, receive: Receive) -> SimRequest:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return SimRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
        body=b"".join(chunks),
        scheme=scope.get("scheme", "http"),
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown: a simulator holds nothing to open or close."""
    while (await receive())["type"] != "lifespan.shutdown":
        await send({"type": "lifespan.startup.complete"})
    await send({"type": "lifespan.shutdown.complete"})
