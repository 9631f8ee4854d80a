"""
Hot-path overhead of shared breaker state (`SharedBreakerState` on Redis) on a successful call,
against the same pipeline with the local breaker only, in the same run.

Run: ``make bench`` or ``.venv/bin/python -m bench.shared_breaker``. Redis: a private
redis-server (as ``bench.shared_limiter``). Both pipelines have the default policy (retry,
breaker, bulkhead, timeout) around a vendor call that returns at once; the shared one reads the
circuit in the background every ``interval`` (0.5 s, the default), so its reads are in the
figures. Median and p99 per call over N sequential calls, rounds alternated; target: the shared
breaker's calls per second within 10% of the local one's.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from bench._common import header, ratio
from bench.shared_limiter import _redis
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import (
    BreakerRegistry,
    Pipeline,
    ResiliencePolicy,
    SharedBreakerState,
    build_pipeline,
)


N = 20_000
ROUNDS = 5


async def _vendor() -> int:
    return 1


async def _timed(pipeline: Pipeline) -> tuple[float, float]:
    call = pipeline.call
    for _ in range(500):  # warm up
        await call("op", _vendor, idempotent=True)
    samples = []
    for _ in range(N):
        started = time.perf_counter()
        await call("op", _vendor, idempotent=True)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


async def main() -> None:
    print(header("shared_breaker: successful call, shared breaker state vs local", ["redis"]))
    policy = ResiliencePolicy()
    with _redis() as url:
        client = fail_fast_client(url, timeout=1.0)
        shared = SharedBreakerState("bench", client=client, key=f"bench:{uuid.uuid4().hex}")
        local = build_pipeline("bench", policy, registry=BreakerRegistry())
        sharing = build_pipeline("bench", policy, registry=BreakerRegistry(), shared_breaker=shared)
        await sharing.call("op", _vendor, idempotent=True)  # first read of the shared state
        rounds = []
        for _ in range(ROUNDS):  # alternate, so drift on a shared machine hits both alike
            rounds.append((await _timed(local), await _timed(sharing)))
        await shared.drain()
        await client.aclose()
    local_median = statistics.median(r[0][0] for r in rounds)
    local_p99 = statistics.median(r[0][1] for r in rounds)
    shared_median = statistics.median(r[1][0] for r in rounds)
    shared_p99 = statistics.median(r[1][1] for r in rounds)
    print(f"local breaker:         median {local_median:.2f} us, p99 {local_p99:.2f} us")
    print(f"shared breaker state:  median {shared_median:.2f} us, p99 {shared_p99:.2f} us")
    print(
        ratio(
            "successful calls per second, shared / local (median)",
            1e6 / shared_median,
            1e6 / local_median,
            target=0.9,
        )
    )
    print(
        ratio(
            "successful calls per second, shared / local (p99)",
            1e6 / shared_p99,
            1e6 / local_p99,
            target=0.9,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
