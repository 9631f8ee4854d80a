"""A worker process with its own ingress and Redis replay store (importable by a spawned child)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from portico.adapters.stores.redis_store import RedisReplayStore
from portico.domain.events import DomainEvent

from .ingress_doubles import Paid, delivery, make_ingress


def redis_ingress_worker(
    url: str, prefix: str, event_id: str, copies: int, barrier: Any, results: Any
) -> None:
    """Wait for the other workers, then deliver one event ``copies`` times concurrently."""

    async def main() -> list[tuple[int, dict[str, object]]]:
        store = RedisReplayStore(url, prefix=prefix)
        counter = Redis.from_url(url)
        try:
            ingress = make_ingress(replay_store=store)

            async def handler(event: DomainEvent) -> None:
                await counter.incr(f"{prefix}processed:{event.event_id}")

            ingress.on(Paid, handler)
            await store.claim(f"{prefix}warm-up", lease_seconds=1)  # connect before the race
            await counter.ping()
            barrier.wait()
            responses = await asyncio.gather(
                *(ingress.handle("test", delivery(event_id)) for _ in range(copies))
            )
            return [(r.status, dict(r.body)) for r in responses]  # type: ignore[arg-type]
        finally:
            await store.close()
            await counter.aclose()

    results.put(asyncio.run(main()))
