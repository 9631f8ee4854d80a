"""
Resilience4j parity (issue 12) and the burst (issue 13), each ported from or checked against
resilience4j/resilience4j
resilience4j-circuitbreaker/src/test/java/io/github/resilience4j/circuitbreaker/internal/CircuitBreakerStateMachineTest.java.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import (
    BreakerControl,
    BreakerRegistry,
    CircuitBreaker,
    CircuitState,
    ResiliencePolicy,
    RetryEvent,
    RetryPolicy,
    build_pipeline,
)
from portico.adapters.stores.breaker_control import (
    MemoryBreakerControlStore,
    SQLiteBreakerControlStore,
)
from portico.domain.errors import CircuitOpenError, RetryExhaustedError, Unavailable


async def ok() -> str:
    """A vendor call that succeeds."""
    return "ok"


async def down() -> str:
    """A vendor call that fails transiently."""
    raise Unavailable("503", integration="t")


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """The state read afresh (``breaker.state`` keeps mypy's earlier narrowing)."""
    return breaker.state


async def run(breaker: CircuitBreaker, pattern: str) -> None:
    """Run one call per letter: F fails, S succeeds."""
    for letter in pattern:
        if letter == "F":
            with pytest.raises(Unavailable):
                await breaker.call(down)
        else:
            await breaker.call(ok)


class TestWindow:
    async def test_fffss_opens_on_the_fifth_call(self) -> None:
        """shouldOpenAfterFailureRateThresholdExceeded: F,F,F,S,S opens on the 5th (60% >= 50%)."""
        breaker = CircuitBreaker(
            "t", failure_threshold=100, window_size=5, minimum_calls=5, clock=FakeClock()
        )
        await run(breaker, "FFFS")
        assert state_of(breaker) is CircuitState.CLOSED
        await run(breaker, "S")
        assert state_of(breaker) is CircuitState.OPEN

    async def test_minimum_above_the_window_is_capped(self) -> None:
        """window_size=5 and the default minimum 10 still judge the rate (capped: Resilience4j)."""
        breaker = CircuitBreaker("t", failure_threshold=100, window_size=5, clock=FakeClock())
        assert breaker.minimum_calls == 5
        await run(breaker, "FSFSF")
        assert state_of(breaker) is CircuitState.OPEN

    async def test_time_window_forgets_old_outcomes(self) -> None:
        """A 10-second window: failures older than the window no longer count."""
        clock = FakeClock()
        breaker = CircuitBreaker(
            "t",
            failure_threshold=100,
            window_size=10,
            window_type="time",
            minimum_calls=4,
            clock=clock,
        )
        await run(breaker, "FFF")
        clock.advance(11)
        await run(breaker, "S")  # with the old failures kept, 3/4 would trip here
        assert state_of(breaker) is CircuitState.CLOSED
        await run(breaker, "FFF")
        assert state_of(breaker) is CircuitState.OPEN

    async def test_slow_call_rate_opens_separately(self) -> None:
        """shouldOpenAfterSlowCallRateThresholdExceeded: 3 slow calls of 5 open at 50%."""
        clock = FakeClock()
        breaker = CircuitBreaker(
            "t",
            failure_threshold=100,
            window_size=5,
            minimum_calls=5,
            slow_call_duration=4.0,
            slow_call_rate=0.5,
            clock=clock,
        )
        for slow in (True, True, False, False, True):
            permit = breaker.acquire()
            breaker.on_success(permit, 5.0 if slow else 0.1)
        assert state_of(breaker) is CircuitState.OPEN
        assert breaker.stats().failures == 0


def _rate_mode_breaker(clock: FakeClock) -> CircuitBreaker:
    """One failure trips it; half-open admits 4 probes and judges their failure rate."""
    return CircuitBreaker(
        "t",
        failure_threshold=1,
        reset_timeout=5,
        half_open_max_calls=4,
        half_open_mode="rate",
        clock=clock,
    )


class TestHalfOpen:
    async def test_rate_mode_judges_all_permitted_calls(self) -> None:
        """shouldTransitionBackToOpenStateWhenFailureRateIsAboveThreshold: F,F,S,F of 4 re-opens."""
        clock = FakeClock()
        breaker = _rate_mode_breaker(clock)
        await run(breaker, "F")
        clock.advance(5)
        await run(breaker, "F")
        assert state_of(breaker) is CircuitState.HALF_OPEN  # one failing probe is not the verdict
        await run(breaker, "FSF")
        assert state_of(breaker) is CircuitState.OPEN

    async def test_rate_mode_closes_below_the_rate_and_admits_exactly_n(self) -> None:
        """shouldOnlyPermitFourCallsInHalfOpenState, then F,S,S,S closes (25% < 50%)."""
        clock = FakeClock()
        breaker = _rate_mode_breaker(clock)
        await run(breaker, "F")
        clock.advance(5)
        permits = [breaker.acquire() for _ in range(4)]
        with pytest.raises(CircuitOpenError):
            breaker.acquire()
        breaker.release(permits[0])  # cancelled: its slot is given back
        permits[0] = breaker.acquire()
        breaker.on_error(permits[0], Unavailable("503", integration="t"))
        for permit in permits[1:]:
            breaker.on_success(permit)
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_open_wait_grows_with_repeated_trips_up_to_a_cap(self) -> None:
        """shouldTransitionToHalfOpenAfterWaitInterval: 5 s, then 10 s, capped at 15 s."""
        clock = FakeClock()
        breaker = CircuitBreaker(
            "t",
            failure_threshold=1,
            reset_timeout=5,
            reset_multiplier=2,
            reset_timeout_max=15,
            clock=clock,
        )
        waits = []
        for _ in range(4):
            await run(breaker, "F")
            waits.append(breaker.open_for())
            clock.advance(waits[-1])
        assert waits == [5, 10, 15, 15]
        await run(breaker, "S")
        await run(breaker, "F")
        assert breaker.open_for() == 5  # a close starts over


class TestManual:
    async def test_forced_open_rejects_and_expires(self) -> None:
        """shouldForceOpenCircuitBreaker: no half-open after the wait; ends after its time."""
        clock = FakeClock()
        breaker = CircuitBreaker("t", reset_timeout=5, clock=clock)
        breaker.force_open(60)
        clock.advance(6)
        with pytest.raises(CircuitOpenError):
            await breaker.call(ok)
        assert state_of(breaker) is CircuitState.FORCED_OPEN
        clock.advance(60)
        assert await breaker.call(ok) == "ok"
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_forced_closed_counts_disabled_does_not_judge(self) -> None:
        """shouldForceCloseCircuitBreaker / shouldDisableCircuitBreaker: neither ever trips."""
        for force in (CircuitBreaker.force_closed, CircuitBreaker.disable):
            breaker = CircuitBreaker("t", failure_threshold=1, clock=FakeClock())
            force(breaker, None)
            await run(breaker, "FFF")
            assert breaker.state in (CircuitState.FORCED_CLOSED, CircuitState.DISABLED)
        breaker.reset()
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_control_applies_store_overrides_on_its_interval(self) -> None:
        """A store override reaches the pipeline within one interval, and a reset clears it."""
        clock = FakeClock()
        store = MemoryBreakerControlStore(clock=clock)
        registry = BreakerRegistry()
        control = BreakerControl(store, registry, interval=1.0, clock=clock)
        pipeline = build_pipeline("t", registry=registry, control=control, clock=clock)
        assert await pipeline.call("op", ok, idempotent=True) == "ok"
        store.set("t", "open", clock.now().timestamp() + 600)
        assert await pipeline.call("op", ok, idempotent=True) == "ok"  # cached for 1 s
        clock.advance(1.0)
        with pytest.raises(CircuitOpenError):
            await pipeline.call("op", ok, idempotent=True)
        store.reset("t")
        clock.advance(1.0)
        assert await pipeline.call("op", ok, idempotent=True) == "ok"

    def test_sqlite_store_is_shared_through_its_file(self, tmp_path: object) -> None:
        """A writer and a separate reader of one file see the same override."""
        path = f"{tmp_path}/breakers.sqlite3"
        reader = SQLiteBreakerControlStore(path)
        assert reader.read() == {}
        SQLiteBreakerControlStore(path).set("stripe", "open", None)
        assert reader.read()["stripe"].mode == "open"
        SQLiteBreakerControlStore(path).reset("stripe")
        row = reader.read()["stripe"]
        assert (row.mode, row.resets) == (None, 1)


class TestRetry:
    def test_backoff_does_not_overflow(self) -> None:
        """Attempt 10_000 gets the cap, not an OverflowError."""
        policy = RetryPolicy(base_delay=1.0, max_delay=30.0, uniform=lambda _a, b: b)
        assert policy.backoff(10_000) == 30.0

    async def test_retry_on_result_and_hook(self) -> None:
        """A refused result is retried; on_retry sees attempt, delay and result."""
        clock = FakeClock()
        answers = iter(["pending", "pending", "done"])
        events: list[RetryEvent] = []

        async def read() -> str:
            return next(answers)

        policy = ResiliencePolicy(
            retry_on_result=lambda result: result == "pending", on_retry=events.append
        )
        pipeline = build_pipeline("t", policy, clock=clock)
        assert await pipeline.call("get", read, idempotent=True) == "done"
        assert [(e.attempt, e.result) for e in events] == [(1, "pending"), (2, "pending")]
        assert all(e.delay >= 0 and e.integration == "t" for e in events)

    async def test_hook_sees_errors(self) -> None:
        """on_retry receives the transient error of the failed attempt."""
        events: list[RetryEvent] = []
        pipeline = build_pipeline("t", ResiliencePolicy(on_retry=events.append), clock=FakeClock())
        with pytest.raises(RetryExhaustedError):
            await pipeline.call("get", down, idempotent=True)
        assert [type(e.error) for e in events] == [Unavailable, Unavailable]


async def test_burst_against_a_503_vendor_stays_bounded() -> None:
    """Issue 13: a 200-way burst sends at most threshold + the bulkhead's in-flight calls."""
    policy = ResiliencePolicy(
        failure_threshold=5,
        max_concurrent=20,
        bulkhead_max_wait=5.0,
        retry_base_delay=0.01,
        retry_max_delay=0.01,
    )
    pipeline = build_pipeline("vendor", policy)
    with respx.mock(assert_all_called=False) as router:

        async def slow_503(_request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0.02)
            return httpx.Response(503)

        route = router.post("https://vendor.test/send").mock(side_effect=slow_503)
        async with httpx.AsyncClient() as client:

            async def send() -> None:
                response = await client.post("https://vendor.test/send")
                if response.status_code == 503:
                    raise Unavailable("503", integration="vendor", request_sent=False)

            await asyncio.gather(
                *(pipeline.call("send", send, idempotent=True) for _ in range(200)),
                return_exceptions=True,
            )
    print(f"burst: {route.call_count} requests reached the wire")  # noqa: T201
    assert route.call_count <= 5 + 20
