"""
Four worker processes, one HubSpot account: with the shared limiter the vendor sees no 429 and
the workers use >= 90% of its quota; with per-process limiters configured the same way (the
control) the vendor refuses many calls. Both are printed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from typing import Any

import httpx
import pytest

from tests.resilience.limiter_workers import TOKEN, hubspot_worker
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.quota import QuotaGate
from tests.simulators.server import serve


pytestmark = [pytest.mark.redis, pytest.mark.slow]

QUOTA, SECONDS, WORKERS = 50, 3.0, 4
ATTEMPTS = 3  # shared runs before the verdict (see the test's docstring)


def _run(url: str, redis_url: str | None) -> list[dict[str, int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    key = f"test:workers:{uuid.uuid4().hex}"
    procs = [
        ctx.Process(target=hubspot_worker, args=(url, redis_url, key, SECONDS, barrier, results))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    return outcomes


def _warm_up(url: str) -> None:
    """Open and use as many connections as the workers will, so the first round is not cold."""

    async def one(client: httpx.AsyncClient) -> None:
        await client.get("/crm/v3/objects/contacts/1", headers={"Authorization": f"Bearer {TOKEN}"})

    async def many() -> None:
        limits = httpx.Limits(max_connections=WORKERS * 8)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            await asyncio.gather(*(one(client) for _ in range(WORKERS * 8)))

    asyncio.run(many())


def _shared_round(url: str, redis_url: str, gate: QuotaGate) -> tuple[int, int, float, list[Any]]:
    """One shared-limiter run: calls passed, 429s, share of the quota used, worker outcomes."""
    gate.reset()
    outcomes = _run(url, redis_url)
    span = max(gate.last - (gate.first or gate.last), 1e-9)
    return gate.passed, gate.refused, gate.passed / (QUOTA * span), outcomes


def test_four_workers_share_one_quota_and_the_control_does_not(redis_url: str) -> None:
    """
    The simulator is warmed up first: on a cold server the first requests are handled late and
    arrive bunched, which its rolling window counted as a burst (two 429s in every first round).
    Up to ``ATTEMPTS`` shared runs, for a machine so loaded that the workers' processes are
    starved of CPU (same bunching). A broken limiter fails every attempt; each attempt is
    printed, so a retry is never silent.
    """
    gate = QuotaGate(HubSpotSimulator(token=TOKEN), limit=QUOTA, window=1.0)
    attempts: list[tuple[int, int, float, list[Any]]] = []
    with serve(gate) as url:
        _warm_up(url)
        for _ in range(ATTEMPTS):
            attempts.append(_shared_round(url, redis_url, gate))
            if attempts[-1][1] == 0 and attempts[-1][2] >= 0.9:
                break
        gate.reset()
        control = _run(url, None)
        control_passed, control_429 = gate.passed, gate.refused
    for n, (passed, refused, use, workers) in enumerate(attempts, 1):
        print(  # noqa: T201 - the issue asks for both numbers in the test output
            f"\nshared limiter, attempt {n}: {passed} calls, {refused} x 429, "
            f"{use:.0%} of the quota; workers {workers}"
        )
    print(f"per-process control: {control_passed} calls, {control_429} x 429; workers {control}")  # noqa: T201
    _, shared_429, use, _ = attempts[-1]
    assert shared_429 == 0
    assert use >= 0.9
    assert control_429 > 100


def test_a_429_seen_by_one_worker_pauses_all_four(redis_url: str) -> None:
    """HubSpot answers one call 429 with a 2 s window: no worker sends during the pause."""
    gate = QuotaGate(HubSpotSimulator(token=TOKEN), limit=QUOTA, window=1.0, retry_after=2.0)
    gate.throttle_at = 30
    with serve(gate) as url:
        outcomes = _run(url, redis_url)
    assert gate.throttled_at is not None
    # Calls granted before the pause was set may still be on the wire for a moment.
    during = [t for t in gate.arrivals if gate.throttled_at + 0.25 < t < gate.throttled_at + 1.9]
    after = [t for t in gate.arrivals if t >= gate.throttled_at + 1.9]
    print(  # noqa: T201 - the issue asks for the count
        f"\n429 with a 2 s pause: {len(during)} calls during the pause, {len(after)} after it; "
        f"workers {outcomes}"
    )
    assert during == []
    assert after  # and the account resumed
