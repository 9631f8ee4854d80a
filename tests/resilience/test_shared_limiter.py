"""The shared (Redis, GCRA) rate limiter: one quota for every worker, paused by the vendor's word,
no slot lost to a cancelled waiter, and a local fallback while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from portico.adapters.fakes import FakeClock
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import (
    BreakerRegistry,
    ResiliencePolicy,
    SharedRateLimiter,
    build_pipeline,
)
from portico.domain.errors import RateLimited, RateLimitExceeded, RetryExhaustedError
from portico.domain.time import epoch_seconds
from tests.resilience.conftest import RestartableRedis
from tests.resilience.test_limiter import max_in_window


pytestmark = pytest.mark.redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    """A fail-fast client of the session's Redis."""
    made = fail_fast_client(redis_url, timeout=1.0)
    try:
        yield made
    finally:
        await made.aclose()
        await made.connection_pool.disconnect()


def shared(client: Redis, key: str, clock: FakeClock, **kwargs: float) -> SharedRateLimiter:
    """A limiter on ``key`` whose "now" and sleeps are the fake clock's."""
    options: dict[str, float] = {"rate": 10.0, "burst": 2, "max_wait": 1.0, **kwargs}
    return SharedRateLimiter(
        "t",
        client=client,
        key=key,
        rate=options["rate"],
        burst=int(options["burst"]),
        max_wait=options["max_wait"],
        expected_workers=int(options.get("expected_workers", 1)),
        retry_interval=options.get("retry_interval", 2.0),
        clock=clock,
        wall=epoch_seconds(clock),
    )


class HeldClock(FakeClock):
    """A fake clock whose `sleep` blocks until cancelled (time never moves by itself)."""

    async def sleep(self, seconds: float, /) -> None:
        """Record the delay and wait forever."""
        self.sleeps.append(seconds)
        await asyncio.Event().wait()


def key() -> str:
    return f"test:rate:{uuid.uuid4().hex}"


async def test_two_workers_share_one_quota(client: Redis) -> None:
    """Four limiters on one key together admit at most burst + rate * t in any window."""
    clock = FakeClock()
    quota = key()
    workers = [shared(client, quota, clock, rate=20.0, burst=4, max_wait=5.0) for _ in range(4)]
    admitted: list[float] = []
    for i in range(80):
        await workers[i % 4].acquire()
        admitted.append(clock.monotonic())
    for window in (0.0, 0.25, 1.0, 2.0):
        assert max_in_window(admitted, window) <= 4 + 20.0 * window + 1e-6
    # ...and it is not stricter than the quota: 80 calls take (80 - burst) / rate seconds.
    assert admitted[-1] == pytest.approx((80 - 4) / 20.0, abs=0.01)


async def test_a_slot_beyond_max_wait_is_refused_and_reserves_nothing(client: Redis) -> None:
    clock = FakeClock()
    quota = key()
    limiter = shared(client, quota, clock, rate=1.0, burst=1, max_wait=0.5)
    await limiter.acquire()
    with pytest.raises(RateLimitExceeded, match="shared quota"):
        await limiter.acquire()
    clock.advance(1.0)
    await limiter.acquire()  # the refused call took nothing: the next slot is on time
    assert clock.sleeps == []


async def test_retry_after_seen_by_one_worker_pauses_every_worker(client: Redis) -> None:
    clock = FakeClock()
    quota = key()
    first = shared(client, quota, clock, rate=50.0, burst=5, max_wait=1.0)
    patient = shared(client, quota, clock, rate=50.0, burst=5, max_wait=5.0)
    await first.pause(2.0)
    with pytest.raises(RateLimitExceeded):
        await shared(client, quota, clock, rate=50.0, burst=5, max_wait=1.0).acquire()
    await patient.acquire()
    assert clock.sleeps == [pytest.approx(2.0, abs=0.01)]


async def test_the_pipeline_turns_a_429_into_a_pause_for_the_account(client: Redis) -> None:
    """A RateLimited(retry_after=3) in one worker's pipeline holds another worker's calls."""
    clock = FakeClock()
    quota = key()
    policy = ResiliencePolicy(rate=50.0, burst=5, retry_attempts=1, shared_limits=True)
    one = build_pipeline(
        "t",
        policy,
        registry=BreakerRegistry(),
        shared_limiter=shared(client, quota, clock, rate=50.0, burst=5),
        clock=clock,
    )
    other = shared(client, quota, clock, rate=50.0, burst=5, max_wait=10.0)

    async def throttled() -> None:
        raise RateLimited("slow down", integration="t", retry_after=3.0)

    with pytest.raises((RateLimited, RetryExhaustedError)):
        await one.call("op", throttled, idempotent=True)
    await other.acquire()
    assert clock.sleeps[-1] == pytest.approx(3.0, abs=0.01)


