"""
Fault injection for any ASGI app: wrap a vendor simulator and it misbehaves like a real vendor.

`FaultInjector(app, plan)` decides per request, from a seeded RNG, whether to answer 503, answer
429 with ``Retry-After``, drop the connection without a response, or hold the response past the
client's timeout; and during an outage window (on an injectable clock) it answers every request
503. Drops and slow answers happen *after* the wrapped vendor handled the request: the vendor
applied it but the client never learns so, which is the case that makes duplicates. 503 and 429
are decided before the vendor sees anything, as a load balancer or a throttle would.

A dropped connection aborts the TCP transport under uvicorn (the client reads EOF with no status
line); under ``httpx.ASGITransport`` it raises `httpx.RemoteProtocolError` into the client, the
nearest in-process equivalent. `FaultInjector.fail_next` queues exact statuses for the next
requests, ahead of the plan. Everything is counted in `FaultCounters`. The 503 and 429 bodies and
headers are the wrapped `Simulator`'s own (`Simulator.fault_response`), so the adapter under test
parses what its vendor would send.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx

from tests.simulators.sim_base import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    SimResponse,
    Simulator,
    json_response,
    send_response,
)


__all__ = ["FaultCounters", "FaultInjector", "FaultPlan"]


def _share(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        msg = f"{attr.name} must be a share between 0 and 1, got {value}"
        raise ValueError(msg)


@attrs.frozen
class FaultPlan:
    """
    What to inject in one run. Shares are per request and add up to at most 1.

    Args:
        unavailable: share answered 503 before the vendor sees the request.
        rate_limited: share answered 429 with ``Retry-After: retry_after``.
        resets: share whose connection is dropped after the vendor handled the request.
        slow: share whose response is held ``slow_seconds`` (set it past the client timeout).
        outages: ``(start, end)`` windows on the injector's clock in which every request is 503.
        outage_after: start an outage of ``outage_seconds`` (on the clock) when this many
            requests have been received, wherever the clock is by then.
        seed: the RNG seed; the same seed and request order give the same faults.
    """

    unavailable: float = attrs.field(default=0.0, validator=_share)
    rate_limited: float = attrs.field(default=0.0, validator=_share)
    retry_after: float = 1.0
    resets: float = attrs.field(default=0.0, validator=_share)
    slow: float = attrs.field(default=0.0, validator=_share)
    slow_seconds: float = 1.0
    outages: tuple[tuple[float, float], ...] = ()
    outage_after: int | None = None
    outage_seconds: float = 10.0
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        total = self.unavailable + self.rate_limited + self.resets + self.slow
        if total > 1.0 + 1e-9:
            msg = f"fault shares add up to {total:g}, more than 1"
            raise ValueError(msg)


@attrs.define
class FaultCounters:
    """What the injector did; ``passed`` requests reached the vendor untouched."""

    received: int = 0
    passed: int = 0
    unavailable: int = 0
    rate_limited: int = 0
    resets: int = 0
    slow: int = 0
    outage: int = 0

    @property
    def faulted(self) -> int:
        """Requests that met any fault."""
        return self.received - self.passed


class FaultInjector:
    """
    An ASGI 3 middleware that injects the faults of a `FaultPlan` in front of ``app``.

    Args:
        app: the vendor simulator (any ASGI 3 app; a `Simulator` words its own faults).
        plan: the faults; replace it between runs with `configure` (which re-seeds the RNG).
        clock: the time outage windows are read on; share the system under test's fake clock so
            a "10-second outage" is ten seconds of the time the relay and breaker see.
        sleep: how a slow response waits (real time by default: it must outlast a real socket
            timeout; inject a fake sleep in-process).
        fault_response: how an injected 503 or 429 is worded, from the status and the
            ``Retry-After`` seconds; by default the simulator's `Simulator.fault_response`.
    """

    def __init__(
        self,
        app: ASGIApp,
        plan: FaultPlan | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        fault_response: Callable[[int, float], SimResponse] | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.sleep = sleep
        if fault_response is None:
            fault_response = app.fault_response if isinstance(app, Simulator) else _generic
        self.fault_response = fault_response
        self.counters = FaultCounters()
        self.plan = FaultPlan()
        self.outages: list[tuple[float, float]] = []
        self.queued: list[int] = []
        self._rng = random.Random(0)
        self.configure(plan or FaultPlan())

    def configure(self, plan: FaultPlan) -> None:
        """Use ``plan`` from the next request on, with a fresh RNG from its seed."""
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self.outages = list(plan.outages)

    def fail_next(self, *statuses: int) -> None:
        """
        Answer the next requests with these statuses (503, 429, 500, 502...), in order, before
        the vendor sees them and ahead of the plan. A 429 carries the plan's ``retry_after``.
        """
        if not all(400 <= status <= 599 for status in statuses):
            msg = f"fail_next takes error statuses (4xx, 5xx), got {statuses}"
            raise ValueError(msg)
        self.queued.extend(statuses)

    def in_outage(self) -> bool:
        """True while the clock is inside an outage window (opening a planned one when due)."""
        now = self.clock()
        if self.plan.outage_after is not None and self.counters.received == self.plan.outage_after:
            self.outages.append((now, now + self.plan.outage_seconds))
        return any(start <= now < end for start, end in self.outages)

    def _decide(self) -> str:
        if self.in_outage():
            return "outage"
        plan = self.plan
        roll = self._rng.random()
        for kind, share in (
            ("unavailable", plan.unavailable),
            ("rate_limited", plan.rate_limited),
            ("resets", plan.resets),
            ("slow", plan.slow),
        ):
            if roll < share:
                return kind
            roll -= share
        return "passed"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point: HTTP requests meet the plan, anything else goes straight through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counters.received += 1
        if self.queued:
            status = self.queued.pop(0)
            kind = "rate_limited" if status == 429 else "unavailable"
        else:
            kind = self._decide()
            status = {"unavailable": 503, "outage": 503, "rate_limited": 429}.get(kind, 0)
        setattr(self.counters, kind, getattr(self.counters, kind) + 1)
        if kind == "passed":
            await self.app(scope, receive, send)
        elif status:
            await _drain(receive)
            await send_response(send, self.fault_response(status, self.plan.retry_after))
        else:
            held = await _capture(self.app, scope, receive)
            if kind == "resets":
                await _drop(send)
            else:
                await self.sleep(self.plan.slow_seconds)
                for message in held:
                    await send(message)


def _generic(status: int, retry_after: float) -> SimResponse:
    """A vendor-neutral JSON error, for an app that is not a `Simulator`."""
    if status == 429:
        body = {"error": {"type": "rate_limit", "message": "Too many requests (injected)"}}
        return json_response(429, body, {"retry-after": f"{retry_after:g}"})
    return json_response(
        status, {"error": {"type": "api_error", "message": "Service unavailable (injected)"}}
    )


async def _drain(receive: Receive) -> None:
    """Read the request body, as a server that answers early still does."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> list[Message]:
    """Run the vendor to completion and keep its response messages instead of sending them."""
    held: list[Message] = []

    async def keep(message: Message) -> None:
        held.append(message)

    await app(scope, receive, keep)
    return held


async def _drop(send: Send) -> None:
    """Close the connection without a byte of response."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        # In-process (httpx.ASGITransport): the client sees the same error a dropped socket gives.
        msg = "connection dropped by fault injection"
        raise httpx.RemoteProtocolError(msg)
    transport.abort()
    # Let the protocol's connection_lost run, so uvicorn knows the client is gone and neither
    # logs an error nor tries to answer 500 on the dead connection.
    await asyncio.sleep(0)
