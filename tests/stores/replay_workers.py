"""Worker processes for the multi-process replay tests (importable by a spawned child)."""

from __future__ import annotations

import asyncio
from typing import Any

from portico.adapters.stores.redis_store import RedisReplayStore
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.domain.webhooks import ClaimOutcome
from portico.ports.webhooks import ReplayStore


CLAIMS_PER_KEY = 25


async def _race(store: ReplayStore, keys: list[str]) -> dict[str, int]:
    outcomes = await asyncio.gather(
        *(store.claim(key, lease_seconds=300) for key in keys for _ in range(CLAIMS_PER_KEY))
    )
    counts = dict.fromkeys(keys, 0)
    for index, outcome in enumerate(outcomes):
        if outcome.outcome is ClaimOutcome.CLAIMED:
            counts[keys[index // CLAIMS_PER_KEY]] += 1
    return counts


def sqlite_worker(path: str, keys: list[str], barrier: Any, results: Any) -> None:
    """Open the shared file, wait for the others, race for every key, report the wins."""

    async def main() -> dict[str, int]:
        async with SQLiteReplayStore(path) as store:
            barrier.wait()
            return await _race(store, keys)

    results.put(asyncio.run(main()))


def redis_worker(url: str, prefix: str, keys: list[str], barrier: Any, results: Any) -> None:
    """Connect to the shared Redis, wait for the others, race for every key, report the wins."""

    async def main() -> dict[str, int]:
        async with RedisReplayStore(url, prefix=prefix) as store:
            await store.claim(prefix + "warm-up", lease_seconds=1)  # connect before the race
            barrier.wait()
            return await _race(store, keys)

    results.put(asyncio.run(main()))
