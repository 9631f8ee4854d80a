"""The token bucket: never over-admits, waits within its bound, refuses beyond it."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.adapters.fakes import FakeClock
from portico.adapters.resilience import RateLimiter
from portico.app.wiring.registry import BUILTIN_VENDORS
from portico.domain.errors import RateLimitExceeded


def limiter(clock: FakeClock, **kwargs: float) -> RateLimiter:
    """A limiter on the fake clock."""
    return RateLimiter("t", clock=clock, **kwargs)  # type: ignore[arg-type]


def max_in_window(times: list[float], window: float) -> int:
    """The most admissions in any closed window of length ``window``."""
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] < t - window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


@given(
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 20),
    max_wait=st.floats(0.0, 3.0),
    arrivals=st.lists(st.tuples(st.floats(0.0, 5.0), st.integers(1, 30)), min_size=1, max_size=40),
    window=st.floats(0.0, 10.0),
)
async def test_never_more_than_burst_plus_rate_times_t(
    rate: float, burst: int, max_wait: float, arrivals: list[tuple[float, int]], window: float
) -> None:
    """In any window of length t, admissions <= burst + rate * t (crowds after idle included)."""
    clock = FakeClock()
    bucket = limiter(clock, rate=rate, burst=burst, max_wait=max_wait)
    admitted: list[float] = []
    for gap, crowd in arrivals:
        clock.advance(gap)
        for _ in range(crowd):
            try:
                await bucket.call(asyncio.sleep, 0)
            except RateLimitExceeded:
                continue
            admitted.append(clock.monotonic())
    for t in (0.0, 0.5, 1.0, window):
        assert max_in_window(admitted, t) <= burst + rate * t + 1e-6


@given(rate=st.floats(1.0, 20.0), burst=st.integers(1, 10), callers=st.integers(1, 60))
async def test_concurrent_waiters_never_over_admit(rate: float, burst: int, callers: int) -> None:
    """Many callers at once are admitted at most burst now and rate per second after."""
    clock = FakeClock()
    bucket = RateLimiter("t", rate=rate, burst=burst, max_wait=1e9, clock=clock)
    admitted: list[float] = []

    async def caller() -> None:
        await bucket.acquire()
        admitted.append(clock.monotonic())

    # FakeClock.sleep advances shared time, so run callers one after another, as arrivals.
    for _ in range(callers):
        await caller()
    for window in (0.0, 0.5, 1.0, 3.0):
        assert max_in_window(sorted(admitted), window) <= burst + rate * window + 1e-6


async def test_waits_for_a_token_within_max_wait() -> None:
    """With the bucket empty, a caller sleeps exactly until the next token."""
    clock = FakeClock()
    bucket = limiter(clock, rate=2.0, burst=1, max_wait=1.0)
    await bucket.acquire()
    await bucket.acquire()
    assert clock.sleeps == [pytest.approx(0.5)]


async def test_refuses_when_the_token_is_further_than_max_wait() -> None:
    """A token 10 s away with max_wait 1 s raises RateLimitExceeded at once, reserving nothing."""
    clock = FakeClock()
    bucket = limiter(clock, rate=0.1, burst=1, max_wait=1.0)
    await bucket.acquire()
    with pytest.raises(RateLimitExceeded) as info:
        await bucket.acquire()
    assert info.value.integration == "t"
    assert info.value.request_sent is False
    assert clock.sleeps == []
    clock.advance(10.0)
    assert bucket.try_acquire()


def test_vendor_limits_never_exceed_the_published_numbers() -> None:
    """Each vendor's default bucket keeps burst + rate * window under its published limit."""
    VENDOR_LIMITS = {spec.name: spec.policy for spec in BUILTIN_VENDORS}  # noqa: N806
    hubspot = VENDOR_LIMITS["hubspot"]
    assert hubspot.rate is not None
    assert hubspot.burst + hubspot.rate * 10 <= 100
    for name in ("stripe", "twilio"):
        limit = VENDOR_LIMITS[name]
        assert limit.rate is not None
        assert limit.burst + limit.rate * 1 <= 100
    for name in ("whatsapp", "360dialog"):
        whatsapp = VENDOR_LIMITS[name]
        assert whatsapp.rate is not None
        assert whatsapp.burst + whatsapp.rate <= 80


def test_bad_settings_name_the_field() -> None:
    """A zero rate or burst raises ValueError naming the setting."""
    with pytest.raises(ValueError, match="rate"):
        RateLimiter("t", rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimiter("t", rate=1, burst=0)
