"""
What every vendor simulator shares: ASGI plumbing, a request log and a ``faults`` knob.

A simulator is a plain ASGI 3 callable, so tests mount it with ``httpx.ASGITransport(app=sim)``
and chaos tests or benchmarks serve the same object with uvicorn on a real socket.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import attrs


__all__ = ["Faults", "SimRequest", "SimResponse", "Simulator", "json_response"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@attrs.frozen
class SimRequest:
    """One request as the simulator received it (tests decode and assert on it)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
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

    def form(self) -> dict[str, str]:
        """The body decoded as a form (the last value of a repeated key wins)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@attrs.frozen
class SimResponse:
    """What the simulator answers."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


def json_response(status: int, payload: Any, *headers: tuple[str, str]) -> SimResponse:
    """A JSON response."""
    return SimResponse(
        status, json.dumps(payload).encode(), (("content-type", "application/json"), *headers)
    )


@attrs.define
class Faults:
    """
    Misbehaviour on demand, decided per request before the vendor logic runs.

    Args:
        unavailable: share of requests answered 503 (0.0 to 1.0).
        rate_limited: share of requests answered 429 with ``Retry-After``.
        retry_after: the ``Retry-After`` seconds of those 429s.
        latency: seconds spent (through ``sleep``) before answering each request.
        seed: makes the random shares reproducible.
        sleep: how latency is spent; inject a fake one in unit tests.
    """

    unavailable: float = 0.0
    rate_limited: float = 0.0
    retry_after: float = 1.0
    latency: float = 0.0
    seed: int | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    queued: list[int] = attrs.field(factory=list)
    _rng: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests with these statuses (503, 429, 500, 502 ...), in order."""
        self.queued.extend(statuses)

    def reset(self) -> None:
        """No more faults."""
        self.unavailable = self.rate_limited = self.latency = 0.0
        self.queued.clear()

    async def decide(self) -> int | None:
        """Spend the latency, then the status to fail this request with, or None."""
        if self.latency:
            await self.sleep(self.latency)
        if self.queued:
            return self.queued.pop(0)
        roll = self._rng.random()
        if roll < self.unavailable:
            return 503
        if roll < self.unavailable + self.rate_limited:
            return 429
        return None


class Simulator:
    """
    Base of the vendor simulators: subclasses implement `handle` and `fault_body`.

    ``received`` keeps every request, faulted or not, oldest first.
    """

    def __init__(self, *, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.received: list[SimRequest] = []

    def handle(self, request: SimRequest) -> SimResponse:
        """The vendor's answer to a request that no fault intercepted."""
        raise NotImplementedError

    def fault_body(self, status: int) -> Any:
        """The vendor's error body for an injected fault."""
        return {"status": status}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = await _read(scope, receive)
        self.received.append(request)
        status = await self.faults.decide()
        if status is not None:
            headers: tuple[tuple[str, str], ...] = ()
            if status == 429:
                headers = (("retry-after", f"{self.faults.retry_after:g}"),)
            response = json_response(status, self.fault_body(status), *headers)
        else:
            try:
                response = self.handle(request)
            except Exception:  # a simulator bug must still answer, like a real 500
                response = json_response(500, self.fault_body(500))
        await send(
            {
                "type": "http.response.start",
                "status": response.status,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers],
            }
        )
        await send({"type": "http.response.body", "body": response.body})

    def requests_to(self, method: str, path_part: str) -> list[SimRequest]:
        """The received requests with this method whose path contains ``path_part``."""
        return [r for r in self.received if r.method == method and path_part in r.path]


async def _read(scope: Scope, receive: Receive) -> SimRequest:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    return SimRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=b"".join(chunks),
        scheme=scope.get("scheme", "http"),
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
