"""The Redis replay store: real expiry on the server, TTLs as configured, own client lifecycle."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from portico.adapters.stores.redis_store import RedisReplayStore
from portico.domain.webhooks import ClaimOutcome


async def test_claim_and_completion_carry_the_configured_ttls(redis_url: str) -> None:
    """A claim expires after its lease and a completion after the retention, per Redis PTTL."""
    prefix = f"ttl:{uuid.uuid4().hex}:"
    async with RedisReplayStore(redis_url, prefix=prefix, retention_seconds=3600) as store:
        client = Redis.from_url(redis_url)
        try:
            claim = await store.claim("evt_1", lease_seconds=30)
            lease_ms = await client.pttl(store.redis_key("evt_1"))
            assert 0 < lease_ms <= 30_000
            await store.complete(claim)
            retention_ms = await client.pttl(store.redis_key("evt_1"))
            assert 30_000 < retention_ms <= 3_600_000
        finally:
            await client.aclose()


async def test_lease_expires_in_real_time_on_the_server(redis_url: str) -> None:
    """With a short real lease, Redis itself expires the claim and a retry is CLAIMED."""
    async with RedisReplayStore(redis_url, prefix=f"rt:{uuid.uuid4().hex}:") as store:
        assert (await store.claim("evt_1", lease_seconds=0.2)).outcome is ClaimOutcome.CLAIMED
        deadline = time.monotonic() + 10
        outcome = ClaimOutcome.IN_FLIGHT
        while outcome is ClaimOutcome.IN_FLIGHT and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            outcome = (await store.claim("evt_1", lease_seconds=30)).outcome
        assert outcome is ClaimOutcome.CLAIMED


async def test_a_shared_client_is_left_open(redis_url: str) -> None:
    """Closing a store built on the caller's client does not close that client."""
    client = Redis.from_url(redis_url)
    try:
        store = RedisReplayStore(client=client, prefix=f"sh:{uuid.uuid4().hex}:")
        await store.close()
        assert await client.ping()
    finally:
        await client.aclose()


def test_exactly_one_connection_source_is_required() -> None:
    """Giving both a URL and a client, or neither, is refused."""
    with pytest.raises(ValueError, match="exactly one"):
        RedisReplayStore()
    with pytest.raises(ValueError, match="exactly one"):
        RedisReplayStore("redis://127.0.0.1:1/0", client=Redis())


def test_repr_hides_the_url() -> None:
    """The URL may carry a password, so the repr shows the prefix only."""
    store = RedisReplayStore("redis://:hunter2@127.0.0.1:1/0", prefix="p:")
    assert "hunter2" not in repr(store)
