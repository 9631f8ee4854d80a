"""The breaker's state shared through Redis: a trip reaches every worker, half-open probes are
counted across all of them, and while Redis is away each worker's breaker decides alone."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from portico.adapters.fakes import FakeClock
from portico.adapters.redis_client import fail_fast_client
from portico.adapters.resilience import (
    BreakerRegistry,
    CircuitState,
    Pipeline,
    ResiliencePolicy,
    SharedBreakerState,
    build_pipeline,
)
from portico.domain.errors import CircuitOpenError, RetryExhaustedError, Unavailable
from portico.domain.time import epoch_seconds
from tests.resilience.conftest import RestartableRedis


pytestmark = pytest.mark.redis

POLICY = ResiliencePolicy(
    failure_threshold=2,
    reset_timeout=5.0,
    half_open_max_calls=2,
    retry_attempts=1,
    max_concurrent=None,
    timeout=None,
)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    """A fail-fast client of the session's Redis."""
    made = fail_fast_client(redis_url, timeout=1.0)
    try:
        yield made
    finally:
        await made.aclose()
        await made.connection_pool.disconnect()


def key() -> str:
    return f"test:breaker:{uuid.uuid4().hex}"


class Worker:
    """One simulated worker process: its own breaker and pipeline, a shared state on ``key``."""

    def __init__(
        self,
        client: Redis,
        key: str,
        clock: FakeClock,
        name: str,
        policy: ResiliencePolicy,
        interval: float = 0.5,
    ) -> None:
        self.shared = SharedBreakerState(
            "vendor",
            client=client,
            key=key,
            interval=interval,
            retry_interval=2.0,
            worker=name,
            clock=clock,
            wall=epoch_seconds(clock),
        )
        self.registry = BreakerRegistry()
        self.pipeline: Pipeline = build_pipeline(
            "vendor", policy, registry=self.registry, shared_breaker=self.shared, clock=clock
        )
        self.breaker = self.pipeline.breaker

    async def call(self, fn: Callable[[], Awaitable[str]]) -> str:
        return await self.pipeline.call("op", fn, idempotent=True)


def workers(
    client: Redis, clock: FakeClock, count: int, policy: ResiliencePolicy = POLICY
) -> list[Worker]:
    shared_key = key()
    return [Worker(client, shared_key, clock, f"host:{n}", policy) for n in range(count)]


async def failing() -> str:
    raise Unavailable("503", integration="vendor")


async def fine() -> str:
    return "ok"


async def settled(calls: Sequence[asyncio.Future[str]], entered: list[int]) -> None:
    """Wait until every call is either refused (done) or held inside the vendor call."""
    for _ in range(500):
        if sum(c.done() for c in calls) + len(entered) >= len(calls):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("calls neither refused nor sent within 5 s")


async def trip(worker: Worker) -> None:
    for _ in range(POLICY.failure_threshold):
        with pytest.raises((RetryExhaustedError, Unavailable)):
            await worker.call(failing)
    await worker.shared.drain()


async def test_a_trip_is_published_with_its_worker_and_every_other_worker_follows(
    client: Redis,
) -> None:
    clock = FakeClock()
    a, b = workers(client, clock, 2)
    await b.call(fine)  # b has read the (closed) shared state
    await trip(a)
    assert a.breaker.state is CircuitState.OPEN
    row = await client.hgetall(a.shared._keys[0])
    assert row[b"state"] == b"open"
    assert row[b"tripped_by"] == b"host:0"
    assert float(row[b"open_until"]) - float(row[b"opened_at"]) == pytest.approx(5000.0)

    clock.advance(0.6)  # b's view is due: its next call reads it in the background
    await b.call(fine)
    await b.shared.drain()
    assert b.breaker.state is CircuitState.OPEN
    sent = []

    async def counted() -> str:
        sent.append(1)
        return "ok"

    with pytest.raises(CircuitOpenError):
        await b.call(counted)
    assert sent == []  # refused locally: nothing reached the vendor
    assert b.shared.status().tripped_by == "host:0"
    assert b.breaker.open_for() == pytest.approx(5.0 - 0.6, abs=0.01)


async def test_a_worker_idle_longer_than_two_intervals_reads_before_its_call(
    client: Redis,
) -> None:
    clock = FakeClock()
    a, b = workers(client, clock, 2)
    await trip(a)
    clock.advance(3.0)  # b never called: its view is stale, so the first call waits for a read
    with pytest.raises(CircuitOpenError):
        await b.call(fine)
    assert b.shared.status().state == "open"


