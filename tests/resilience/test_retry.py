"""Retry: backoff bounds, deadline, Retry-After, and never resending what may have been applied."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import RetryPolicy
from portico.domain.errors import (
    CircuitOpenError,
    InvalidRequest,
    NetworkError,
    OutcomeUnknown,
    RateLimited,
    RetryExhaustedError,
    TimedOut,
    TransientError,
    Unavailable,
)


class Flaky:
    """Fails with the queued errors, then succeeds; counts attempts."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def policy(clock: FakeClock, seed: int = 0, **kwargs: object) -> RetryPolicy:
    """A policy on the fake clock with seeded jitter."""
    rng = random.Random(seed)
    return RetryPolicy(clock=clock, uniform=rng.uniform, **kwargs)  # type: ignore[arg-type]


def unavailable() -> Unavailable:
    """A 503 returned before processing (safe to resend)."""
    return Unavailable("503", integration="t", request_sent=False)


@given(
    attempts=st.integers(1, 12),
    base=st.floats(0.0, 5.0),
    cap=st.floats(0.0, 60.0),
    multiplier=st.floats(1.0, 4.0),
    seed=st.integers(0, 2**16),
)
async def test_every_backoff_delay_is_within_zero_and_cap(
    attempts: int, base: float, cap: float, multiplier: float, seed: int
) -> None:
    """Each backoff delay lies in [0, min(cap, base * multiplier**n)]."""
    clock = FakeClock()
    retry = policy(
        clock, seed, attempts=attempts, base_delay=base, max_delay=cap, multiplier=multiplier
    )
    flaky = Flaky(*(unavailable() for _ in range(attempts)))
    with pytest.raises(RetryExhaustedError) as info:
        await retry.call(flaky, idempotent=True)
    assert flaky.attempts == attempts
    assert info.value.attempts == attempts
    assert len(clock.sleeps) == attempts - 1
    for n, delay in enumerate(clock.sleeps, start=1):
        assert 0.0 <= delay <= min(cap, base * multiplier ** (n - 1)) + 1e-9


@given(
    deadline=st.floats(0.5, 100.0),
    failures=st.integers(1, 30),
    retry_after=st.one_of(st.none(), st.floats(0.0, 40.0)),
    seed=st.integers(0, 2**16),
)
async def test_total_wait_stays_within_the_deadline(
    deadline: float, failures: int, retry_after: float | None, seed: int
) -> None:
    """However many failures, the sum of waits never exceeds the deadline."""
    clock = FakeClock()
    retry = policy(clock, seed, attempts=50, deadline=deadline)

    def error() -> TransientError:
        if retry_after is None:
            return unavailable()
        return RateLimited("429", integration="t", retry_after=retry_after)

    flaky = Flaky(*(error() for _ in range(failures)))
    with contextlib.suppress(RetryExhaustedError):
        assert await retry.call(flaky, idempotent=True) == "done"
    assert sum(clock.sleeps) <= deadline + 1e-9


@given(retry_after=st.floats(0.0, 120.0), seed=st.integers(0, 2**16))
async def test_retry_after_is_honoured_even_above_the_cap(retry_after: float, seed: int) -> None:
    """A 429's retry_after is the exact wait, whatever the backoff cap says."""
    clock = FakeClock()
    retry = policy(clock, seed, max_delay=1.0, deadline=None)
    flaky = Flaky(RateLimited("429", integration="t", retry_after=retry_after))
    assert await retry.call(flaky, idempotent=False) == "done"
    assert clock.sleeps == [retry_after]


async def test_retry_after_beyond_the_deadline_gives_up_at_once() -> None:
    """A Retry-After longer than the time left ends the operation without sleeping."""
    clock = FakeClock()
    retry = policy(clock, deadline=10.0)
    flaky = Flaky(RateLimited("429", integration="t", retry_after=30.0))
    with pytest.raises(RetryExhaustedError) as info:
        await retry.call(flaky, idempotent=True)
    assert clock.sleeps == []
    assert isinstance(info.value.last_error, RateLimited)


@given(
    error=st.sampled_from(
        [
            InvalidRequest("400", integration="t"),
            CircuitOpenError("t", retry_in=3.0),
            KeyError("bug"),
        ]
    ),
    idempotent=st.booleans(),
)
async def test_never_retries_permanent_errors_or_local_rejections(
    error: BaseException, idempotent: bool
) -> None:
    """Permanent errors, open circuits and bugs propagate unchanged after one attempt."""
    clock = FakeClock()
    flaky = Flaky(error)
    with pytest.raises(type(error)) as info:
        await policy(clock).call(flaky, idempotent=idempotent)
    assert info.value is error
    assert flaky.attempts == 1
    assert clock.sleeps == []


async def test_transient_failures_are_retried_to_success() -> None:
    """Two 503s then a success return the result after two waits."""
    clock = FakeClock()
    flaky = Flaky(unavailable(), unavailable())
    assert await policy(clock).call(flaky, idempotent=True) == "done"
    assert flaky.attempts == 3
    assert len(clock.sleeps) == 2


async def test_exhaustion_carries_and_chains_the_last_error() -> None:
    """RetryExhaustedError keeps the final attempt's error as last_error and __cause__."""
    last = Unavailable("still 503", integration="t", status_code=503)
    flaky = Flaky(unavailable(), unavailable(), last)
    with pytest.raises(RetryExhaustedError) as info:
        await policy(FakeClock()).call(flaky, idempotent=True)
    assert info.value.last_error is last
    assert info.value.__cause__ is last
    assert info.value.status_code == 503
    assert info.value.integration == "t"


async def test_non_idempotent_call_is_not_resent_after_the_request_went_out() -> None:
    """A timeout on a send surfaces OutcomeUnknown, chained, after exactly one attempt."""
    timeout = TimedOut("no answer", integration="t", request_sent=True)
    flaky = Flaky(timeout)
    with pytest.raises(OutcomeUnknown) as info:
        await policy(FakeClock()).call(flaky, idempotent=False)
    assert flaky.attempts == 1
    assert info.value.__cause__ is timeout
    assert info.value.integration == "t"


async def test_non_idempotent_call_is_retried_when_the_request_never_left() -> None:
    """A connection refused (request_sent False) is safe to resend, even for a send."""
    flaky = Flaky(NetworkError("refused", integration="t", request_sent=False))
    assert await policy(FakeClock()).call(flaky, idempotent=False) == "done"
    assert flaky.attempts == 2


async def test_idempotent_call_is_retried_even_when_the_request_went_out() -> None:
    """A read that timed out is simply retried."""
    flaky = Flaky(TimedOut("no answer", integration="t"))
    assert await policy(FakeClock()).call(flaky, idempotent=True) == "done"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        pytest.param("attempts", {"attempts": 0}, id="attempts"),
        pytest.param("multiplier", {"multiplier": 0.5}, id="multiplier"),
        pytest.param("deadline", {"deadline": 0}, id="deadline"),
    ],
)
def test_bad_settings_name_the_field(field: str, kwargs: dict[str, float]) -> None:
    """Out-of-range settings raise ValueError naming the setting."""
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
