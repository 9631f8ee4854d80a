"""Worker processes of the shared-limiter test (importable by a spawned child)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import (
    BreakerRegistry,
    ResiliencePolicy,
    SharedRateLimiter,
    build_pipeline,
)
from portico.domain.errors import IntegrationError


TOKEN = "pat-na1-workers"
RATE, BURST = 46.0, 3  # at most 49 calls in any second, against a vendor quota of 50


def hubspot_worker(
    url: str, redis_url: str | None, key: str, seconds: float, barrier: Any, results: Any
) -> None:
    """Send HubSpot calls as fast as 8 coroutines can for ``seconds``; report the outcomes."""

    async def main() -> dict[str, int]:
        policy = ResiliencePolicy(
            rate=RATE,
            burst=BURST,
            rate_max_wait=5.0,
            retry_attempts=1,
            failure_threshold=1_000_000,
            max_concurrent=None,
            shared_limits=redis_url is not None,
        )
        client = None if redis_url is None else fail_fast_client(redis_url, timeout=1.0)
        shared = None
        if client is not None:
            shared = SharedRateLimiter(
                "hubspot", client=client, key=key, rate=RATE, burst=BURST, max_wait=5.0
            )
        pipeline = build_pipeline(
            "hubspot", policy, registry=BreakerRegistry(), shared_limiter=shared
        )
        crm = HubSpotCRM.connect(TOKEN, base_url=url)
        counts = {"ok": 0, "rate_limited": 0, "refused": 0}
        barrier.wait()
        deadline = time.monotonic() + seconds

        async def sender() -> None:
            while time.monotonic() < deadline:
                try:
                    await pipeline.call(
                        "get_contact", lambda: crm.get_contact("1"), idempotent=True
                    )
                except IntegrationError as exc:
                    name = type(exc).__name__
                    if name == "NotFound":
                        counts["ok"] += 1  # the vendor answered: a call within its quota
                    elif "RateLimited" in name or "RetryExhausted" in name:
                        counts["rate_limited"] += 1
                    else:
                        counts["refused"] += 1
                else:
                    counts["ok"] += 1

        try:
            await asyncio.gather(*(sender() for _ in range(8)))
        finally:
            await crm.aclose()
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        return counts

    results.put(asyncio.run(main()))