async def test_a_spent_vendor_window_slows_every_worker(client: Redis) -> None:
    """HubSpot says 0 left in its 1 s window: nobody sends for that second."""
    clock = FakeClock()
    quota = key()
    limiter = shared(client, quota, clock, rate=10.0, burst=2, max_wait=5.0)
    await limiter.slow(50, 1.0)  # plenty left: no effect, no round trip needed
    await limiter.acquire()
    assert clock.sleeps == []
    await limiter.slow(0, 1.0)
    await shared(client, quota, clock, rate=10.0, burst=2, max_wait=5.0).acquire()
    assert clock.sleeps[-1] >= 1.0 - 0.01


async def test_a_cancelled_waiter_gives_its_slot_back(client: Redis) -> None:
    """The last reservation cancelled: the next caller gets its slot, not the one after."""
    clock = HeldClock()
    quota = key()
    limiter = shared(client, quota, clock, rate=1.0, burst=1, max_wait=10.0)
    await limiter.acquire()  # the burst
    waiter = asyncio.ensure_future(limiter.acquire())
    while not clock.sleeps:
        await asyncio.sleep(0.001)
    assert clock.sleeps == [pytest.approx(1.0, abs=0.01)]
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await limiter.drain()
    nxt = asyncio.ensure_future(limiter.acquire())
    while len(clock.sleeps) < 2:
        await asyncio.sleep(0.001)
    nxt.cancel()
    assert clock.sleeps[1] == pytest.approx(1.0, abs=0.01)  # the given-back slot, not 2.0


async def test_a_cancelled_waiter_behind_others_forfeits_one_interval_only(client: Redis) -> None:
    """With later reservations made, the slot is not handed out twice: one interval of delay."""
    clock = HeldClock()
    quota = key()
    limiter = shared(client, quota, clock, rate=1.0, burst=1, max_wait=10.0)
    await limiter.acquire()
    first = asyncio.ensure_future(limiter.acquire())
    while len(clock.sleeps) < 1:
        await asyncio.sleep(0.001)
    second = asyncio.ensure_future(limiter.acquire())
    while len(clock.sleeps) < 2:
        await asyncio.sleep(0.001)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await limiter.drain()
    third = asyncio.ensure_future(limiter.acquire())
    while len(clock.sleeps) < 3:
        await asyncio.sleep(0.001)
    second.cancel()
    third.cancel()
    assert clock.sleeps == [pytest.approx(s, abs=0.01) for s in (1.0, 2.0, 3.0)]
    # Once the account is idle, the forfeited interval is gone: a full burst again.
    clock.advance(10.0)
    await limiter.acquire()
    assert len(clock.sleeps) == 3


async def test_redis_away_falls_back_locally_and_returns(
    restartable_redis: RestartableRedis, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    made = fail_fast_client(restartable_redis.url, timeout=0.3)
    limiter = shared(made, key(), clock, rate=40.0, burst=8, max_wait=5.0, expected_workers=4)
    try:
        await limiter.acquire()
        assert limiter.is_shared()
        restartable_redis.stop()
        caplog.set_level(logging.WARNING)
        started = clock.monotonic()
        admitted = []
        for _ in range(30):
            await limiter.acquire()  # never raises a Redis error
            admitted.append(clock.monotonic() - started)
        assert not limiter.is_shared()
        assert "Redis unavailable" in limiter.status()
        assert "local fallback 10/s (quota / 4 workers)" in limiter.status()
        # Never unlimited: the fallback's own bound (burst 2, 10/s) holds over the outage.
        for window in (0.0, 0.5, 1.0):
            assert max_in_window(admitted, window) <= 2 + 10.0 * window + 1e-6
        away = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(away) == 1  # said once per outage, not once per call
        restartable_redis.start()
        clock.advance(limiter.retry_interval)
        await limiter.acquire()
        assert limiter.is_shared()
        assert limiter.status() == "t: shared rate limit 40/s burst 8 on Redis"
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
    finally:
        await made.aclose()
        await made.connection_pool.disconnect()


async def test_the_registry_reports_each_shared_limit(client: Redis) -> None:
    registry = BreakerRegistry()
    build_pipeline(
        "t",
        ResiliencePolicy(rate=10.0, shared_limits=True),
        registry=registry,
        shared_limiter=shared(client, key(), FakeClock()),
    )
    assert registry.limiter_status() == ("t: shared rate limit 10/s burst 2 on Redis",)
