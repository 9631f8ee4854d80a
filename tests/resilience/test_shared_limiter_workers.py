"""
Four worker processes, one HubSpot account: with the shared limiter the vendor sees no 429 and
the workers use >= 90% of its quota; with per-process limiters configured the same way (the
control) the vendor refuses many calls. Both are printed.
"""

from __future__ import annotations

import multiprocessing
import uuid

import pytest

from tests.resilience.limiter_workers import TOKEN, hubspot_worker
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.quota import QuotaGate
from tests.simulators.server import serve


pytestmark = [pytest.mark.redis, pytest.mark.slow]

QUOTA, SECONDS, WORKERS = 50, 3.0, 4


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


def test_four_workers_share_one_quota_and_the_control_does_not(redis_url: str) -> None:
    gate = QuotaGate(HubSpotSimulator(token=TOKEN), limit=QUOTA, window=1.0)
    with serve(gate) as url:
        shared = _run(url, redis_url)
        shared_passed, shared_429 = gate.passed, gate.refused
        span = max(gate.last - (gate.first or gate.last), 1e-9)
        gate.reset()
        control = _run(url, None)
        control_passed, control_429 = gate.passed, gate.refused
    use = shared_passed / (QUOTA * span)  # calls per second against the quota, while sending
    print(  # noqa: T201 - the issue asks for both numbers in the test output
        f"\nshared limiter: {shared_passed} calls in {span:.2f}s, {shared_429} x 429, "
        f"{use:.0%} of the quota; workers {shared}"
        f"\nper-process control: {control_passed} calls, {control_429} x 429; workers {control}"
    )
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