async def test_exactly_half_open_max_calls_probes_go_out_across_all_workers(
    client: Redis,
) -> None:
    clock = FakeClock()
    crew = workers(client, clock, 4)
    await trip(crew[0])
    for worker in crew[1:]:
        await worker.shared.refresh()
        assert worker.breaker.state is CircuitState.OPEN
    clock.advance(5.0)  # the open wait is over everywhere: every worker may try to probe
    gate = asyncio.Event()
    probes = []

    async def probe() -> str:
        probes.append(1)
        await gate.wait()
        return "ok"

    calls = [asyncio.ensure_future(w.call(probe)) for w in crew for _ in range(3)]
    await settled(calls, probes)
    assert len(probes) == POLICY.half_open_max_calls  # of 12 would-be probes on 4 workers
    gate.set()
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert sum(o == "ok" for o in outcomes) == 2
    assert all(isinstance(o, CircuitOpenError) for o in outcomes if o != "ok")
    assert sum(w.shared.probes_admitted for w in crew) == 2
    row = await client.hgetall(crew[0].shared._keys[0])
    assert row[b"state"] == b"closed"
    for worker in crew:
        await worker.shared.refresh()
        assert worker.breaker.state is CircuitState.CLOSED
        assert await worker.call(fine) == "ok"


async def test_a_failed_probe_reopens_the_circuit_for_every_worker(client: Redis) -> None:
    clock = FakeClock()
    a, b = workers(client, clock, 2)
    await trip(a)
    await b.shared.refresh()
    clock.advance(5.0)
    with pytest.raises((RetryExhaustedError, Unavailable)):
        await b.call(failing)  # b's probe fails: re-opened, now tripped by b
    row = await client.hgetall(a.shared._keys[0])
    assert row[b"state"] == b"open"
    assert row[b"tripped_by"] == b"host:1"
    await a.shared.refresh()
    assert a.breaker.state is CircuitState.OPEN
    assert a.breaker.open_for() == pytest.approx(5.0, abs=0.01)


async def held_probes(
    crew: list[Worker], outcomes: list[Callable[[], Awaitable[str]]]
) -> list[object]:
    """One probe per worker, all admitted before any answers, answered as ``outcomes`` say."""
    gate = asyncio.Event()
    entered: list[int] = []

    def held(answer: Callable[[], Awaitable[str]]) -> Callable[[], Awaitable[str]]:
        async def probe() -> str:
            entered.append(1)
            await gate.wait()
            return await answer()

        return probe

    calls = [
        asyncio.ensure_future(w.call(held(answer)))
        for w, answer in zip(crew, outcomes, strict=True)
    ]
    await settled(calls, entered)
    gate.set()
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def test_success_threshold_counts_probe_successes_of_every_worker(client: Redis) -> None:
    """Two successes are needed; each worker saw one: together they close the circuit."""
    clock = FakeClock()
    policy = ResiliencePolicy(
        failure_threshold=2,
        reset_timeout=5.0,
        half_open_max_calls=2,
        success_threshold=2,
        retry_attempts=1,
        max_concurrent=None,
        timeout=None,
    )
    a, b = workers(client, clock, 2, policy)
    await trip(a)
    await b.shared.refresh()
    clock.advance(5.0)
    assert await held_probes([a, b], [fine, fine]) == ["ok", "ok"]
    assert (await client.hgetall(a.shared._keys[0]))[b"state"] == b"closed"
    for worker in (a, b):
        await worker.shared.refresh()
        assert worker.breaker.stats().state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("first", "second", "state"), [(fine, fine, b"closed"), (fine, failing, b"open")]
)
async def test_rate_mode_judges_the_probes_of_every_worker_together(
    client: Redis,
    first: Callable[[], Awaitable[str]],
    second: Callable[[], Awaitable[str]],
    state: bytes,
) -> None:
    """half_open_mode "rate": the failure rate over both workers' probes (1 of 2) decides."""
    clock = FakeClock()
    policy = ResiliencePolicy(
        failure_threshold=2,
        reset_timeout=5.0,
        half_open_max_calls=2,
        half_open_mode="rate",
        failure_rate=0.5,
        retry_attempts=1,
        max_concurrent=None,
        timeout=None,
    )
    a, b = workers(client, clock, 2, policy)
    await trip(a)
    await b.shared.refresh()
    clock.advance(5.0)
    await held_probes([a, b], [first, second])
    row = await client.hgetall(a.shared._keys[0])
    assert row[b"state"] == state
    assert row[b"gen"] == b"2"  # exactly one verdict, after both outcomes
    for worker in (a, b):
        await worker.shared.refresh()
        expected = CircuitState.CLOSED if state == b"closed" else CircuitState.OPEN
        assert worker.breaker.stats().state is expected


async def test_a_stale_trip_follows_the_newer_shared_state_instead_of_reopening(
    client: Redis,
) -> None:
    clock = FakeClock()
    shared_key = key()
    a = Worker(client, shared_key, clock, "host:0", POLICY)
    b = Worker(client, shared_key, clock, "host:1", POLICY, interval=100.0)
    await b.call(fine)  # b reads generation 0, then not again for 100 s
    await trip(a)
    clock.advance(5.0)
    assert await a.call(fine) == "ok"  # a's probe closes the circuit (generation 2)
    # b saw none of it and trips on failures judged on generation 0.
    await trip(b)
    row = await client.hgetall(a.shared._keys[0])
    assert row[b"state"] == b"closed"  # not re-opened by b's stale count
    assert b.breaker.state is CircuitState.CLOSED  # b follows the newer state instead
    await trip(b)  # a fresh count on the generation b now knows is published
    assert (await client.hgetall(a.shared._keys[0]))[b"tripped_by"] == b"host:1"


