"""
Four worker processes, one vendor that goes down: with the breaker's state shared on Redis the
first trip stops the other three within a few calls (printed, against the per-process control),
and exactly ``half_open_max_calls`` probes reach the recovering vendor across all four; with
Redis killed mid-run every worker's own breaker still protects it, and none crashes.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from typing import Any

import pytest

from tests.resilience.breaker_workers import PROBES, THRESHOLD, TOKEN, breaker_worker
from tests.resilience.conftest import RestartableRedis
from tests.simulators.hubspot import HubSpotSimulator
from tests.simulators.outage import OutageGate
from tests.simulators.server import serve


pytestmark = [pytest.mark.redis, pytest.mark.slow]

WORKERS = 4


def _run(
    url: str, redis_url: str | None, seconds: float, script: list[tuple[float, Any]]
) -> list[dict[str, Any]]:
    """Run the workers for ``seconds``; call each ``(at, action)`` of ``script`` on time."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS + 1), ctx.Queue()
    key = f"test:breaker-workers:{uuid.uuid4().hex}"
    procs = [
        ctx.Process(target=breaker_worker, args=(url, redis_url, key, n, seconds, barrier, results))
        for n in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    barrier.wait(timeout=60)
    started = time.monotonic()
    for at, action in script:
        time.sleep(max(at - (time.monotonic() - started), 0.0))
        action()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    return sorted(outcomes, key=lambda o: o["index"])


def _further(gate: OutageGate, outcomes: list[dict[str, Any]]) -> tuple[float, list[int]]:
    """The first trip's time, and the calls each other worker sent after it, before recovery."""
    first = min(o["opened"] for o in outcomes if o["opened"] is not None)
    tripper = next(o for o in outcomes if o["opened"] == first)
    end = gate.recovered_at or time.time()
    return first, [gate.calls_between(first, end, o["pid"]) for o in outcomes if o is not tripper]


def test_one_trip_stops_every_worker_and_probes_are_counted_across_all(redis_url: str) -> None:
    gate = OutageGate(HubSpotSimulator(token=TOKEN))
    with serve(gate) as url:
        outcomes = _run(url, redis_url, 3.0, [(0.3, gate.down), (1.0, lambda: gate.recover(0.4))])
        first, further = _further(gate, outcomes)
        assert gate.recovered_at is not None
        assert gate.first_answer is not None
        probes = gate.calls_between(gate.recovered_at, gate.first_answer)
        control_gate = OutageGate(HubSpotSimulator(token=TOKEN))
    with serve(control_gate) as control_url:
        control = _run(control_url, None, 1.2, [(0.3, control_gate.down)])
        _, control_further = _further(control_gate, control)
    print(  # noqa: T201 - the issue asks for the counts in the test output
        f"\nshared breaker: after the first trip the other three workers sent {further} calls "
        f"(per-process control: {control_further}); probes reaching the recovering vendor: "
        f"{probes} (half_open_max_calls {PROBES}); workers {outcomes}"
    )
    assert first >= (gate.down_at or 0.0)
    assert all(n < THRESHOLD for n in further)  # each stopped before its own count could trip
    assert all(o["refused"] > 0 for o in outcomes)  # and refused locally after that
    assert sum(further) < sum(control_further)
    assert probes == PROBES
    assert sum(o["probes"] for o in outcomes) == PROBES
    assert all(o["final"] == "closed" for o in outcomes)  # recovered everywhere


def test_redis_killed_mid_run_leaves_each_worker_its_own_breaker(
    restartable_redis: RestartableRedis,
) -> None:
    gate = OutageGate(HubSpotSimulator(token=TOKEN))
    with serve(gate) as url:
        outcomes = _run(
            url, restartable_redis.url, 1.5, [(0.2, restartable_redis.stop), (0.5, gate.down)]
        )
    print(f"\nRedis killed mid-run: workers {outcomes}")  # noqa: T201 - shown with -s
    for outcome in outcomes:
        assert outcome["opened"] is not None  # each breaker tripped on its own count
        assert outcome["failed"] >= THRESHOLD
        assert outcome["refused"] > 0
        assert outcome["shared_at_end"] is False
