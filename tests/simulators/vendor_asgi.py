"""
What the Stripe and HubSpot simulators share: a plain ASGI 3 shell, request recording and faults.

No framework: a simulator is an ``async def __call__(scope, receive, send)`` so the same object
runs in-process through ``httpx.ASGITransport`` and on a real socket under uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs


__all__ = ["Faults", "Received", "Reply", "VendorSimulator", "json_reply"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.frozen
class Received:
    """One request as the vendor saw it (headers lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)

    def form(self) -> list[tuple[str, str]]:
        """The body decoded as ``application/x-www-form-urlencoded`` pairs."""
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@attrs.define
class Reply:
    """A response to send: status, JSON body (or raw bytes) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = attrs.Factory(dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        """The body bytes."""
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else json.dumps(self.body).encode()


def json_reply(status: int, body: Any, **headers: str) -> Reply:
    """A JSON reply."""
    return Reply(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


@attrs.define
class Faults:
    """
    Misbehaviour on demand, decided before a request reaches the vendor logic (so nothing is
    applied when a fault fires, as with a real 503 from a load balancer or a 429).

    Args:
        unavailable: share of requests answered 503.
        rate_limited: share of requests answered 429 with ``Retry-After: retry_after``.
        latency: seconds to wait before answering (real time: for socket chaos tests only).
        next_statuses: statuses to answer the next requests with, in order (503, 429, 502...).
        seed: makes the random shares reproducible.
    """

    unavailable: float = 0.0
    rate_limited: float = 0.0
    retry_after: float = 1.0
    latency: float = 0.0
    next_statuses: list[int] = attrs.Factory(list)
    seed: int = 0
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self) -> int | None:
        """The status of a fault to inject now, or None to let the request through."""
        if self.next_statuses:
            return self.next_statuses.pop(0)
        roll = self._rng.random()
        if roll < self.unavailable:
            return 503
        if roll < self.unavailable + self.rate_limited:
            return 429
        return None


class VendorSimulator:
    """
    The ASGI shell: read the request, record it, inject faults, route, answer.

    Subclasses implement `handle` (the vendor logic) and `fault_reply` (how the vendor words a
    503 or a 429).
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.received: list[Received] = []
        self._lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI 3 entry point (HTTP only; lifespan is acknowledged)."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Received(
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(scope.get("query_string", b"").decode())),
            headers={k.decode().lower(): v.decode() for k, v in scope.get("headers", [])},
            body=body,
        )
        self.received.append(request)
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        status = self.faults.pick()
        if status is not None:
            reply = self.fault_reply(status)
        else:
            async with self._lock:  # one vendor state: requests apply one at a time
                reply = self.handle(request)
        await _send(send, reply)

    def handle(self, request: Received) -> Reply:
        """The vendor's answer to ``request``."""
        raise NotImplementedError

    def fault_reply(self, status: int) -> Reply:
        """How the vendor answers an injected fault."""
        return Reply(
            status, raw=b"<html><body>Service Unavailable</body></html>", content_type="text/html"
        )


async def _send(send: Send, reply: Reply) -> None:
    payload = reply.encoded()
    headers = [
        (b"content-type", reply.content_type.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None