async def test_a_cancelled_probe_gives_its_cluster_slot_back(client: Redis) -> None:
    clock = FakeClock()
    policy = ResiliencePolicy(
        failure_threshold=2, reset_timeout=5.0, retry_attempts=1, max_concurrent=None, timeout=None
    )
    a, b = workers(client, clock, 2, policy)
    await trip(a)
    await b.shared.refresh()
    clock.advance(5.0)
    held = asyncio.ensure_future(a.call(asyncio.Event().wait))  # type: ignore[arg-type]
    for _ in range(500):
        if a.shared.probes_admitted:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(CircuitOpenError):
        await b.call(fine)  # the one slot is a's
    held.cancel()
    with pytest.raises(asyncio.CancelledError):
        await held
    await a.shared.drain()
    clock.advance(0.6)  # b's "all slots taken" memory lasts one interval
    assert await b.call(fine) == "ok"


async def test_the_health_row_names_the_shared_state_and_its_tripper(client: Redis) -> None:
    clock = FakeClock()
    a, b = workers(client, clock, 2)
    await trip(a)
    await b.registry.refresh_shared()
    (row,) = b.registry.snapshot()
    assert row.shared is not None
    assert row.shared.state == "open"
    assert row.shared.tripped_by == "host:0"
    assert row.stats.state is CircuitState.OPEN
    assert row.shared.describe().startswith("open by host:0")  # the audit report's cell


async def test_redis_away_leaves_the_local_breaker_deciding_and_comes_back(
    restartable_redis: RestartableRedis, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    made = fail_fast_client(restartable_redis.url, timeout=0.3)
    try:
        (a,) = workers(made, clock, 1)
        await a.call(fine)
        assert a.shared.is_shared()
        restartable_redis.stop()
        caplog.set_level(logging.WARNING)
        clock.advance(1.1)
        for _ in range(5):
            await a.call(fine)  # never a Redis error
        await trip(a)  # the local count still trips the local breaker
        assert a.breaker.state is CircuitState.OPEN
        assert not a.shared.is_shared()
        assert a.shared.status().describe() == "Redis away: local only"
        clock.advance(5.0)
        assert await a.call(fine) == "ok"  # a local probe (the local half-open limit)
        assert a.breaker.stats().state is CircuitState.CLOSED
        away = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(away) == 1
        restartable_redis.start()
        clock.advance(2.1)
        await a.call(fine)
        await a.shared.drain()
        assert a.shared.is_shared()
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
    finally:
        await made.aclose()
        await made.connection_pool.disconnect()


@settings(max_examples=15, deadline=None)
@given(
    max_calls=st.integers(min_value=1, max_value=4),
    attempts=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=4),
)
def test_probe_admission_never_exceeds_the_cap_whatever_the_workers_try(
    redis_url: str, max_calls: int, attempts: list[int]
) -> None:
    """However many would-be probes each worker makes at once, Redis admits min(total, cap)."""

    async def run() -> int:
        clock = FakeClock()
        made = fail_fast_client(redis_url, timeout=1.0)
        policy = ResiliencePolicy(
            failure_threshold=2,
            reset_timeout=5.0,
            half_open_max_calls=max_calls,
            retry_attempts=1,
            max_concurrent=None,
            timeout=None,
        )
        try:
            crew = workers(made, clock, len(attempts), policy)
            await trip(crew[0])
            for worker in crew:
                await worker.shared.refresh()
            clock.advance(5.0)
            gate = asyncio.Event()
            entered: list[int] = []

            async def probe() -> str:
                entered.append(1)
                await gate.wait()
                return "ok"

            calls = [
                asyncio.ensure_future(w.call(probe))
                for w, n in zip(crew, attempts, strict=True)
                for _ in range(n)
            ]
            await settled(calls, entered)
            admitted = sum(w.shared.probes_admitted for w in crew)
            assert admitted == len(entered)  # every admitted probe reached the vendor
            gate.set()
            await asyncio.gather(*calls, return_exceptions=True)
            return admitted
        finally:
            await made.aclose()
            await made.connection_pool.disconnect()

    total = sum(attempts)
    assert asyncio.run(run()) == min(total, max_calls)


async def test_pipelines_of_one_integration_share_one_state(client: Redis) -> None:
    """A second pipeline of the integration reuses the registered state: one listener, one read."""
    clock = FakeClock()
    (a,) = workers(client, clock, 1)
    other = SharedBreakerState("vendor", client=client, key=key(), clock=clock)
    again = build_pipeline("vendor", POLICY, registry=a.registry, shared_breaker=other)
    assert again.breaker is a.breaker
    assert again.shared is a.shared
