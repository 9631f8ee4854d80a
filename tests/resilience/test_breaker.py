"""The circuit breaker: tripping, rejecting, probing, cancellation and its counters."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import CircuitBreaker, CircuitState
from portico.domain.errors import (
    CircuitOpenError,
    InvalidRequest,
    NotFound,
    RateLimitExceeded,
    TimedOut,
    Unavailable,
)


async def ok() -> str:
    """A vendor call that succeeds."""
    return "ok"


async def down() -> str:
    """A vendor call that fails transiently."""
    raise Unavailable("503", integration="t")


async def refuses() -> str:
    """A vendor call that fails permanently."""
    raise InvalidRequest("400", integration="t")


def make(clock: FakeClock, **kwargs: object) -> CircuitBreaker:
    """A breaker on the fake clock (threshold 3, reset 10 s unless overridden)."""
    options: dict[str, object] = {"failure_threshold": 3, "reset_timeout": 10.0}
    options.update(kwargs)
    return CircuitBreaker("t", clock=clock, **options)  # type: ignore[arg-type]


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """The breaker's state, read afresh (``breaker.state`` keeps mypy's earlier narrowing)."""
    return breaker.state


async def trip(breaker: CircuitBreaker) -> None:
    """Fail until the breaker opens."""
    while breaker.state is CircuitState.CLOSED:
        with pytest.raises(Unavailable):
            await breaker.call(down)


class TestClosed:
    async def test_opens_after_threshold_consecutive_transient_failures(self) -> None:
        """Three consecutive transient failures open a threshold-3 breaker, not two."""
        breaker = make(FakeClock())
        for _ in range(2):
            with pytest.raises(Unavailable):
                await breaker.call(down)
        assert breaker.state is CircuitState.CLOSED
        with pytest.raises(Unavailable):
            await breaker.call(down)
        assert state_of(breaker) is CircuitState.OPEN

    async def test_a_success_resets_the_consecutive_count(self) -> None:
        """Failures separated by a success never reach the threshold."""
        breaker = make(FakeClock())
        for _ in range(5):
            for _ in range(2):
                with pytest.raises(Unavailable):
                    await breaker.call(down)
            assert await breaker.call(ok) == "ok"
        assert breaker.state is CircuitState.CLOSED

    async def test_permanent_errors_pass_through_without_tripping(self) -> None:
        """A 400 or a 404 propagates unchanged and never opens the breaker."""
        breaker = make(FakeClock(), failure_threshold=1)
        for _ in range(10):
            with pytest.raises(InvalidRequest):
                await breaker.call(refuses)
        assert breaker.state is CircuitState.CLOSED
        assert breaker.stats().failures == 0

    async def test_timeouts_count_as_failures(self) -> None:
        """A TimedOut (and a bare TimeoutError) count against the vendor."""
        breaker = make(FakeClock(), failure_threshold=2)

        async def slow() -> None:
            raise TimedOut("t/o", integration="t")

        async def bare() -> None:
            raise TimeoutError

        with pytest.raises(TimedOut):
            await breaker.call(slow)
        with pytest.raises(TimeoutError):
            await breaker.call(bare)
        assert breaker.state is CircuitState.OPEN

    async def test_local_rejections_and_bugs_count_as_nothing(self) -> None:
        """A local refusal or a non-vendor exception neither trips nor resets the count."""
        breaker = make(FakeClock(), failure_threshold=2)

        async def local() -> None:
            raise RateLimitExceeded("no token", integration="t")

        async def bug() -> None:
            raise KeyError("x")

        with pytest.raises(Unavailable):
            await breaker.call(down)
        with pytest.raises(RateLimitExceeded):
            await breaker.call(local)
        with pytest.raises(KeyError):
            await breaker.call(bug)
        assert breaker.stats().consecutive_failures == 1
        with pytest.raises(Unavailable):
            await breaker.call(down)
        assert breaker.state is CircuitState.OPEN

    async def test_custom_predicate_decides_what_counts(self) -> None:
        """With a predicate that counts NotFound, 404s trip the breaker."""
        breaker = make(
            FakeClock(), failure_threshold=1, is_failure=lambda e: isinstance(e, NotFound)
        )

        async def missing() -> None:
            raise NotFound("404", integration="t")

        with pytest.raises(NotFound):
            await breaker.call(missing)
        assert breaker.state is CircuitState.OPEN

    async def test_failure_rate_window_trips_without_consecutive_failures(self) -> None:
        """Alternating failures trip a 50% window once minimum_calls outcomes are in."""
        breaker = make(FakeClock(), failure_threshold=100, window_size=10, minimum_calls=6)
        outcomes = 0
        while breaker.state is CircuitState.CLOSED:
            outcomes += 1
            if outcomes % 2:
                with pytest.raises(Unavailable):
                    await breaker.call(down)
            else:
                await breaker.call(ok)
        # F S F S F S: the sixth outcome (a success) brings the window to 3/6 = 50%, which trips
        # it: the window is judged on every outcome, as Resilience4j does.
        assert outcomes == 6

    async def test_failure_rate_below_threshold_stays_closed(self) -> None:
        """One failure in four keeps a 50% window closed however long it runs."""
        breaker = make(FakeClock(), failure_threshold=100, window_size=8, minimum_calls=4)
        for _ in range(20):
            with pytest.raises(Unavailable):
                await breaker.call(down)
            for _ in range(3):
                await breaker.call(ok)
        assert breaker.state is CircuitState.CLOSED

    async def test_slow_calls_count_as_failures(self) -> None:
        """Successes slower than slow_call_duration open the breaker."""
        clock = FakeClock()
        breaker = make(clock, failure_threshold=2, slow_call_duration=1.0)

        async def sluggish() -> str:
            await clock.sleep(2.0)
            return "late"

        assert await breaker.call(sluggish) == "late"
        assert await breaker.call(sluggish) == "late"
        assert breaker.state is CircuitState.OPEN


class TestOpen:
    async def test_rejects_without_calling_and_says_when_to_retry(self) -> None:
        """An open breaker raises CircuitOpenError with retry_in and never calls the function."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        clock.advance(4.0)
        called = []

        async def spy() -> str:
            called.append(1)
            return "ok"

        with pytest.raises(CircuitOpenError) as info:
            await breaker.call(spy)
        assert called == []
        assert info.value.retry_in == pytest.approx(6.0)
        assert info.value.integration == "t"
        assert info.value.request_sent is False
        assert "next probe in 6.0s" in str(info.value)
        assert breaker.stats().rejections == 1

    async def test_each_rejection_is_a_fresh_error_without_history(self) -> None:
        """Rejections are distinct objects with no chained cause, and they pickle."""
        breaker = make(FakeClock())
        await trip(breaker)
        errors = []
        for _ in range(3):
            try:
                breaker.acquire()
            except CircuitOpenError as exc:
                errors.append(exc)
        assert len({id(e) for e in errors}) == 3
        assert all(e.__cause__ is None and e.__context__ is None for e in errors)
        copy = pickle.loads(pickle.dumps(errors[0]))  # noqa: S301 - our own bytes
        assert isinstance(copy, CircuitOpenError)
        assert copy.retry_in == errors[0].retry_in

    async def test_becomes_half_open_after_reset_timeout(self) -> None:
        """After reset_timeout the state reads HALF_OPEN and the next call is a probe."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        clock.advance(9.99)
        assert breaker.state is CircuitState.OPEN
        clock.advance(0.01)
        assert state_of(breaker) is CircuitState.HALF_OPEN


class TestHalfOpen:
    async def test_probe_success_closes(self) -> None:
        """One successful probe closes a success_threshold-1 breaker."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        clock.advance(10)
        assert await breaker.call(ok) == "ok"
        assert breaker.state is CircuitState.CLOSED

    async def test_success_threshold_needs_that_many_probes(self) -> None:
        """With success_threshold 3, the breaker closes on the third probe success."""
        clock = FakeClock()
        breaker = make(clock, success_threshold=3)
        await trip(breaker)
        clock.advance(10)
        for _ in range(2):
            await breaker.call(ok)
            assert breaker.state is CircuitState.HALF_OPEN
        await breaker.call(ok)
        assert breaker.state is CircuitState.CLOSED

    async def test_probe_failure_reopens_and_restarts_the_timeout(self) -> None:
        """A failed probe re-opens the breaker for a full reset_timeout from now."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        clock.advance(15)
        with pytest.raises(Unavailable):
            await breaker.call(down)
        assert breaker.state is CircuitState.OPEN
        assert breaker.open_for() == pytest.approx(10.0)

    async def test_permanent_error_probe_counts_as_the_vendor_answering(self) -> None:
        """A 400 from a probe proves the vendor is up: the breaker closes."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        clock.advance(10)
        with pytest.raises(InvalidRequest):
            await breaker.call(refuses)
        assert breaker.state is CircuitState.CLOSED

    async def test_500_concurrent_callers_admit_exactly_max_probes(self) -> None:
        """Of 500 concurrent calls into HALF_OPEN, exactly half_open_max_calls run."""
        clock = FakeClock()
        breaker = make(clock, half_open_max_calls=3, success_threshold=10)
        await trip(breaker)
        clock.advance(10)
        gate = asyncio.Event()
        running = 0

        async def probe() -> str:
            nonlocal running
            running += 1
            await gate.wait()
            return "ok"

        tasks = [asyncio.create_task(breaker.call(probe)) for _ in range(500)]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert running == 3
        assert breaker.probes_in_flight == 3
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert sum(r == "ok" for r in results) == 3
        assert sum(isinstance(r, CircuitOpenError) for r in results) == 497

    async def test_cancelled_probe_frees_its_slot_and_counts_nothing(self) -> None:
        """Cancelling the only probe leaves HALF_OPEN with a free slot and no new failure."""
        clock = FakeClock()
        breaker = make(clock)
        await trip(breaker)
        failures = breaker.stats().failures
        clock.advance(10)
        task = asyncio.create_task(breaker.call(asyncio.Event().wait))
        await asyncio.sleep(0)
        assert breaker.probes_in_flight == 1
        with pytest.raises(CircuitOpenError):
            await breaker.call(ok)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.probes_in_flight == 0
        assert breaker.state is CircuitState.HALF_OPEN
        assert breaker.stats().failures == failures
        assert await breaker.call(ok) == "ok"
        assert state_of(breaker) is CircuitState.CLOSED

    async def test_cancelled_call_in_closed_counts_nothing(self) -> None:
        """A cancelled call neither fails nor resets the consecutive count."""
        breaker = make(FakeClock(), failure_threshold=2)
        with pytest.raises(Unavailable):
            await breaker.call(down)
        task = asyncio.create_task(breaker.call(asyncio.Event().wait))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.stats().consecutive_failures == 1
        assert breaker.stats().failures == 1

    async def test_late_outcome_from_an_earlier_state_cannot_close_the_circuit(self) -> None:
        """A call admitted while CLOSED that succeeds during HALF_OPEN is not a probe."""
        clock = FakeClock()
        breaker = make(clock, failure_threshold=1)
        gate = asyncio.Event()

        async def slow_ok() -> str:
            await gate.wait()
            return "ok"

        straggler = asyncio.create_task(breaker.call(slow_ok))
        await asyncio.sleep(0)
        with pytest.raises(Unavailable):
            await breaker.call(down)
        clock.advance(10)
        assert breaker.state is CircuitState.HALF_OPEN
        gate.set()
        assert await straggler == "ok"
        assert breaker.state is CircuitState.HALF_OPEN
        assert breaker.probes_in_flight == 0


