"""Worker processes of the shared-breaker test (importable by a spawned child)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from portico.adapters.hubspot import HubSpotCRM
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import (
    BreakerRegistry,
    CircuitState,
    ResiliencePolicy,
    SharedBreakerState,
    build_pipeline,
)
from portico.domain.errors import CircuitOpenError, IntegrationError, NotFound


TOKEN = "pat-na1-breakers"
THRESHOLD, RESET, PROBES, INTERVAL = 20, 1.5, 2, 0.05


def breaker_worker(
    url: str, redis_url: str | None, key: str, index: int, seconds: float, barrier: Any, out: Any
) -> None:
    """
    Call HubSpot for ``seconds``: worker 0 with 4 unpaced coroutines (it trips first), the others
    with one coroutine at about 100 calls a second; report what each saw. Contact id: the pid.
    """

    async def main() -> dict[str, Any]:
        policy = ResiliencePolicy(
            failure_threshold=THRESHOLD,
            reset_timeout=RESET,
            half_open_max_calls=PROBES,
            retry_attempts=1,
            max_concurrent=None,
            timeout=5.0,
            shared_breaker=redis_url is not None,
        )
        client = None if redis_url is None else fail_fast_client(redis_url, timeout=0.25)
        shared = None
        if client is not None:
            shared = SharedBreakerState(
                "hubspot", client=client, key=key, interval=INTERVAL, retry_interval=0.5
            )
        pipeline = build_pipeline(
            "hubspot", policy, registry=BreakerRegistry(), shared_breaker=shared
        )
        opened: list[float] = []
        pipeline.breaker.add_listener(
            lambda _old, new, _why: opened.append(time.time()) if new is CircuitState.OPEN else None
        )
        crm = HubSpotCRM.connect(TOKEN, base_url=url)
        counts = {"ok": 0, "failed": 0, "refused": 0}
        me = str(os.getpid())
        barrier.wait()
        deadline = time.monotonic() + seconds

        async def sender(pause: float) -> None:
            while time.monotonic() < deadline:
                try:
                    await pipeline.call("get_contact", lambda: crm.get_contact(me), idempotent=True)
                except CircuitOpenError:
                    counts["refused"] += 1
                    await asyncio.sleep(0.002)  # refused: no busy loop on a shared machine
                except NotFound:
                    counts["ok"] += 1  # the vendor answered
                except IntegrationError:
                    counts["failed"] += 1
                else:
                    counts["ok"] += 1
                await asyncio.sleep(pause)

        try:
            if index == 0:
                await asyncio.gather(*(sender(0.0) for _ in range(4)))
            else:
                await sender(0.01)
        finally:
            await crm.aclose()
            if shared is not None:
                await shared.drain()
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        return {
            **counts,
            "index": index,
            "pid": me,
            "opened": opened[0] if opened else None,
            "probes": 0 if shared is None else shared.probes_admitted,
            "shared_at_end": None if shared is None else shared.is_shared(),
            "final": pipeline.breaker.state.value,
        }

    out.put(asyncio.run(main()))
