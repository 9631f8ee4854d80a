"""One harness per replay store, so the contract suite runs unchanged against all three."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from portico.adapters.fakes import FakeClock
from portico.adapters.stores.memory import MemoryReplayStore
from portico.adapters.stores.redis_store import RedisReplayStore
from portico.adapters.stores.sqlite import SQLiteReplayStore
from portico.ports.webhooks import ReplayStore
from tests.stores.replay_kit import RETENTION, StoreKit


def _fake_advance(clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    async def advance(seconds: float) -> None:
        clock.advance(seconds)

    return advance


def _redis_advance(client: Redis, prefix: str) -> Callable[[float], Awaitable[None]]:
    """Let time pass on the Redis side: shorten every TTL under ``prefix``, expiring the due."""

    async def advance(seconds: float) -> None:
        async for key in client.scan_iter(match=prefix + "*"):
            ttl = await client.pttl(key)
            if ttl < 0:
                continue
            left = ttl - int(seconds * 1000)
            if left <= 0:
                await client.delete(key)
            else:
                await client.pexpire(key, left)

    return advance


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreKit]:
    """Each replay store, fresh, with a fake (or simulated) clock."""
    async with _kit(request.param, request, tmp_path) as made:
        yield made


@pytest.fixture(params=["sqlite", "redis"])
async def shared_kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreKit]:
    """Each store that several workers share through one backend."""
    async with _kit(request.param, request, tmp_path) as made:
        yield made


@contextlib.asynccontextmanager
async def _kit(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreKit]:
    if name == "memory":
        clock = FakeClock()
        yield StoreKit(
            MemoryReplayStore(retention_seconds=RETENTION, clock=clock),
            _fake_advance(clock),
            None,
            name,
        )
    elif name == "sqlite":
        clock = FakeClock()
        path = tmp_path / "replay.sqlite3"
        opened: list[SQLiteReplayStore] = []

        async def peer() -> ReplayStore:
            other = SQLiteReplayStore(path, retention_seconds=RETENTION, clock=clock)
            opened.append(other)
            return other

        store = SQLiteReplayStore(path, retention_seconds=RETENTION, clock=clock)
        opened.append(store)
        try:
            yield StoreKit(store, _fake_advance(clock), peer, name)
        finally:
            for each in opened:
                await each.close()
    else:
        url = request.getfixturevalue("redis_url")
        client = Redis(connection_pool=BlockingConnectionPool.from_url(url, max_connections=20))
        prefix = f"test:{uuid.uuid4().hex}:"

        async def redis_peer() -> ReplayStore:
            return RedisReplayStore(client=client, prefix=prefix, retention_seconds=RETENTION)

        try:
            yield StoreKit(
                RedisReplayStore(client=client, prefix=prefix, retention_seconds=RETENTION),
                _redis_advance(client, prefix),
                redis_peer,
                name,
            )
        finally:
            await client.aclose()
            await client.connection_pool.disconnect()