class TestObservability:
    async def test_listeners_see_every_transition_with_a_reason(self) -> None:
        """Listeners get (old, new, reason) for open, half-open and close."""
        clock = FakeClock()
        seen: list[tuple[CircuitState, CircuitState, str]] = []
        breaker = make(clock, listeners=[lambda old, new, why: seen.append((old, new, why))])
        await trip(breaker)
        clock.advance(10)
        await breaker.call(ok)
        assert [(o, n) for o, n, _ in seen] == [
            (CircuitState.CLOSED, CircuitState.OPEN),
            (CircuitState.OPEN, CircuitState.HALF_OPEN),
            (CircuitState.HALF_OPEN, CircuitState.CLOSED),
        ]
        assert "3 consecutive failures" in seen[0][2]

    async def test_a_failing_listener_does_not_break_the_breaker(self) -> None:
        """A listener that raises is logged and the transition still happens."""

        def broken(*_: object) -> None:
            raise RuntimeError("listener bug")

        breaker = make(FakeClock(), failure_threshold=1, listeners=[broken])
        with pytest.raises(Unavailable):
            await breaker.call(down)
        assert breaker.state is CircuitState.OPEN

    async def test_counters_track_calls_failures_and_times(self) -> None:
        """stats() reports calls, successes, failures, rejections and last times."""
        clock = FakeClock(monotonic=100.0)
        breaker = make(clock, failure_threshold=2)
        await breaker.call(ok)
        clock.advance(5)
        await trip(breaker)
        with pytest.raises(CircuitOpenError):
            await breaker.call(ok)
        stats = breaker.stats()
        assert (stats.calls, stats.successes, stats.failures, stats.rejections) == (3, 1, 2, 1)
        assert stats.last_success == 100.0
        assert stats.last_failure == 105.0
        assert stats.state is CircuitState.OPEN
        assert stats.retry_in == pytest.approx(10.0)

    def test_bad_settings_are_refused_naming_the_field(self) -> None:
        """A zero threshold or an out-of-range rate raises ValueError naming the setting."""
        with pytest.raises(ValueError, match="failure_threshold"):
            CircuitBreaker("t", failure_threshold=0)
        with pytest.raises(ValueError, match="failure_rate"):
            CircuitBreaker("t", failure_rate=1.5)
